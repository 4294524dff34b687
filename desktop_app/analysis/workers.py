"""The Analysis tab's background work: listing the variants, checkpoint analyses, replays,
verifies, confusion matrices and misclassified examples, each a kit Task.

Results carry the request id, so the tab can drop answers to requests it has since replaced;
the long ones stop early once their cancel event is set. (Curves are read by the kit's
CurveLoader.)
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from desktop_app.kit.tasks import Task

log = logging.getLogger("trainwright.desktop")


class ScanTask(Task):
    """Lists the variants on disk again (the folder changed, or a run is live): result a
    variant_model.Scan."""

    kind = "scan"

    def __init__(self, request_id: int, workspace: Any) -> None:
        super().__init__(request_id)
        self.workspace = workspace

    def compute(self) -> Any:
        from desktop_app.analysis.variant_model import scan_variants

        return scan_variants(self.workspace, self.cancel_event)


class AnalysisTask(Task):
    """Runs the family's checkpoint analyses on one variant: result CheckpointAnalysis."""

    kind = "analysis"

    def __init__(self, request_id: int, path: str, analyses: Sequence[str]) -> None:
        super().__init__(request_id, path)
        self.analyses = list(analyses)

    def compute(self) -> Any:
        from engine.analysis import analyse_checkpoints

        return analyse_checkpoints(
            Path(self.path),
            self.analyses,
            cancel_event=self.cancel_event,
            progress=self.report_progress,
        )


class ReplayTask(Task):
    """Trains the variant again in a temporary home and compares, as a job of the store:
    result ReplayResult; progress is (epoch, epochs)."""

    kind = "replay"

    def __init__(self, request_id: int, workspace: Any, path: str) -> None:
        super().__init__(request_id, path)
        self.workspace = workspace

    def compute(self) -> Any:
        from engine.jobs.records import JobRequest
        from engine.jobs.runner import run_now
        from engine.training.callbacks import Callback
        from engine.variants import Variant

        task = self

        class _Progress(Callback):
            total = 0

            def on_train_start(self, info: dict[str, Any]) -> None:
                self.total = int(info.get("total_epochs") or 0)

            def on_epoch_end(self, metrics: Any) -> None:
                task.report_progress(int(metrics.epoch), self.total)

        variant = Variant.load(Path(self.path))
        # A job of the store, like every run (a refused replay is raised, as before).
        request = JobRequest(kind="replay", variant=variant.name, family=variant.family)
        done = run_now(self.workspace, request, [_Progress()], self.cancel_event, warn=log.warning)
        return done.result


class VerifyTask(Task):
    """Recomputes every checkpoint's hashes and the chronicle's length, training nothing:
    result VerifyReport; progress is (checkpoints checked, checkpoints)."""

    kind = "verify"

    def __init__(self, request_id: int, workspace: Any, path: str) -> None:
        super().__init__(request_id, path)
        self.workspace = workspace

    def compute(self) -> Any:
        from engine.variants import Variant

        variant = Variant.load(Path(self.path))
        return self.workspace.verify(variant, self.cancel_event, self.report_progress)


class ConfusionTask(Task):
    """Reads a variant's metadata.json: result (VariantMetadata, ConfusionSeries), or
    (None, None) when the variant has no metadata yet; a damaged file is a failure."""

    kind = "confusion"

    def compute(self) -> Any:
        from engine import variants
        from engine.analysis.classification import confusion_series
        from engine.metadata import VariantMetadata

        meta = VariantMetadata.load(variants.metadata_path(Path(self.path)))
        return meta, confusion_series(meta)


class MisclassifiedTask(Task):
    """Runs one checkpoint of a classifier on its test split: result MisclassifiedReport (the
    examples it gets wrong, most confident first, at most `limit`)."""

    kind = "misclassified"

    def __init__(
        self, request_id: int, workspace: Any, path: str, checkpoint: str, limit: int
    ) -> None:
        super().__init__(request_id, path)
        self.workspace = workspace
        self.checkpoint = checkpoint
        self.limit = limit

    def compute(self) -> Any:
        from engine.analysis.classification import find_misclassified

        return find_misclassified(
            self.workspace,
            self.path,
            self.checkpoint,
            self.limit,
            cancel_event=self.cancel_event,
        )
