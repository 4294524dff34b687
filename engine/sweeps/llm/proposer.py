"""An LLM search's trials: ask the endpoint for the next one, check it, log the exchange.

Every prompt, answer, API failure and checked proposal is appended to the sweep's
`llm_log.jsonl` (one JSON object per line; the window's proposal list reads it) and logged on
the "engine.sweeps.llm" logger, so a job's log holds the whole conversation. An answer that
cannot be a trial is sent back once with what was wrong; a second bad answer makes the trial
a failed row (the search goes on). An endpoint that stays unusable after its retries raises
LlmError: the sweep stops there and resumes, from the same trials, when asked again.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from engine.metadata import now
from engine.sweeps import store
from engine.sweeps.llm.client import ChatClient
from engine.sweeps.llm.prompt import build_messages, dataset_facts
from engine.sweeps.llm.proposal import InvalidProposal, Proposal, answer_schema, read_proposal
from engine.sweeps.schema import sweep_schema
from engine.sweeps.store import SweepRecord

LOG_FILE = "llm_log.jsonl"
RETRY_TEMPERATURE = 0.8  # when an answer is sent back (see `propose`)
logger = logging.getLogger("engine.sweeps.llm")


class LoggedProposal(BaseModel):
    """A trial's proposal as the log keeps it (what the window lists)."""

    model_config = ConfigDict(frozen=True)

    trial: int  # 0-based, the sweep's combination index
    parameters: dict[str, Any]
    reason: str = ""
    adjustments: list[str] = []
    asked: int = 1  # answers it took (2: the first was sent back)
    at: str = ""


def log_path(home: Path, sweep_id: str) -> Path:
    return store.sweep_dir(home, sweep_id) / LOG_FILE


def read_log(home: Path, sweep_id: str) -> list[dict[str, Any]]:
    """Every entry of the sweep's LLM log, oldest first (a torn last line is skipped)."""
    path = log_path(home, sweep_id)
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def logged_proposals(home: Path, sweep_id: str) -> dict[int, LoggedProposal]:
    """Each trial's accepted proposal (the last, for a trial asked again after a restart)."""
    out: dict[int, LoggedProposal] = {}
    for entry in read_log(home, sweep_id):
        if entry.get("event") == "proposal":
            try:
                proposal = LoggedProposal.model_validate(
                    {k: v for k, v in entry.items() if k in LoggedProposal.model_fields}
                )
            except ValueError:
                continue
            out[proposal.trial] = proposal
    return out


class LlmProposer:
    """Proposes the trials of one LLM search (its endpoint is the one the sweep records)."""

    def __init__(self, home: Path, record: SweepRecord, registry: Any, cancel: Any = None) -> None:
        assert record.spec.llm is not None
        self.home, self.record = Path(home), record
        self.family = registry.spec(record.spec.family)
        self.schema = sweep_schema(self.family)
        self.answer_schema = answer_schema(record.spec, self.schema)
        self._trial = -1
        self.client = ChatClient(
            record.spec.llm, log=self._client_event, cancel=cancel or threading.Event()
        )
        self._data: str | None = None

    def propose(self, trial: int) -> Proposal:
        """Trial `trial`'s checked proposal; InvalidProposal after two unusable answers,
        LlmError when the endpoint cannot be used."""
        self._trial = trial
        spec = self.record.spec
        retry: tuple[str, str] | None = None
        for asked in (1, 2):
            messages = build_messages(
                family=self.family,
                spec=spec,
                schema=self.schema,
                answer_schema=self.answer_schema,
                data=self._dataset(),
                rows=[r for r in self.record.rows if r.index < trial],
                combinations=self.record.combinations,
                trial=trial,
                retry=retry,
            )
            self._write("prompt", asked=asked, messages=messages)
            logger.info(
                "LLM trial %d, asking %s at %s:\n%s",
                trial + 1,
                spec.llm.model,  # type: ignore[union-attr]
                self.client.url,
                "\n".join(m["content"] for m in messages[1:]),
            )
            # Asked again, a model at temperature 0 tends to repeat itself (a small one
            # proposes the same configuration however it is told): let it sample.
            answer = self.client.complete(
                messages,
                self.answer_schema,
                seed=spec.seed + trial,
                temperature=0.0 if retry is None else RETRY_TEMPERATURE,
            )
            self._write("answer", asked=asked, text=answer)
            logger.info("LLM trial %d, answer %d:\n%s", trial + 1, asked, answer)
            try:
                proposal = read_proposal(answer, spec, self.schema, self.record.combinations)
            except InvalidProposal as exc:
                self._write("invalid", asked=asked, error=str(exc))
                logger.warning("LLM trial %d, answer %d not usable: %s", trial + 1, asked, exc)
                retry = (answer, str(exc))
                continue
            self._write(
                "proposal",
                asked=asked,
                parameters=proposal.parameters,
                reason=proposal.reason,
                adjustments=proposal.adjustments,
            )
            for change in proposal.adjustments:
                logger.info("LLM trial %d: %s", trial + 1, change)
            return proposal
        assert retry is not None
        raise InvalidProposal(f"the LLM's answer was not usable twice: {retry[1]}")

    def _dataset(self) -> str:
        if self._data is None:
            self._data = dataset_facts(self.home, self.family, self.record.spec.domain)
        return self._data

    def _client_event(self, event: Mapping[str, Any]) -> None:
        if event.get("event") == "http_ok":
            return
        self._write(str(event.get("event")), **{k: v for k, v in event.items() if k != "event"})
        logger.warning("LLM trial %d: %s", self._trial + 1, event.get("error") or event)

    def _write(self, event: str, **fields: Any) -> None:
        entry = {"event": event, "trial": self._trial, "at": now(), **fields}
        line = json.dumps(entry, default=str, ensure_ascii=False) + "\n"
        with open(log_path(self.home, self.record.id), "a", encoding="utf-8") as handle:
            handle.write(line)


__all__ = ["LOG_FILE", "LlmProposer", "LoggedProposal", "log_path", "logged_proposals", "read_log"]
