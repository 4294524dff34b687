"""The thread that looks after a running job every half second: writes its pending log
records, samples its memory, and turns a cancel asked for in the store (`trainwright jobs
cancel`, from any process) into the run's cancel event, which stops it at its next step."""

from __future__ import annotations

import threading
from typing import Any

from engine.jobs.recorder import JobRecorder
from engine.jobs.resources import ResourceMeter

WATCH_INTERVAL_S = 0.5


class Watcher:
    def __init__(
        self,
        store: Any,
        job_id: int,
        recorder: JobRecorder,
        meter: ResourceMeter,
        cancel_event: threading.Event,
        interval: float = WATCH_INTERVAL_S,
    ) -> None:
        self.store, self.job_id = store, job_id
        self.recorder, self.meter, self.cancel_event = recorder, meter, cancel_event
        self.interval = interval
        self.store_error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"job-{job_id}-watcher", daemon=True)

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the thread, then take a last sample and write what is pending."""
        self._stop.set()
        self._thread.join()
        self.meter.sample()
        self.recorder.flush()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.tick()

    def tick(self) -> None:
        self.meter.sample()
        self.recorder.flush()
        if self.store is None or self.cancel_event.is_set():
            return
        try:
            asked = self.store.cancel_requested(self.job_id)
        except Exception as exc:  # a store problem must never stop a run
            if self.store_error is None:
                self.store_error = f"job store unreadable: {type(exc).__name__}: {exc}"
            return
        if asked:
            self.recorder.record("WARNING", "cancel requested: stopping at the next step")
            self.cancel_event.set()
