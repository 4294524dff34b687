"""The tensorflow backend's run, in a process of its own (spawned by keras_trainer.py).

Keras fixes its backend when it is first imported, and TensorFlow's determinism and thread
settings are process-wide, so a run gets a fresh process: `main` sets KERAS_BACKEND before
the import, turns on `enable_op_determinism`, seeds everything, trains, and ends.

The contract is the torch trainer's, file for file: the same data split (the family's
`generate_training_dataset`), the same batch order (a torch.Generator seeded with
`data_seed`, as the torch loop draws it), chronicle.jsonl rows with the same fields, metadata
.json with its checkpoints, final metrics and weights hash (over the Keras weights by path,
engine.hashing), full resumable states every `resume_every` epochs (or 30 s), at a stop and at
the end (keras_files.py: weights, optimizer variables, the batch-order and dropout RNG
states, the loss EMA and the epoch's running sums), so a stopped or killed run resumes to the
weights of one never stopped. What happens is told to the parent through `events`:
("start", info), ("log", row), ("epoch", metrics), ("checkpoint", entry), ("warning", text)
and, last, ("end", session fields). `stop` is the parent's cancel.
"""

from __future__ import annotations

import math
import os
import time
import traceback
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.training.best import BestState

AUTOSAVE_SECONDS = 30.0  # the torch trainer's automatic full-checkpoint interval
# Test examples per forward pass of an evaluation: a table's test split in one (as torch's
# evaluate_split), images in pieces (a CNN's activations are hundreds of times the input).
TABLE_EVAL_CHUNK, IMAGE_EVAL_CHUNK = 65536, 256


def _chunks(x: Any, size: int) -> list[Any]:
    """`x` in pieces of at most `size` examples (one piece, itself, when it fits)."""
    return [x] if len(x) <= size else [x[i : i + size] for i in range(0, len(x), size)]


def channels_last(x: Any) -> Any:
    """A torch batch as the numpy array Keras takes: images [n, c, h, w] -> [n, h, w, c]."""
    if x.dim() == 4:
        x = x.permute(0, 2, 3, 1).contiguous()
    return x.numpy()


class _Failure(Exception):
    """A run that cannot go on (a non-finite or diverged loss): the session's message."""


def main(job: dict[str, Any], events: Any, stop: Any) -> None:
    """The spawned process's target."""
    os.environ["KERAS_BACKEND"] = "tensorflow"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # oneDNN's fused kernels change results with the thread count and CPU; off, a run
    # depends on fewer things (and TensorFlow says nothing about them at import).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    KerasRun(job, events, stop).execute()


