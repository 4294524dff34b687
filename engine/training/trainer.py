"""The training loop: deterministic, resumable at any step, reporting through plain callbacks."""

from __future__ import annotations

import contextlib
import math
import os
import sys
import threading
import time
import traceback
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import torch

from engine.atomic import StorageError, atomic_write_json
from engine.devices import check_device
from engine.errors import (
    CheckpointError,
    FamilyError,
    ParameterError,
    TrainwrightError,
    VariantError,
)
from engine.families.base import ModelFamily
from engine.hashing import weights_sha256
from engine.metadata import (
    Attempt,
    BestRecord,
    CheckpointEntry,
    VariantMetadata,
    check_config_hash,
    environment,
    now,
)
from engine.params import duration_text
from engine.training import checkpoints as ckpt
from engine.training import rng
from engine.training.augment import family_augmentation
from engine.training.best import (
    BEST_FILE,
    BestState,
    better_offer,
    model_state_copy,
    target_reached,
)
from engine.training.callbacks import CallbackList, Callbacks, CancelEvent, StepInfo
from engine.training.chronicle import ChronicleWriter, is_epoch_end, read_chronicle
from engine.training.grokfast import GrokfastFilter
from engine.training.lock import VariantLock
from engine.training.losses import LossFn, chosen_loss
from engine.training.metrics import (
    EpochAccumulator,
    LossEMA,
    classification_report,
    evaluate_split,
)
from engine.training.optim import build_optimizer, build_scheduler, schedule_changes
from engine.training.provenance import check_data_unchanged, check_target_scaling
from engine.training.session import EpochMetrics, TrainingSession
from engine.training.stagnation import Stagnation
from engine.training.transfer import Transfer
from engine.training.turns import end_turn, take_turn
from engine.variants import Variant

AUTOSAVE_SECONDS = 30.0
# With `retries`, a full checkpoint is kept at every tenth of the epochs (an anchor): a retry
# goes back to the newest anchor, so at most a tenth of the run is done again. Anchors sit at
# places fixed by the config alone (not by resume_every, a Stop or the clock), so a retry
# restarts from the same state in a replay, after a resume, and in the uninterrupted run.
RETRY_ANCHORS = 10
# A family whose family.json `analyses` lists this has its evaluations' confusion matrices
# recorded (engine.analysis.CONFUSION: the same name; the trainer sits beside engine.analysis).
CONFUSION_ANALYSIS = "confusion_matrix"


class Objective(Protocol):
    """The training loss of a batch; a strategy (distillation) may also look at the inputs."""

    def __call__(
        self, outputs: torch.Tensor, targets: torch.Tensor, inputs: torch.Tensor
    ) -> torch.Tensor: ...


class FamilyObjective:
    """A plain run's objective: the loss its config chooses (`loss`; auto: the family's own)."""

    def __init__(self, family: ModelFamily, compute_loss: LossFn | None = None) -> None:
        self.compute_loss = compute_loss or family.compute_loss

    def __call__(
        self, outputs: torch.Tensor, targets: torch.Tensor, inputs: torch.Tensor
    ) -> torch.Tensor:
        return self.compute_loss(outputs, targets)


class TrainingFailure(Exception):
    """A failure the loop detects itself (NaN, divergence): retried while the config's
    `retries` allow, else the run ends as failed. `epoch` and `step` name the failing step."""

    def __init__(self, message: str, *, epoch: int | None = None, step: int | None = None):
        super().__init__(message)
        self.epoch, self.step = epoch, step


def default_threads() -> int:
    """Torch threads when the config says 0: all cores but one, for the GUI (see bench/B4)."""
    return max(1, min(8, (os.cpu_count() or 2) - 1))


@contextmanager
def _deterministic(threads: int, device: str):
    previous = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    if device == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    _use_deterministic_algorithms(True)
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        _use_deterministic_algorithms(previous[0])
        torch.set_num_threads(previous[1])


def _use_deterministic_algorithms(mode: bool) -> None:
    """`torch.use_deterministic_algorithms(mode)` without importing torch._inductor for it.

    The public call imports `torch._inductor.config` (and with it dynamo) only to set that
    config's `deterministic` flag, which matters to torch.compile alone: seconds on the first
    run in a process (bench/B4, start-up). The flag is still set when inductor is loaded.
    """
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:  # a torch without the private setter: the public call
        torch.use_deterministic_algorithms(mode)
        return
    inductor_config = sys.modules.get("torch._inductor.config")
    if inductor_config is not None:
        inductor_config.deterministic = mode
    setter(mode, warn_only=False)


def resolve_device(name: str) -> torch.device:
    check_device(name)  # a clear message naming the devices this machine has
    return torch.device(name)


