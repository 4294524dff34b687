"""The tensorflow backend's Trainer: the torch Trainer's checks, lock and turn, with the run
itself in a spawned process (keras_run.py) whose events reach the callbacks here.

Train, resume and replay go through the same `train()`/`resume()` as torch (they check the
request, take the variant's lock and write config.json and metadata.json before anything
runs); `_run` then starts the process, passes a Stop on to it, hands its rows, epochs,
checkpoints and warnings to the callbacks (the window's plots, a sweep's pruning), and reads
back the session. Step hooks (`on_before_step`, `on_after_step`) are not called: a step in
another process cannot wait for them. What the backend does not do is refused before
anything is written, naming the parameter.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import time
from typing import Any

from engine.backends import TENSORFLOW_FAMILIES, require_tensorflow, tensorflow_family_only
from engine.backends import keras_files as files
from engine.errors import CheckpointError, ParameterError
from engine.metadata import VariantMetadata, environment, now
from engine.training.lock import VariantLock
from engine.training.session import EpochMetrics, TrainingSession
from engine.training.trainer import Trainer
from engine.training.turns import end_turn, take_turn

POLL_S = 0.1  # how often the wait for the process looks at the cancel event
TORCH_ONLY = {  # training parameter -> the value the tensorflow backend needs
    "grokfast": "off",
    "init_from": "",
    "freeze": "none",
    "retries": 0,
    "scheduler": "constant",
    "warmup_steps": 0,
    "device": "cpu",
}


class KerasTrainer(Trainer):
    """Trains a variant whose config says `backend: tensorflow`."""

    def _check_model(self) -> None:
        """Refuse, before any write, what the tensorflow backend cannot train."""
        require_tensorflow()
        family = self.variant.family
        if family not in TENSORFLOW_FAMILIES:
            raise ParameterError(
                "backend", f"{tensorflow_family_only(family)} (it trains with torch)"
            )
        cfg = self.cfg
        for name, needed in TORCH_ONLY.items():
            value = getattr(cfg, name)
            if value != needed:
                raise ParameterError(
                    name,
                    f"{value!r} trains with the torch backend only; with backend tensorflow "
                    f"it must be {needed!r}",
                )
        allowed = {"auto", "mse"} if self._regression() else {"auto", "cross_entropy"}
        if cfg.loss not in allowed:
            raise ParameterError(
                "loss",
                f"{cfg.loss!r} trains with the torch backend only; with backend tensorflow: "
                f"{', '.join(sorted(allowed))}",
            )

    def _regression(self) -> bool:
        return self.family.task_type(dict(self.variant.config.domain)) == "regression"

    def _nothing_to_restore(self, meta: VariantMetadata) -> bool:
        v = self.variant
        if meta.steps == 0 and not files.full_checkpoints(v.checkpoints_dir):
            return True
        path, _arrays, _meta, skipped = files.latest_valid_full(
            v.checkpoints_dir, v.config.config_hash
        )
        if path is None:
            why = "; ".join(skipped) or "there is none"
            raise CheckpointError(f"{v.name} has no full checkpoint that verifies: {why}")
        return False

    def _run(
        self,
        meta: VariantMetadata,
        *,
        resume: bool,
        threads: int,
        lock: VariantLock | None = None,
    ) -> TrainingSession:
        v, cfg = self.variant, self.cfg
        session = TrainingSession(
            family=v.family, variant=v.name, path=str(v.dir), status="failed",
            total_epochs=cfg.epochs,
        )  # fmt: skip
        if lock is None:
            lock = VariantLock(v.lock_path)
            lock.acquire()
        if not take_turn(self.cancel_event):  # runs in one process take turns
            lock.release()
            session.status = meta.status = "cancelled"
            meta.save(v.metadata_path)
            self.callbacks.on_train_end(session)
            return session
        started = time.perf_counter()
        try:
            meta.status, meta.error_message = "training", None
            if not meta.versions:
                meta.versions, meta.platform = environment(threads, cfg.device)
            meta.started_at = meta.started_at or now()
            meta.platform["torch_threads"] = threads
            meta.extra.update(self.metadata_extra)
            self._describe_data(meta)
            meta.save(v.metadata_path)
            end = self._spawn(resume, threads, session)
            session = session.model_copy(update={**end, "metrics": session.metrics})
        except Exception as exc:
            session.status, session.error_message = "failed", f"{type(exc).__name__}: {exc}"
            self._record_failure(session)
        finally:
            session.duration_s = time.perf_counter() - started
            end_turn()
            lock.release()
        self.callbacks.on_train_end(session)
        return session

    def _spawn(self, resume: bool, threads: int, session: TrainingSession) -> dict[str, Any]:
        """Run keras_run.main in a spawned process; its events to the callbacks, a Stop to
        it; the fields of its session."""
        from engine.backends import keras_run

        context = multiprocessing.get_context("spawn")
        events, stop = context.Queue(), context.Event()
        job = {
            "home": str(self.variant.home),
            "variant": self.variant.name,
            "family": self.variant.family,
            "threads": threads,
            "resume": resume,
            "timeout": self.timeout,
            "parent": os.getpid(),
        }
        process = context.Process(
            target=keras_run.main, args=(job, events, stop), name="trainwright-keras", daemon=True
        )
        process.start()
        end: dict[str, Any] | None = None
        try:
            while end is None:
                if self.cancel_event.is_set():
                    stop.set()
                try:
                    kind, payload = events.get(timeout=POLL_S)
                except queue.Empty:
                    if not process.is_alive():
                        break
                    continue
                if kind == "end":
                    end = payload
                else:
                    self._relay(kind, payload, session)
        finally:
            if end is None and process.is_alive():  # this thread is unwinding: end it too
                stop.set()
            process.join()
        if end is None:
            raise RuntimeError(
                f"the tensorflow process ended without a result (exit code {process.exitcode})"
            )
        end["metrics"] = [EpochMetrics(**m) for m in end["metrics"]]
        session.metrics = end.pop("metrics")
        return end

    def _relay(self, kind: str, payload: Any, session: TrainingSession) -> None:
        callbacks = self.callbacks
        if kind == "start":
            session.metrics = [EpochMetrics(**m) for m in payload.get("metrics", [])]
            callbacks.on_train_start({**payload, "metrics": list(session.metrics)})
        elif kind == "log":
            callbacks.on_log(payload)
        elif kind == "epoch":
            metrics = EpochMetrics(**payload)
            session.metrics.append(metrics)
            session.epochs_completed, session.steps = metrics.epoch, metrics.step
            callbacks.on_epoch_end(metrics)
        elif kind == "checkpoint":
            callbacks.on_checkpoint(payload)
        elif kind == "warning":
            session.warnings.append(payload)
            callbacks.on_warning(payload)

    def _record_failure(self, session: TrainingSession) -> None:
        """A run that ended without the process's own record (it could not start, or was
        killed): metadata.json says failed, with why."""
        try:
            meta = VariantMetadata.load(self.variant.metadata_path)
            meta.status, meta.error_message = "failed", session.error_message
            meta.save(self.variant.metadata_path)
        except (OSError, ValueError):
            pass