class KerasRun:
    def __init__(self, job: dict[str, Any], events: Any, stop: Any) -> None:
        from engine.families.registry import FamilyRegistry
        from engine.metadata import VariantMetadata

        self.events, self.stop = events, stop
        registry = FamilyRegistry(job["home"])
        self.variant = registry.variant(job["variant"], job["family"])
        self.family = registry.family(self.variant.family)
        self.cfg = self.variant.config.training
        self.domain = dict(self.variant.config.domain)
        self.meta = VariantMetadata.load(self.variant.metadata_path)
        self.threads = int(job["threads"])
        self.parent = int(job.get("parent") or os.getppid())
        self.resume = bool(job["resume"])
        timeout = float(job.get("timeout") or 0)
        self.deadline = time.monotonic() + timeout if timeout > 0 else None
        self.timeout = timeout
        self.warnings: list[str] = []
        self.metrics: list[dict[str, Any]] = []
        self.chronicle: Any = None

    # ---- the whole run -----------------------------------------------------------------------
    def execute(self) -> None:
        started = time.perf_counter()
        status, error = "failed", None
        try:
            self._setup()
            status = self._loop()
            if status == "completed":
                self._export_keras()
        except _Failure as failure:
            error = str(failure)
        except BaseException as exc:  # everything ends as a session
            error = f"{type(exc).__name__}: {exc}"
            self.meta.extra["error_traceback"] = traceback.format_exc()
            if not isinstance(exc, Exception):
                raise
        finally:
            if self.chronicle is not None:
                self.chronicle.close()
            self._finish(status, error, time.perf_counter() - started)

    def _setup(self) -> None:
        import keras
        import numpy as np
        import tensorflow as tf
        import torch

        from engine.backends.keras_models import build_model
        from engine.training.augment import family_augmentation
        from engine.training.chronicle import ChronicleWriter
        from engine.training.metrics import EpochAccumulator, LossEMA
        from engine.training.stagnation import Stagnation
        from engine.training.trainer import CONFUSION_ANALYSIS

        tf.config.experimental.enable_op_determinism()
        tf.config.threading.set_intra_op_parallelism_threads(self.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        cfg, domain, family = self.cfg, self.domain, self.family
        seed = int(domain[family.spec.seed_parameter])
        keras.utils.set_random_seed(seed)
        self.meta.versions.update({"tensorflow": tf.__version__, "keras": keras.__version__})
        self.meta.platform["torch_threads"] = self.threads
        train_x, train_y, test_x, test_y = family.generate_training_dataset(
            domain, cfg.training_fraction, cfg.data_seed
        )
        self.regression = bool(train_y.is_floating_point())
        # Images go channels-last ([n, h, w, c]); an augmented run transforms each batch as
        # the torch loop does (engine.training.augment, on [n, c, h, w], the same draws from
        # a generator seeded alike) and turns the result around.
        self.images = train_x.dim() == 4
        self.augment, self.augment_generator = family_augmentation(family, domain, cfg.data_seed)
        self.train_images = train_x if self.augment is not None else None
        self.train_x, self.train_y = channels_last(train_x), train_y.numpy()
        self.test_x, self.test_y = channels_last(test_x), test_y.numpy()
        n = len(self.train_y)
        self.batch_size = n if cfg.batch_size == 0 or cfg.batch_size >= n else cfg.batch_size
        self.steps_per_epoch = math.ceil(n / self.batch_size)
        template = family.create_model(domain)
        self.model = build_model(keras, template, self.train_x.shape[1:], seed, self.variant.family)
        self.out_dim = int(self.model.outputs[0].shape[-1])
        analyses = getattr(family.spec, "analyses", None) or []
        self.confusion = CONFUSION_ANALYSIS in analyses and not self.regression
        self.latest_confusion: tuple[int, list[list[int]]] | None = None
        self.loss_fn = self._loss(keras)
        self.optimizer = self._optimizer(keras)
        self.optimizer.build(self.model.trainable_variables)
        self.generator = torch.Generator().manual_seed(cfg.data_seed)
        target_scale = getattr(family, "target_scale", None)
        scale = target_scale(domain, cfg.training_fraction, cfg.data_seed) if target_scale else None
        self.target_std = scale[1] if scale else 1.0
        self.acc = EpochAccumulator(self.regression, target_std=self.target_std)
        self.ema = LossEMA()
        self.epoch = self.step = self.batch_index = 0
        self.perm: Any = None
        self.best: BestState | None = None  # its state: the Keras weights by path
        self.stagnation = Stagnation(cfg.stagnation_patience)
        self.stop_reason: str | None = None
        self.last_autosave = time.monotonic()
        self._step_fn = tf.function(self._train_step, reduce_retracing=True)
        self.eval_chunk = IMAGE_EVAL_CHUNK if self.images else TABLE_EVAL_CHUNK
        self.np = np
        offset = self._restore() if self.resume else 0
        from engine.metadata import Attempt

        if not self.meta.attempts:
            self.meta.attempts = [Attempt(attempt=1, lr=cfg.lr)]
        self.meta.effective_lr = cfg.lr
        self.chronicle = ChronicleWriter(self.variant.chronicle_path, truncate_at=offset)
        self._send(
            "start",
            {
                "variant": self.variant.name,
                "family": self.variant.family,
                "total_epochs": cfg.epochs,
                "start_epoch": self.epoch,
                "steps_per_epoch": self.steps_per_epoch,
                "resumed": self.resume and self.step > 0,
                "metrics": list(self.metrics),
                "attempt": 1,
            },
        )
        if self.step == 0:
            self._save_weights()

    def _loss(self, keras: Any) -> Any:
        if self.regression:
            return keras.losses.MeanSquaredError()
        return keras.losses.CategoricalCrossentropy(
            from_logits=True, label_smoothing=float(self.cfg.label_smoothing)
        )

    def _optimizer(self, keras: Any) -> Any:
        """The config's optimizer with torch's defaults where Keras's differ (epsilon 1e-8);
        weight decay is decoupled for AdamW and an L2 term on the gradients for the others,
        as in torch."""
        cfg, opt = self.cfg, keras.optimizers
        if cfg.optimizer == "adamw":
            return opt.AdamW(
                learning_rate=cfg.lr,
                weight_decay=cfg.weight_decay,
                beta_1=cfg.beta1,
                beta_2=cfg.beta2,
                epsilon=1e-8,
            )
        if cfg.optimizer == "adam":
            return opt.Adam(learning_rate=cfg.lr, beta_1=cfg.beta1, beta_2=cfg.beta2, epsilon=1e-8)
        if cfg.optimizer == "rmsprop":
            return opt.RMSprop(learning_rate=cfg.lr, rho=0.99, momentum=cfg.momentum, epsilon=1e-8)
        return opt.SGD(learning_rate=cfg.lr, momentum=cfg.momentum)

    def _targets(self, y: Any) -> Any:
        if self.regression:
            return y.reshape(-1, 1).astype("float32")
        return self.np.eye(self.out_dim, dtype="float32")[y]

    def _train_step(self, x: Any, y: Any) -> Any:
        """One step in one graph call: the loss, the outputs and the gradient norm; the
        update (clipped, L2 added) is applied only when the loss is finite and below
        divergence_threshold, so a failing step leaves the state as it was (the torch loop
        checks the loss before it steps, too)."""
        import tensorflow as tf

        cfg = self.cfg
        variables = self.model.trainable_variables
        with tf.GradientTape() as tape:
            outputs = self.model(x, training=True)
            loss = self.loss_fn(y, outputs)
        grads = tape.gradient(loss, variables)
        if cfg.weight_decay and cfg.optimizer != "adamw":
            grads = [g + cfg.weight_decay * v for g, v in zip(grads, variables, strict=True)]
        norm = tf.linalg.global_norm(grads)
        if cfg.grad_clip > 0:
            grads, _ = tf.clip_by_global_norm(grads, cfg.grad_clip, use_norm=norm)
        healthy = tf.math.is_finite(loss) & (loss <= cfg.divergence_threshold)

        def step() -> Any:
            self.optimizer.apply_gradients(zip(grads, variables, strict=True))
            return tf.constant(True)

        tf.cond(healthy, step, lambda: tf.constant(False))
        return loss, outputs, norm

    # ---- the loop --------------------------------------------------------------------------
    def _loop(self) -> str:
        import torch

        cfg, np = self.cfg, self.np
        full_batch = self.batch_size == len(self.train_y)
        while self.epoch < cfg.epochs and self.stop_reason is None:
            epoch_number = self.epoch + 1
            epoch_started = time.perf_counter()
            if self.batch_index == 0:
                if self.stop.is_set():
                    self._save_full()
                    return "cancelled"
                self.acc.reset()
                if not full_batch:
                    self.perm = torch.randperm(len(self.train_y), generator=self.generator).numpy()
            while self.batch_index < self.steps_per_epoch:
                if os.getppid() != self.parent:  # the trainer died (killed): end, writing
                    os._exit(1)  # nothing more, as a killed run does; resume continues it
                if self.stop.is_set() and self.batch_index:
                    self._save_full()
                    return "cancelled"
                if full_batch:
                    xb, yb = self.train_x, self.train_y
                else:
                    start = self.batch_index * self.batch_size
                    idx = self.perm[start : start + self.batch_size]
                    xb, yb = self.train_x[idx], self.train_y[idx]
                if self.augment is not None:
                    images = (
                        self.train_images
                        if full_batch
                        else self.train_images[torch.from_numpy(idx)]
                    )
                    xb = channels_last(self.augment(images, self.augment_generator))
                loss, outputs, norm = self._step_fn(xb, self._targets(yb))
                loss_value = float(loss)
                where = f"at epoch {epoch_number}, step {self.step + 1}"
                if not math.isfinite(loss_value):
                    raise _Failure(f"loss became {loss_value} {where}")
                if loss_value > cfg.divergence_threshold:
                    raise _Failure(
                        f"loss diverged to {loss_value:.4g} (above divergence_threshold "
                        f"{cfg.divergence_threshold:g}) {where}"
                    )
                self.step += 1
                self.batch_index += 1
                self.acc.update(
                    torch.from_numpy(np.array(outputs)), torch.from_numpy(yb), loss_value
                )
                self.ema.update(loss_value)
                epoch_end = self.batch_index == self.steps_per_epoch
                if epoch_end or self.step % cfg.log_every == 0:
                    row = {
                        "epoch": epoch_number,
                        "step": self.step,
                        "loss": loss_value,
                        "loss_ema": self.ema.result(),
                        "lr": float(cfg.lr),
                        "grad_norm": float(norm),
                        "timestamp": round(time.time(), 3),
                    }
                    if epoch_end:
                        self._end_epoch(row, epoch_started)
                    else:
                        self._log(row)
                if (
                    self.deadline is not None
                    and time.monotonic() >= self.deadline
                    and self.epoch < cfg.epochs
                    and self.stop_reason is None
                ):
                    self._save_full()
                    self._warn(
                        f"stopped after the {self.timeout:g} s timeout at epoch "
                        f"{self.epoch + (1 if self.batch_index else 0)}, step {self.step}; "
                        "resume to continue"
                    )
                    return "timed_out"
                if epoch_end:
                    break
        self._save_full()
        return "completed"

    def _end_epoch(self, row: dict[str, Any], epoch_started: float) -> None:
        cfg = self.cfg
        self.epoch += 1
        self.batch_index = 0
        stats = self.acc.result()
        if self.epoch % cfg.eval_every == 0 or self.epoch == cfg.epochs:
            stats.update(self._evaluate())
        stats["epoch_time"] = round(time.perf_counter() - epoch_started, 6)
        row.update(stats)
        warning = self.stagnation.update(stats, self.epoch)
        if warning:
            row["warning"] = warning
        self._log(row)
        metrics = {
            "epoch": self.epoch,
            "step": self.step,
            "lr": row["lr"],
            "grad_norm": row["grad_norm"],
            **stats,
        }
        self.metrics.append(metrics)
        self._send("epoch", metrics)
        if warning:
            self._warn(warning)
        last = self.epoch == cfg.epochs or self.stop_reason is not None
        if (cfg.checkpoint_every and self.epoch % cfg.checkpoint_every == 0) or last:
            self._save_weights()
        due = (cfg.resume_every and self.epoch % cfg.resume_every == 0) or (
            not cfg.resume_every and time.monotonic() - self.last_autosave >= AUTOSAVE_SECONDS
        )
        if due and not last:
            self._save_full()

    def _evaluate(self) -> dict[str, float]:
        """The test split's loss and accuracy (or R² and MAE), as the torch trainer names
        them, and its confusion matrix where the family reports one; a new best
        (`keep_best`) and the target (`target_metric`) follow from them."""
        import torch

        from engine.training.best import better_offer, target_reached
        from engine.training.metrics import EpochAccumulator, confusion_matrix

        outputs = self.np.concatenate(
            [self._predict(chunk) for chunk in _chunks(self.test_x, self.eval_chunk)]
        )
        loss = float(self.loss_fn(self._targets(self.test_y), outputs))
        acc = EpochAccumulator(self.regression, target_std=self.target_std)
        logits, targets = torch.from_numpy(outputs), torch.from_numpy(self.test_y)
        acc.update(logits, targets, loss)
        metrics = {f"test_{k[len('train_') :]}": v for k, v in acc.result().items()}
        matrix = None
        if self.confusion and len(targets):
            matrix = confusion_matrix(logits.argmax(-1), targets, self.out_dim)
            self._record_confusion(matrix)
        # The torch trainer's rules and words (engine.training.best).
        better = better_offer(metrics, self.epoch, self.step, matrix, self.best)
        if self.cfg.keep_best and better is not None:
            better.state = {k: torch.from_numpy(a) for k, a in self._weights().items()}
            self.best = better
            self._write_best()
        self.stop_reason = target_reached(metrics, self.cfg.target_metric, self.epoch)
        return metrics

    def _predict(self, x: Any) -> Any:
        return self.np.asarray(self.model(x, training=False))

    def _record_confusion(self, matrix: list[list[int]]) -> None:
        """The evaluation's confusion matrix in metadata.json (and on this epoch's weights
        checkpoint), as the torch trainer keeps it."""
        from engine.training.metrics import classification_report

        self.latest_confusion = (self.epoch, matrix)
        self.meta.classification = classification_report(matrix, self.epoch, self.step)

    def _log(self, row: dict[str, Any]) -> None:
        self.chronicle.append(row)
        self._send("log", row)

    def _warn(self, text: str) -> None:
        if text not in self.warnings:
            self.warnings.append(text)
        self._send("warning", text)

    def _send(self, kind: str, payload: Any) -> None:
        self.events.put((kind, payload))

    # ---- weights and checkpoints -------------------------------------------------------------
    def _weights(self) -> dict[str, Any]:
        return {v.path: self.np.array(v.numpy()) for v in self.model.weights}

    def _weights_sha256(self, weights: dict[str, Any]) -> str:
        from engine.backends.keras_weights import keras_tensors
        from engine.hashing import weights_sha256

        return weights_sha256(keras_tensors(weights))

    def _record(self, entry: dict[str, Any]) -> None:
        from engine.metadata import CheckpointEntry

        record = CheckpointEntry(**entry)
        kept = [c for c in self.meta.checkpoints if c.file != record.file]
        if record.kind == "full":
            from engine.backends.keras_files import full_checkpoints

            names = {p.name for p in full_checkpoints(self.variant.checkpoints_dir)}
            kept = [c for c in kept if c.kind != "full" or c.file in names]
        self.meta.checkpoints = [*kept, record]
        self.meta.epochs_completed, self.meta.steps = self.epoch, self.step
        self.meta.save(self.variant.metadata_path)
        self._send("checkpoint", record.model_dump())

    def _save_weights(self) -> None:
        from engine.backends.keras_files import save_arrays, weights_name

        weights = self._weights()
        path = self.variant.checkpoints_dir / weights_name(self.epoch)
        digest = save_arrays(path, weights, {"epoch": self.epoch, "step": self.step})
        latest = self.latest_confusion
        confusion = latest[1] if latest is not None and latest[0] == self.epoch else None
        self._record(
            {
                "file": path.name,
                "kind": "weights",
                "epoch": self.epoch,
                "step": self.step,
                "sha256": digest,
                "weights_sha256": self._weights_sha256(weights),
                "confusion": confusion,
            }
        )

    def _write_best(self) -> None:
        from engine.backends.keras_files import BEST_FILE, save_arrays
        from engine.metadata import BestRecord

        best = self.best
        assert best is not None
        path = self.variant.checkpoints_dir / BEST_FILE
        weights = {k: t.numpy() for k, t in best.state.items()}
        digest = save_arrays(path, weights, {"epoch": best.epoch, "step": best.step})
        wsha = best.weights_sha256
        self.meta.best = BestRecord(
            metric=best.metric,
            value=best.value,
            test_loss=best.test_loss,
            epoch=best.epoch,
            step=best.step,
            file=BEST_FILE,
            weights_sha256=wsha,
        )
        self._record(
            {
                "file": BEST_FILE,
                "kind": "best",
                "epoch": best.epoch,
                "step": best.step,
                "sha256": digest,
                "weights_sha256": wsha,
                "confusion": best.confusion,
            }
        )

    def _seed_generators(self) -> dict[str, Any]:
        return {
            layer.name: layer.seed_generator
            for layer in self.model.layers
            if getattr(layer, "seed_generator", None) is not None
        }

    def _save_full(self) -> None:
        from engine.backends.keras_files import MODEL_PREFIX, full_name, prune_full, save_arrays
        from engine.training.checkpoints import ChronicleMark

        np = self.np
        self.chronicle.sync()
        weights = self._weights()
        arrays = {f"{MODEL_PREFIX}{k}": a for k, a in weights.items()}
        arrays.update(
            {f"o:{i}": np.array(v.numpy()) for i, v in enumerate(self.optimizer.variables)}
        )
        arrays.update(
            {f"s:{k}": np.array(g.state.numpy()) for k, g in self._seed_generators().items()}
        )
        arrays["rng"] = self.generator.get_state().numpy()
        if self.augment_generator is not None:
            arrays["augment_rng"] = self.augment_generator.get_state().numpy()
        if self.batch_index:
            arrays["perm"] = np.asarray(self.perm)
        if self.best is not None:
            arrays.update({f"b:{k}": t.numpy() for k, t in self.best.state.items()})
        acc = self.acc.state_dict()
        meta = {
            "config_hash": self.variant.config.config_hash,
            "epoch": self.epoch,
            "step": self.step,
            "batch_index": self.batch_index,
            "chronicle_offset": self.chronicle.offset,
            "accumulator": {**acc, "sums": [float(v) for v in acc["sums"].reshape(-1).tolist()]},
            "loss_ema": self.ema.state_dict(),
            "stagnation": self.stagnation.state_dict(),
            "best": None
            if self.best is None
            else {k: v for k, v in self.best.payload().items() if k != "model"},
            "stop_reason": self.stop_reason,
        }
        path = self.variant.checkpoints_dir / full_name(self.epoch, self.step)
        digest = save_arrays(path, arrays, meta)
        prune_full(self.variant.checkpoints_dir)
        self.last_autosave = time.monotonic()
        marks = getattr(self, "_mark", None) or ChronicleMark()
        self._mark = marks
        mark = marks.advance(self.variant.chronicle_path, self.chronicle.offset)
        self._record(
            {
                "file": path.name,
                "kind": "full",
                "epoch": self.epoch,
                "step": self.step,
                "sha256": digest,
                "weights_sha256": self._weights_sha256(weights),
                **mark.record(),
            }
        )

    def _restore(self) -> int:
        """The newest full state that verifies (or a fresh start when there is none); the
        chronicle offset to continue from."""
        import torch

        from engine.backends.keras_files import MODEL_PREFIX, latest_valid_full, remove_full_after
        from engine.training.best import BestState
        from engine.training.chronicle import is_epoch_end, read_chronicle

        v = self.variant
        path, arrays, meta, skipped = latest_valid_full(v.checkpoints_dir, v.config.config_hash)
        for reason in skipped:
            self._warn(f"skipped checkpoint: {reason}")
        if path is None:
            self.meta.checkpoints = []
            return 0
        for variable in self.model.weights:
            variable.assign(arrays[f"{MODEL_PREFIX}{variable.path}"])
        for i, variable in enumerate(self.optimizer.variables):
            variable.assign(arrays[f"o:{i}"])
        for name, generator in self._seed_generators().items():
            generator.state.assign(arrays[f"s:{name}"])
        self.generator.set_state(torch.from_numpy(arrays["rng"]))
        if self.augment_generator is not None:
            self.augment_generator.set_state(torch.from_numpy(arrays["augment_rng"]))
        self.epoch, self.step = int(meta["epoch"]), int(meta["step"])
        self.batch_index = int(meta["batch_index"])
        self.perm = arrays.get("perm")
        acc = dict(meta["accumulator"])
        acc["sums"] = torch.tensor(acc["sums"], dtype=torch.float64)
        self.acc.load_state_dict(acc, torch.device("cpu"))
        self.ema.load_state_dict(meta["loss_ema"])
        self.stagnation.load_state_dict(meta["stagnation"])
        self.stop_reason = meta.get("stop_reason")
        if meta.get("best") is not None:
            weights = {k[2:]: torch.from_numpy(a) for k, a in arrays.items() if k[:2] == "b:"}
            self.best = BestState.from_payload({**meta["best"], "model": weights})
        offset = int(meta["chronicle_offset"])
        self.meta.checkpoints = [
            c for c in self.meta.checkpoints if c.step <= self.step or c.kind == "best"
        ]
        self.metrics = [
            {k: row[k] for k in row if k not in ("loss", "loss_ema", "timestamp", "warning")}
            for row in read_chronicle(v.chronicle_path, limit_bytes=offset)
            if is_epoch_end(row)
        ]
        remove_full_after(v.checkpoints_dir, self.step)
        return offset

    def _export_keras(self) -> None:
        """The final model as a Keras file (checkpoints/model.keras: architecture and
        weights, for `keras.saving.load_model`), with its SHA-256 sidecar, named in
        metadata.json's extra. An export beside the run's own record, not one of its
        checkpoints (those are the .npz files): a failure to write it is a warning."""
        import tempfile
        from pathlib import Path

        from engine.backends.keras_files import KERAS_MODEL_FILE
        from engine.training.checkpoints import write_with_sidecar

        try:
            with tempfile.TemporaryDirectory(dir=self.variant.checkpoints_dir) as folder:
                staged = Path(folder) / KERAS_MODEL_FILE
                self.model.save(staged)
                path = self.variant.checkpoints_dir / KERAS_MODEL_FILE
                digest = write_with_sidecar(path, staged.read_bytes())
        except (OSError, ValueError) as exc:
            self._warn(f"the Keras model file was not written: {exc}")
            return
        self.meta.extra["keras_model"] = {
            "file": KERAS_MODEL_FILE,
            "sha256": digest,
            "weights_sha256": self._weights_sha256(self._weights()),
        }

    # ---- the end -----------------------------------------------------------------------------
    def _finish(self, status: str, error: str | None, duration: float) -> None:
        """metadata.json as the torch trainer leaves it, and the session for the parent."""
        from engine.metadata import now

        meta = self.meta
        meta.status, meta.error_message = status, error  # type: ignore[assignment]
        meta.stop_reason = self.stop_reason if status == "completed" else None
        meta.elapsed_s = round(meta.elapsed_s + duration, 3)
        for warning in self.warnings:
            if warning not in meta.warnings:
                meta.warnings.append(warning)
        if self.metrics:
            last = {k: v for k, v in self.metrics[-1].items() if v is not None}
            last.pop("epoch_time", None)
            meta.final_metrics = last
        weights_sha = None
        if status != "failed" and getattr(self, "model", None) is not None:
            weights_sha = self._weights_sha256(self._weights())
            meta.weights_sha256 = weights_sha
        if status == "completed":
            meta.finished_at = now()
        meta.epochs_completed = getattr(self, "epoch", 0)
        meta.steps = getattr(self, "step", 0)
        meta.save(self.variant.metadata_path)
        self._send(
            "end",
            {
                "status": status,
                "error_message": error,
                "epochs_completed": meta.epochs_completed,
                "steps": meta.steps,
                "metrics": self.metrics,
                "final_metrics": dict(meta.final_metrics),
                "warnings": list(meta.warnings),
                "weights_sha256": weights_sha,
                "stop_reason": meta.stop_reason,
                "effective_lr": meta.effective_lr,
            },
        )