class Trainer:
    """Trains one variant. `run()` never raises for a training failure: it returns the session.

    Errors in the request itself (an existing variant without `overwrite`, a missing
    checkpoint on resume, a device that is not there) raise TrainwrightError before anything
    is written.
    """

    def __init__(
        self,
        family: ModelFamily,
        variant: Variant,
        callbacks: Callbacks = None,
        cancel_event: CancelEvent = None,
        *,
        threads: int | None = None,
        objective: Objective | None = None,
        metadata_extra: dict[str, Any] | None = None,
        timeout: float | None = None,
        initial_weights: Transfer | None = None,
    ) -> None:
        self.family = family
        # The loss `-t loss=` chose (engine.training.losses); a strategy's objective wins.
        self.compute_loss = chosen_loss(family, variant.config.training)
        self.objective = objective or FamilyObjective(family, self.compute_loss)
        self.metadata_extra = dict(metadata_extra or {})
        self.variant = variant
        self.cfg = variant.config.training
        self.callbacks = CallbackList(callbacks)
        self.cancel_event = cancel_event or threading.Event()
        self.threads_override = threads
        # Seconds of wall time a session may run: the config's `timeout` unless given (0: no
        # limit, for a replay, which trains a temporary copy that cannot be resumed).
        self.timeout = float(variant.config.training.timeout if timeout is None else timeout)
        # `init_from`: the source's weights, loaded over the seeded model (engine.training.
        # transfer resolves them; the strategy's `trainer` passes them in).
        self.initial_weights = initial_weights

    # ---- public ----------------------------------------------------------------------------
    def train(self, *, overwrite: bool = False) -> TrainingSession:
        from engine.names import safe_component
        from engine.run_rules import empty_trash, hold_variant, move_to_trash

        v = self.variant
        # Names from outside are one folder each: checked before anything is touched.
        safe_component(v.family, "family name", error=VariantError)
        safe_component(v.name, "variant name", error=VariantError, variant=True)
        resolve_device(self.cfg.device)
        # The user's data it records is the data it reads (a replay of an edited CSV is refused).
        check_data_unchanged(self.family, v.config)
        self._check_model()  # a family whose model cannot be built fails before any write
        # The variant's lock first: a folder a live run is training is never replaced.
        lock = hold_variant(v.dir)
        try:
            ckpt.remove_debris(v.dir)  # what a killed write left, before "does it exist?"
            if any(p != v.lock_path for p in v.dir.iterdir()):
                if not overwrite:
                    raise VariantError(
                        f"variant {v.name} already exists; use overwrite to retrain it"
                    )
                move_to_trash(v.home, v.dir)  # the old run, in one rename, under its lock
                old, lock = lock, hold_variant(v.dir)  # the new folder, locked before
                old.release()
                empty_trash(v.home)
            v.dir.mkdir(parents=True, exist_ok=True)
            atomic_write_json(v.config_path, v.config.model_dump(mode="json"))
            threads = self.threads_override or self.cfg.threads or default_threads()
            versions, facts = environment(threads, self.cfg.device)
            meta = VariantMetadata(
                family=v.family,
                variant=v.name,
                config_hash=v.config.config_hash,
                created_at=now(),
                total_epochs=self.cfg.epochs,
                versions=versions,
                platform=facts,
            )
            meta.save(v.metadata_path)
        except BaseException:
            lock.release()
            raise
        return self._run(meta, resume=False, threads=threads, lock=lock)  # still held

    def resume(self) -> TrainingSession:
        from engine.names import safe_component
        from engine.run_rules import hold_variant

        v = self.variant
        safe_component(v.family, "family name", error=VariantError)
        safe_component(v.name, "variant name", error=VariantError, variant=True)
        if not v.exists():
            raise VariantError(f"variant {v.name} has not been trained; nothing to resume")
        check_config_hash(v.config, v.config_path)  # a hand-edited config.json is refused
        check_data_unchanged(self.family, v.config)  # resumed on the data it started on
        lock = hold_variant(v.dir)  # refused while a live run holds it; kept into the run
        try:
            meta = VariantMetadata.load(v.metadata_path)
            if meta.status == "completed":
                raise VariantError(f"variant {v.name} is already completed")
            if self.initial_weights is not None:  # the source it started from, unchanged
                self.initial_weights.check_recorded(meta.extra.get("init_from"), v.name)
            check_target_scaling(self.family, v.config, meta.versions.get("engine", ""))
            fresh = self._nothing_to_restore(meta)
            resolve_device(self.cfg.device)
        except BaseException:
            lock.release()
            raise
        threads = self.threads_override or int(meta.platform.get("torch_threads") or 0)
        threads = threads or self.cfg.threads or default_threads()
        return self._run(meta, resume=not fresh, threads=threads, lock=lock)

    def _nothing_to_restore(self, meta: VariantMetadata) -> bool:
        """Whether a resume starts afresh: stopped before its first step (waiting for another
        run). Otherwise the newest full checkpoint must verify: refused early, before any
        change (another backend's checkpoints are its own: keras_trainer.py)."""
        v = self.variant
        fresh = meta.steps == 0 and not ckpt.full_checkpoints(v.checkpoints_dir)
        if not fresh:
            ckpt.latest_valid_full(v.checkpoints_dir)
        return fresh

    def _check_model(self) -> None:
        """Build the family's model once, so that a family whose `create_model` fails or does
        not return an nn.Module is refused in one line naming it before anything is written.
        The run builds it again after seeding, so this costs no determinism."""
        family = self.variant.family
        try:
            model = self.family.create_model(self.variant.config.domain)
        except TrainwrightError:
            raise
        except Exception as exc:
            raise FamilyError(f"family {family!r}: create_model failed: {_describe(exc)}") from None
        if not isinstance(model, torch.nn.Module):
            kind = type(model).__name__
            raise FamilyError(
                f"family {family!r}: create_model returned {kind}, not a torch.nn.Module"
            )

    # ---- the run ---------------------------------------------------------------------------
    def _run(
        self,
        meta: VariantMetadata,
        *,
        resume: bool,
        threads: int,
        lock: VariantLock | None = None,
    ) -> TrainingSession:
        """Train (or resume) under the variant's lock: the one `train`/`resume` took and hand
        over, so no other run can slip in between their checks and the run."""
        v, cfg = self.variant, self.cfg
        session = TrainingSession(
            family=v.family,
            variant=v.name,
            path=str(v.dir),
            status="failed",
            total_epochs=cfg.epochs,
        )
        if lock is None:
            lock = VariantLock(v.lock_path)
            lock.acquire()
        # What killed writes left (temp files, orphan sidecars): removed under the lock.
        self.debris_removed = ckpt.remove_debris(v.dir)
        if not take_turn(self.cancel_event):  # runs in one process take turns (turns.py)
            lock.release()
            session.status = meta.status = "cancelled"
            meta.save(v.metadata_path)
            self.callbacks.on_train_end(session)
            return session
        started = time.perf_counter()
        # This session's wall-time budget starts with its turn; a resume has it afresh.
        self.deadline = time.monotonic() + self.timeout if self.timeout > 0 else None
        self.meta = meta
        self.session = session
        self.chronicle: ChronicleWriter | None = None
        try:
            with _deterministic(threads, cfg.device):
                meta.status, meta.error_message = "training", None
                if not meta.versions:  # read back from config.json alone (metadata.load)
                    meta.versions, meta.platform = environment(threads, cfg.device)
                meta.started_at = meta.started_at or now()
                meta.platform["torch_threads"] = threads
                meta.extra.update(self.metadata_extra)  # saved before the first step
                self._describe_data(meta)
                meta.save(v.metadata_path)
                self._setup(resume)
                self._train()
        except BaseException as exc:  # everything ends as a session, never as a crash
            session.status = "failed"
            session.error_message = _describe(exc)
            if not isinstance(exc, TrainingFailure):
                self.meta.extra["error_traceback"] = traceback.format_exc()
            self.callbacks.on_exception(exc)
            self._save_on_failure()
            if isinstance(exc, OSError):  # a full disk, a read-only home: say what and what now
                session.error_message = self._storage_failure(exc)
            attempts = self.meta.attempts
            if attempts and attempts[-1].error is None:  # not retried: the attempt ends here
                attempts[-1].error = session.error_message
            if not isinstance(exc, Exception):
                raise
        finally:
            if self.chronicle is not None:
                self.chronicle.close()
            session.duration_s = time.perf_counter() - started
            session.epochs_completed = getattr(self, "epoch", 0)
            session.steps = getattr(self, "step", 0)
            if session.status == "completed":
                session.stop_reason = getattr(self, "stop_reason", None)
            self._finish_metadata(session)
            end_turn()
            lock.release()
        self.callbacks.on_train_end(session)
        return session

    def _describe_data(self, meta: VariantMetadata) -> None:
        """What metadata.json says of the data before the first step: each class's name and
        the inputs' preprocessing, when the family tells (optional methods: a user family
        need not have them)."""
        family, domain, cfg = self.family, self.variant.config.domain, self.cfg
        names = getattr(family, "class_names", None)
        found = names(domain) if callable(names) else None
        meta.class_names = [str(name) for name in found] if found is not None else None
        describe = getattr(family, "preprocessing", None)
        meta.preprocessing = (
            describe(domain, cfg.training_fraction, cfg.data_seed) if callable(describe) else None
        )

    def _setup(self, resume: bool, *, retry: bool = False) -> None:
        """Build the run's state from the config (seeded), restore it on resume (for a retry:
        from the newest anchor, or from scratch), and announce the start."""
        v, cfg, family = self.variant, self.cfg, self.family
        domain = v.config.domain
        self.device = resolve_device(cfg.device)
        seed = domain[family.spec.seed_parameter]
        rng.seed_everything(seed)
        self.model = family.create_model(domain).to(self.device)
        if self.initial_weights is not None:  # before the optimizer: it takes the trainable
            self.initial_weights.apply(self.model)
        train_x, train_y, test_x, test_y = family.generate_training_dataset(
            domain, cfg.training_fraction, cfg.data_seed
        )
        self.train_x, self.train_y = train_x.to(self.device), train_y.to(self.device)
        self.test_x, self.test_y = test_x.to(self.device), test_y.to(self.device)
        n = len(self.train_y)
        if n == 0:
            raise ParameterError("training_fraction", "leaves no training examples")
        self.batch_size = n if cfg.batch_size == 0 or cfg.batch_size >= n else cfg.batch_size
        self.steps_per_epoch = math.ceil(n / self.batch_size)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self._single_group = _foreach_norm_applies(self.params)
        self.optimizer = build_optimizer(self.params, cfg)
        self.scheduler = build_scheduler(self.optimizer, cfg, self.steps_per_epoch)
        self._unscaled_lrs = list(self.scheduler.base_lrs)  # a retry scales these
        self._restored_scale = 1.0  # the lr scale the state holds (a checkpoint's, on restore)
        self.lr_scale = 1.0  # this attempt's (_begin_attempt)
        self.anchor_every = max(1, math.ceil(cfg.epochs / RETRY_ANCHORS)) if cfg.retries else 0
        self.grokfast = GrokfastFilter(self.params, cfg) if cfg.grokfast != "off" else None
        self.generator = torch.Generator().manual_seed(cfg.data_seed)
        # Augmentation: None costs the loop one test of a local a step.
        self.augment, self.augment_generator = family_augmentation(family, domain, cfg.data_seed)
        analyses = getattr(getattr(family, "spec", None), "analyses", None) or []
        self.confusion = CONFUSION_ANALYSIS in analyses and not self.test_y.is_floating_point()
        self.latest_confusion: tuple[int, list[list[int]]] | None = None  # (epoch, matrix)
        self.best: BestState | None = None  # `keep_best`: the best evaluation so far
        self.best_unwritten = False  # whether best.pt lags behind `best`
        self.stop_reason: str | None = None  # set when an evaluation reaches target_metric
        # A standardised regression target: MAE is reported in the target's units (x its std).
        target_scale = getattr(family, "target_scale", None)
        scale = target_scale(domain, cfg.training_fraction, cfg.data_seed) if target_scale else None
        self.target_std = scale[1] if scale else 1.0
        self.acc = EpochAccumulator(self.train_y.is_floating_point(), target_std=self.target_std)
        self.loss_ema = LossEMA()  # the rows' `loss_ema`; restored by _restore on resume
        self.epoch, self.step, self.batch_index, self.perm = 0, 0, 0, None
        self.stagnation = Stagnation(cfg.stagnation_patience)
        self.last_autosave = time.monotonic()
        truncate_at = 0
        self._restarted = False  # resumed from scratch: no full checkpoint was ever saved
        if resume:
            truncate_at = self._restore(anchors=retry)
        else:
            check_config_hash(v.config, v.config_path)
        self._align_best()
        self.chronicle = ChronicleWriter(v.chronicle_path, truncate_at=truncate_at)
        retrying = self._begin_attempt(retry)
        self._scale_lr()
        if retrying:  # before the new start: a listener shows it, then the rewound history
            self.session.warnings.append(retrying)
            self.callbacks.on_warning(retrying)
        self.callbacks.on_train_start(
            {
                "variant": v.name,
                "family": v.family,
                "total_epochs": cfg.epochs,
                "start_epoch": self.epoch,
                "steps_per_epoch": self.steps_per_epoch,
                "resumed": resume and not self._restarted,
                "metrics": list(self.session.metrics),
                "attempt": self.meta.attempts[-1].attempt,
            }
        )
        if not resume or self._restarted:
            self._save_weights()

    def _train(self) -> None:
        """The loop; after a TrainingFailure with retries left, again from the newest anchor
        at a smaller lr (`_setup(retry=True)`). Other exceptions are not retried."""
        while True:
            try:
                self._loop()
                return
            except TrainingFailure as failure:
                if not self._attempt_failed(failure):
                    raise
            assert self.chronicle is not None
            self.chronicle.close()  # all of it on disk: the restore checks what it holds
            self.chronicle = None
            self._setup(resume=True, retry=True)

    def _attempt_failed(self, failure: TrainingFailure) -> bool:
        """Record the failure in the attempt that ran; whether the run may try again."""
        current = self.meta.attempts[-1]
        current.error, current.epoch, current.step = str(failure), failure.epoch, failure.step
        return current.attempt <= self.cfg.retries

    def _begin_attempt(self, retry: bool) -> str | None:
        """The attempt this session runs, in metadata.json's `attempts`; for a retry, the
        message that says so.

        A retry adds one at the failed attempt's lr scale × retry_lr_factor, starting where the
        restore went back to. Otherwise the run continues the attempt that wrote the state it
        restored: the last one that started at or before its step (later ones, whose
        checkpoints are gone, are dropped as the chronicle is cut back); the first on a new run.
        """
        meta, cfg = self.meta, self.cfg
        if retry:
            failed = meta.attempts[-1]
            scale = failed.lr_scale * cfg.retry_lr_factor
            meta.attempts.append(
                Attempt(
                    attempt=failed.attempt + 1,
                    lr=cfg.lr * scale,
                    lr_scale=scale,
                    from_epoch=self.epoch,
                    from_step=self.step,
                )
            )
        elif meta.attempts:
            last = max(i for i, a in enumerate(meta.attempts) if a.from_step <= self.step or i == 0)
            del meta.attempts[last + 1 :]
            current = meta.attempts[-1]
            current.error = current.epoch = current.step = None  # running again
        else:
            meta.attempts = [Attempt(attempt=1, lr=cfg.lr)]
        current = meta.attempts[-1]
        self.lr_scale = current.lr_scale
        meta.effective_lr = self.session.effective_lr = current.lr
        self.session.attempts = current.attempt
        if not retry:
            return None
        # Recorded with the checkpoints the restore removed: a crash from here on resumes
        # this attempt; one before, the failed one (which fails again at the same step).
        meta.epochs_completed, meta.steps = self.epoch, self.step
        meta.save(self.variant.metadata_path)
        start = f"epoch {self.epoch}" if self.step else "the start"
        return (
            f"attempt {failed.attempt} failed ({failed.error}); "
            f"retrying from {start} at lr {current.lr:g}"
        )

    def _scale_lr(self) -> None:
        """Give the optimizer and schedule this attempt's lr scale, when the state does not
        hold it already: the schedule's base lrs (warm-up and decay follow them) and each
        group's lr now, as the schedule would have set them at this step."""
        if self.lr_scale == self._restored_scale:
            return
        scheduler, groups = self.scheduler, self.optimizer.param_groups
        scheduler.base_lrs = [lr * self.lr_scale for lr in self._unscaled_lrs]
        for group, base, factor in zip(
            groups, scheduler.base_lrs, scheduler.lr_lambdas, strict=True
        ):
            group["initial_lr"] = base
            group["lr"] = base * factor(scheduler.last_epoch)
        scheduler._last_lr = [group["lr"] for group in groups]
        self._restored_scale = self.lr_scale

    def _is_anchor(self, path: Path) -> bool:
        """Whether a full checkpoint is a retry anchor: at the end of an epoch that is a
        multiple of `anchor_every` (fixed by the config)."""
        position = ckpt.full_position(path)
        if position is None or not self.anchor_every:
            return False
        epoch, step = position
        return epoch > 0 and epoch % self.anchor_every == 0 and step == epoch * self.steps_per_epoch

    def _time_out(self) -> None:
        """Stop as a Stop does (a full checkpoint here), as timed out, and say so."""
        self._save_full()
        self.session.status = "timed_out"
        epoch = self.epoch + (1 if self.batch_index else 0)
        self.callbacks.on_warning(
            f"stopped after the {duration_text(self.timeout)} timeout at epoch "
            f"{epoch}, step {self.step}; resume to continue"
        )

    def _loop(self) -> None:
        cfg, model, opt = self.cfg, self.model, self.optimizer
        model.train()
        full_batch = self.batch_size == len(self.train_y)
        ema = self.loss_ema
        # The step hooks, asked once: a hook nobody overrides costs one test of a local a step.
        before_step = self.callbacks.overrides("on_before_step")
        after_step = self.callbacks.overrides("on_after_step")
        step_hooks = before_step or after_step
        # The timeout, checked after each step (so every session makes progress): one local
        # test a step without one, one clock read with one.
        deadline, monotonic = self.deadline, time.monotonic
        augment, augment_generator = self.augment, self.augment_generator
        while self.epoch < cfg.epochs and self.stop_reason is None:
            epoch_number = self.epoch + 1
            epoch_started = time.perf_counter()
            if self.batch_index == 0:
                # Stop before this epoch's order is drawn: a resume draws it from the saved RNG.
                if self.cancel_event.is_set():
                    self._save_full()
                    self.session.status = "cancelled"
                    return
                self.acc.reset()
                if not full_batch:
                    self.perm = torch.randperm(len(self.train_y), generator=self.generator)
            while self.batch_index < self.steps_per_epoch:
                # At an epoch's first batch the check above has just run, before the order was
                # drawn: stopping here, after the draw, would save an RNG a resume draws again.
                if self.cancel_event.is_set() and self.batch_index:
                    self._save_full()
                    self.session.status = "cancelled"
                    return
                if full_batch:
                    xb, yb = self.train_x, self.train_y
                else:
                    idx = self.perm[
                        self.batch_index * self.batch_size : (self.batch_index + 1)
                        * self.batch_size
                    ]
                    idx = idx.to(self.device)
                    xb, yb = self.train_x[idx], self.train_y[idx]
                if augment is not None:
                    xb = augment(xb, augment_generator)
                outputs = model(xb)
                loss = self.objective(outputs, yb, xb)
                loss_value = loss.item()
                if not math.isfinite(loss_value):
                    raise TrainingFailure(
                        f"loss became {loss_value} at epoch {epoch_number}, step {self.step + 1}",
                        epoch=epoch_number,
                        step=self.step + 1,
                    )
                if loss_value > cfg.divergence_threshold:
                    raise TrainingFailure(
                        f"loss diverged to {loss_value:.4g} (above divergence_threshold "
                        f"{cfg.divergence_threshold:g}) at epoch {epoch_number}, step {self.step + 1}",
                        epoch=epoch_number,
                        step=self.step + 1,
                    )
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if self.grokfast is not None:
                    self.grokfast.apply()
                # The grad norm is only read by clipping and by the rows that are written
                # (logged steps and epoch ends): skip it, and the row, on the other steps.
                epoch_end = self.batch_index + 1 == self.steps_per_epoch
                logged = epoch_end or (self.step + 1) % cfg.log_every == 0
                grad_norm = None
                if logged or cfg.grad_clip > 0:
                    grad_norm = self._grad_norm()
                if cfg.grad_clip > 0:
                    torch.nn.utils.clip_grads_with_norm_(self.params, cfg.grad_clip, grad_norm)
                lr = opt.param_groups[0]["lr"]
                if step_hooks:  # plain numbers only: a hook cannot change the training
                    info = StepInfo(
                        epoch=epoch_number,
                        step=self.step + 1,
                        batch_index=self.batch_index,
                        loss=loss_value,
                        lr=lr,
                        grad_norm=None if grad_norm is None else grad_norm.item(),
                    )
                    if before_step:
                        self.callbacks.on_before_step(info)
                opt.step()
                self.scheduler.step()
                self.step += 1
                self.batch_index += 1
                self.acc.update(outputs.detach(), yb, loss_value)
                ema.update(loss_value)
                if logged:
                    row = {
                        "epoch": epoch_number,
                        "step": self.step,
                        "loss": loss_value,
                        "loss_ema": ema.result(),
                        "lr": lr,
                        "grad_norm": grad_norm.item(),
                        "timestamp": round(time.time(), 3),
                    }
                    if epoch_end:
                        self._end_epoch(row, epoch_started)
                    else:
                        self._log(row)
                # After the row and the epoch's end: the state is whole again if the hook fails.
                if after_step:
                    self.callbacks.on_after_step(info)
                if (
                    deadline is not None
                    and monotonic() >= deadline
                    and self.epoch < cfg.epochs
                    and self.stop_reason is None
                ):
                    self._time_out()
                    return
                if epoch_end:
                    break
        self.session.status = "completed"
        self._save_full()

    def _grad_norm(self) -> torch.Tensor:
        """The 2-norm of all gradients, summed in a canonical order: by parameter name.

        A float sum depends on its order, so the norm (and with it gradient clipping) would
        depend on the order a model registers its parameters in; by name it does not. The
        optimizer keeps the registration order: its state is indexed by position, and its
        updates are per parameter (tests/test_optimizer_order.py).

        It is `torch.nn.utils.get_total_norm` of the gradients in that order, bit for bit,
        without its overhead: with one device and dtype, get_total_norm is
        `vector_norm(stack(_foreach_norm(g)))`; calling that directly skips its per-call
        grouping (about half of its cost on a small model). Anything else goes through
        get_total_norm itself.
        """
        cached = getattr(self, "_norm_order", None)
        if cached is None or cached[0] is not self.params:  # a new model: order it once
            cached = self._norm_order = (self.params, _by_name(self.model, self.params))
        grads = [p.grad for p in cached[1] if p.grad is not None]
        if not (self._single_group and grads):
            return torch.nn.utils.get_total_norm(grads)
        if any(g.requires_grad for g in grads):  # a create_graph backward: keep out of its graph
            with torch.no_grad():
                return _total_norm(grads)
        return _total_norm(grads)  # no grad mode switch needed: a fifth of the cost

    def _end_epoch(self, row: dict[str, Any], epoch_started: float) -> None:
        cfg = self.cfg
        self.epoch += 1
        self.batch_index = 0
        stats = self.acc.result()
        if self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs:
            evaluation = evaluate_split(
                self.model,
                self.compute_loss,
                self.test_x,
                self.test_y,
                target_std=self.target_std,
                confusion=self.confusion,
            )
            stats.update(evaluation.metrics)
            self._evaluated(evaluation.metrics, evaluation.confusion)
        stats["epoch_time"] = round(time.perf_counter() - epoch_started, 6)
        row.update(stats)
        warning = self._check_stagnation(stats)
        if warning:
            row["warning"] = warning
        self._log(row)
        metrics = EpochMetrics(
            epoch=self.epoch, step=self.step, lr=row["lr"], grad_norm=row["grad_norm"], **stats
        )
        self.session.metrics.append(metrics)
        self.session.epochs_completed = self.epoch
        self.session.steps = self.step
        self.callbacks.on_epoch_end(metrics)
        if warning:
            self.callbacks.on_warning(warning)
        every = cfg.checkpoint_every
        last = self.epoch == cfg.epochs or self.stop_reason is not None
        if (every and self.epoch % every == 0) or last:
            self._save_weights()
        due = (cfg.resume_every and self.epoch % cfg.resume_every == 0) or (
            not cfg.resume_every and time.monotonic() - self.last_autosave >= AUTOSAVE_SECONDS
        )
        anchor = self.anchor_every and self.epoch % self.anchor_every == 0
        if (due or anchor) and not last:  # the last one is saved as the loop ends
            self._save_full()

    def _evaluated(self, metrics: dict[str, float], confusion: list[list[int]] | None) -> None:
        """What an evaluation leads to besides its row: the latest confusion matrix, a new
        best (`keep_best`), and the stop when it reaches `target_metric`."""
        if confusion is not None:
            self.latest_confusion = (self.epoch, confusion)
            self.meta.classification = classification_report(confusion, self.epoch, self.step)
        if self.cfg.keep_best:
            better = better_offer(metrics, self.epoch, self.step, confusion, self.best)
            if better is not None:
                better.state = model_state_copy(self.model)
                self.best, self.best_unwritten = better, True
        reason = target_reached(metrics, self.cfg.target_metric, self.epoch)
        if reason is not None:
            self.stop_reason = reason

    def _check_stagnation(self, stats: dict[str, float]) -> str | None:
        message = self.stagnation.update(stats, self.epoch)
        if message:
            self.session.warnings.append(message)
            self.meta.warnings.append(message)
        return message

    def _log(self, row: dict[str, Any]) -> None:
        assert self.chronicle is not None
        self.chronicle.append(row)
        self.callbacks.on_log(row)

    # ---- checkpoints -----------------------------------------------------------------------
    def _record(
        self,
        path: Any,
        kind: str,
        digest: str,
        wsha: str | None,
        state_sha: str | None = None,
        chronicle: dict[str, Any] | None = None,
        *,
        position: tuple[int, int] | None = None,
        confusion: list[list[int]] | None = None,
    ) -> None:
        """List a written checkpoint in metadata.json (at this epoch and step, or `position`:
        the best's own) and save it; listeners hear of it."""
        epoch, step = position or (self.epoch, self.step)
        entry = CheckpointEntry(
            file=path.name,
            kind=kind,
            epoch=epoch,
            step=step,
            sha256=digest,
            weights_sha256=wsha,
            state_sha256=state_sha,
            confusion=confusion,
            **(chronicle or {}),
        )
        existing = [c for c in self.meta.checkpoints if c.file != entry.file]
        if kind == "full":
            kept = {p.name for p in ckpt.full_checkpoints(self.variant.checkpoints_dir)}
            existing = [c for c in existing if c.kind != "full" or c.file in kept]
        self.meta.checkpoints = [*existing, entry]
        self.meta.epochs_completed, self.meta.steps = self.epoch, self.step
        self.meta.save(self.variant.metadata_path)
        self.callbacks.on_checkpoint(entry.model_dump())

    def _save_weights(self) -> None:
        state = {k: t.detach().cpu() for k, t in self.model.state_dict().items()}
        path = self.variant.checkpoints_dir / ckpt.weights_name(self.epoch)
        digest = ckpt.save_checkpoint(
            path, {"model": state, "epoch": self.epoch, "step": self.step}
        )
        latest = self.latest_confusion
        confusion = latest[1] if latest is not None and latest[0] == self.epoch else None
        self._record(path, "weights", digest, weights_sha256(state), confusion=confusion)
        self._write_best()

    def _save_full(self) -> None:
        assert self.chronicle is not None
        self.chronicle.sync()
        state = {k: t.detach().cpu() for k, t in self.model.state_dict().items()}
        payload = {
            "model": state,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng.capture(self.generator),
            "grokfast": self.grokfast.state_dict() if self.grokfast else None,
            "epoch": self.epoch,
            "step": self.step,
            "batch_index": self.batch_index,
            "perm": self.perm if self.batch_index else None,
            "accumulator": self.acc.state_dict(),
            "loss_ema": self.loss_ema.state_dict(),
            "stagnation": self.stagnation.state_dict(),
            "config_hash": self.variant.config.config_hash,
            "chronicle_offset": self.chronicle.offset,
            "engine_version": self.meta.versions.get("engine", ""),
            "elapsed_s": self.meta.elapsed_s,
            # What the schedule is: a resume under another one is refused (_restore).
            "schedule": self.scheduler.serialize(),
            "schedule_sha256": self.scheduler.sha256(),
            # The attempt and the lr scale its optimizer and schedule hold (absent before
            # retries existed: 1). metadata.json's attempts say which attempt continues.
            "attempt": self.meta.attempts[-1].attempt,
            "lr_scale": self.lr_scale,
            # The best evaluation so far with its weights (`keep_best`; None: none yet), and
            # why the run stopped early (a resume of a run stopped at its target ends there).
            "best": self.best.payload() if self.best is not None else None,
            "stop_reason": self.stop_reason,
        }
        if self.augment_generator is not None:  # in "rng": the state hash covers it
            payload["rng"]["augment"] = self.augment_generator.get_state()
        # The chronicle this checkpoint covers (lines, SHA-256), read on from the last save.
        marked = getattr(self, "_chronicle_mark", None)
        if marked is None or marked[0] is not self.chronicle:
            marked = self._chronicle_mark = (self.chronicle, ckpt.ChronicleMark())
        mark = marked[1].advance(self.variant.chronicle_path, self.chronicle.offset)
        path = self.variant.checkpoints_dir / ckpt.full_name(self.epoch, self.step)
        digest = ckpt.save_checkpoint(path, payload)
        protect = self._is_anchor if self.anchor_every else None
        ckpt.prune_full_checkpoints(self.variant.checkpoints_dir, protect=protect)
        self.last_autosave = time.monotonic()
        self._record(
            path,
            "full",
            digest,
            weights_sha256(state),
            ckpt.state_sha256(payload),
            mark.record(),
        )
        self._write_best()

    # ---- the best weights (keep_best) ------------------------------------------------------
    def _write_best(self) -> None:
        """Bring checkpoints/best.pt, its entry and `meta.best` in line with `best` when they
        lag behind it (a new best since the last write; a resume that went back before the
        one on disk, or to before any: then they go)."""
        if not self.best_unwritten:
            return
        path = self.variant.checkpoints_dir / BEST_FILE
        best, meta = self.best, self.meta
        if best is None:
            for doomed in (path, ckpt.sidecar_path(path)):
                doomed.unlink(missing_ok=True)
            meta.best = None
            meta.checkpoints = [c for c in meta.checkpoints if c.kind != "best"]
            meta.save(self.variant.metadata_path)
            self.best_unwritten = False
            return
        digest = ckpt.save_checkpoint(path, best.checkpoint())
        meta.best = BestRecord(
            metric=best.metric,
            value=best.value,
            test_loss=best.test_loss,
            epoch=best.epoch,
            step=best.step,
            file=BEST_FILE,
            weights_sha256=best.weights_sha256,
        )
        self.best_unwritten = False
        self._record(
            path,
            "best",
            digest,
            best.weights_sha256,
            position=(best.epoch, best.step),
            confusion=best.confusion,
        )

    def _align_best(self) -> None:
        """After the start or a restore: whether best.pt and metadata.json describe `best`
        (else they are rewritten, or removed, at the next checkpoint write)."""
        on_record = self.meta.best
        entry = next((c for c in self.meta.checkpoints if c.kind == "best"), None)
        if self.best is None:
            self.best_unwritten = on_record is not None or entry is not None
            return
        sidecar = ckpt.sidecar_path(self.variant.checkpoints_dir / BEST_FILE)
        try:  # a write killed between best.pt and its sidecar leaves them apart
            written = entry is not None and sidecar.read_text().strip() == entry.sha256
        except OSError:
            written = False
        self.best_unwritten = not (written and self.best.same_as(on_record))

    def _save_on_failure(self) -> None:
        """Keep what can be kept: a full checkpoint of the state before the failing step."""
        if getattr(self, "optimizer", None) is None or self.chronicle is None:
            return
        with contextlib.suppress(Exception):  # the failure itself is what gets reported
            self._save_full()

    def _restore(self, *, anchors: bool = False) -> int:
        """Restore the newest usable full checkpoint (ckpt.latest_valid_full: it verifies, is
        this config's, and the chronicle still holds what it covers); the chronicle offset to
        continue from. With none and none ever recorded, start over (offset 0): exact.

        For a retry (`anchors`), only anchors count (`_is_anchor`), and starting over is what
        happens when none was written yet; what the failed attempt wrote after is removed."""
        v = self.variant
        records = {c.file: c for c in self.meta.checkpoints}
        if anchors:
            records = {
                name: c
                for name, c in records.items()
                if c.kind != "full" or self._is_anchor(Path(name))
            }
        path, state, skipped = ckpt.latest_valid_full(
            v.checkpoints_dir,
            config_hash=v.config.config_hash,
            records=records,
            chronicle=v.chronicle_path,
            only=self._is_anchor if anchors else None,
        )
        if path is None or state is None:
            check_config_hash(v.config, v.config_path)
            for reason in skipped:
                self.session.warnings.append(f"skipped checkpoint: {reason}; started over")
            self._restarted = True
            self.best = None  # _align_best: what an earlier try wrote goes
            self.meta.checkpoints = []
            self.meta.epochs_completed = self.meta.steps = 0
            ckpt.remove_full_after(v.checkpoints_dir, -1)
            if anchors:
                ckpt.remove_weights_after(v.checkpoints_dir, 0)
            self.session.metrics = []
            self.session.epochs_completed = self.session.steps = 0
            return 0
        saved_schedule = state.get("schedule")  # absent from checkpoints written before it
        if saved_schedule is not None and state.get("schedule_sha256") != self.scheduler.sha256():
            changes = schedule_changes(saved_schedule, self.scheduler.serialize())
            if changes:
                raise CheckpointError(
                    f"the schedule changed since the checkpoint ({path.name}): "
                    + ", ".join(changes)
                )
        check_config_hash(v.config, v.config_path)
        for reason in skipped:
            self.session.warnings.append(f"skipped checkpoint: {reason}")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        rng.restore(state["rng"], self.generator)
        augment_state = state["rng"].get("augment")
        if self.augment_generator is not None and augment_state is not None:
            self.augment_generator.set_state(augment_state)
        if self.grokfast is not None and state["grokfast"] is not None:
            self.grokfast.load_state_dict(state["grokfast"])
        self.epoch, self.step = state["epoch"], state["step"]
        self.batch_index, self.perm = state["batch_index"], state["perm"]
        self.acc.load_state_dict(state["accumulator"], self.device)
        self.loss_ema.load_state_dict(state.get("loss_ema"))  # None before it existed: afresh
        self.stagnation.load_state_dict(state["stagnation"])
        self._restored_scale = float(state.get("lr_scale", 1.0))
        if self.cfg.keep_best:
            self.best = BestState.from_payload(state.get("best"))  # absent before 0.3.0
        self.stop_reason = state.get("stop_reason")
        offset = state["chronicle_offset"]
        self.meta.checkpoints = [
            c for c in self.meta.checkpoints if c.step <= self.step or c.kind == "best"
        ]
        self.session.metrics = [
            EpochMetrics(**_epoch_fields(row))
            for row in read_chronicle(self.variant.chronicle_path, limit_bytes=offset)
            if is_epoch_end(row)
        ]
        self.session.epochs_completed, self.session.steps = self.epoch, self.step
        # Newer full checkpoints were skipped (corrupt, another config's, beyond the chronicle):
        # this run writes its own in their place.
        ckpt.remove_full_after(v.checkpoints_dir, self.step)
        if anchors:
            ckpt.remove_weights_after(v.checkpoints_dir, self.epoch)
        return offset

    def _finish_metadata(self, session: TrainingSession) -> None:
        meta = self.meta
        meta.status = session.status
        meta.error_message = session.error_message
        meta.stop_reason = session.stop_reason
        meta.elapsed_s = round(meta.elapsed_s + session.duration_s, 3)
        for warning in session.warnings:
            if warning not in meta.warnings:
                meta.warnings.append(warning)
        if session.metrics:
            last = session.metrics[-1].model_dump(exclude_none=True)
            last.pop("epoch_time", None)
            meta.final_metrics = last
        session.final_metrics = dict(meta.final_metrics)
        session.warnings = list(meta.warnings)
        if getattr(self, "model", None) is not None and session.status != "failed":
            session.weights_sha256 = weights_sha256(self.model.state_dict())
            meta.weights_sha256 = session.weights_sha256
        if session.status == "completed":
            meta.finished_at = now()
        try:
            meta.save(self.variant.metadata_path)
        except OSError as exc:  # the run's end could not be recorded: say so, and what now
            failure = self._storage_failure(exc)
            if session.status != "failed" or not session.error_message:
                session.status, session.error_message = "failed", failure
            elif "could not write" not in session.error_message:
                session.error_message += f"; also {failure}"

    def _storage_failure(self, exc: OSError) -> str:
        """One line: what could not be written, and whether (and from where) a resume goes on."""
        if isinstance(exc, StorageError):
            what = str(exc)
        else:
            what = f"could not write {exc.filename or 'a file'}: {exc.strerror or exc}"
        v = self.variant
        try:
            path, state, _ = ckpt.latest_valid_full(v.checkpoints_dir)
        except CheckpointError as refusal:
            return f"{what}; not resumable: {refusal}"
        start = f"from epoch {state['epoch']}" if path is not None and state else "from scratch"
        return f"{what}; resumable {start} with `trainwright resume {v.name}` once it can write"


def _total_norm(grads: list[torch.Tensor]) -> torch.Tensor:
    """The 2-norm of the per-tensor 2-norms, summed in the order of `grads`."""
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads, 2.0)), 2.0)


def _by_name(model: torch.nn.Module, params: list[torch.nn.Parameter]) -> list[torch.nn.Parameter]:
    """`params` sorted by name, whatever order `model` registers them in; a parameter with
    several names (tied weights) sorts by the least of them, not by the one seen first."""
    names: dict[int, str] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        names[id(param)] = min(name, names.get(id(param), name))
    return sorted(params, key=lambda param: names[id(param)])


def _foreach_norm_applies(params: list[torch.nn.Parameter]) -> bool:
    """True when get_total_norm would take its single foreach group for these gradients."""
    if not params:
        return False
    device, dtype = params[0].device, params[0].dtype
    return device.type in ("cpu", "cuda") and all(
        p.device == device and p.dtype == dtype and not p.is_sparse for p in params
    )


def _epoch_fields(row: dict[str, Any]) -> dict[str, Any]:
    fields = set(EpochMetrics.model_fields)
    return {k: v for k, v in row.items() if k in fields} | {"train_loss": row["train_loss"]}


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TrainingFailure):
        return str(exc)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"{type(exc).__name__}: {exc}"
