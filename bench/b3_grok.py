"""B3 — time to grok: modular addition p = 113 with the reference recipe (Nanda et al. 2023).

Default mode, side by side in one run (A B A B): ms per epoch of the engine (Trainer, fast
last-position `forward`, test evaluation every epoch) against a plain reference loop that
computes every position the way the TransformerLens grokking demo does (written out below),
also with a test evaluation every epoch. Also: the achieved GFLOP/s of one engine training
step against this machine's fp32 matmul peak (a large torch.mm), and the fast path's logits
against the full computation.

--full trains to the epoch where test accuracy first reaches 99% (a callback cancels the run
there) and reports that epoch, the wall time, ms per epoch and peak RSS; --grokfast picks the
gradient filter(s) to compare, each run in its own process so its peak RSS is its own.

    .venv/bin/python bench/b3_grok.py                         # ms/epoch side by side, ~5 min
    .venv/bin/python bench/b3_grok.py --quick                 # seconds (CI)
    nohup .venv/bin/python bench/b3_grok.py --full --grokfast off,ema > grok.log 2>&1 &
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as C
import torch
import torch.nn.functional as F

from engine.models.transformer import OneLayerTransformer
from engine.training.callbacks import Callback
from engine.training.trainer import default_threads

TARGET = 0.6
GROKKED = 0.99


# ---- the reference: every position, the plain way ----------------------------------------------
def reference_logits(m: OneLayerTransformer, tokens: torch.Tensor) -> torch.Tensor:
    """Logits at all 3 positions, as the TransformerLens demo's 1-layer model computes them."""
    n, pos = tokens.shape
    resid = m.W_E[tokens] + m.W_pos[:pos]  # [n, pos, d]
    q = torch.einsum("npd,hde->nhpe", resid, m.W_Q)
    k = torch.einsum("npd,hde->nhpe", resid, m.W_K)
    v = torch.einsum("npd,hde->nhpe", resid, m.W_V)
    scores = torch.einsum("nhqe,nhke->nhqk", q, k) / math.sqrt(m.d_head)
    causal = torch.triu(torch.ones(pos, pos, dtype=torch.bool), diagonal=1)
    pattern = scores.masked_fill(causal, float("-inf")).softmax(dim=-1)
    z = torch.einsum("nhqk,nhke->nqhe", pattern, v).reshape(n, pos, m.n_heads * m.d_head)
    resid = resid + z @ m.W_O
    resid = resid + F.relu(resid @ m.W_in + m.b_in) @ m.W_out + m.b_out
    return resid @ m.W_U  # [n, pos, p]; the loss reads the last position


def reference_run(
    w: C.Workload, n_threads: int, epochs: int | None = None
) -> tuple[OneLayerTransformer, dict[str, float]]:
    t, d = w.config.training, w.config.domain
    with C.threads(n_threads):
        torch.manual_seed(d["seed"])
        model = OneLayerTransformer(d["prime"], d["d_model"], d["n_heads"], d["d_mlp"])
        train_x, train_y, test_x, test_y = C.modular_addition_split(
            d["prime"], t.training_fraction, t.data_seed
        )
        opt = torch.optim.AdamW(
            model.parameters(), lr=t.lr, betas=(t.beta1, t.beta2), weight_decay=t.weight_decay
        )
        for _ in range(epochs or t.epochs):
            logits = reference_logits(model, train_x)[:, -1]
            loss = F.cross_entropy(logits.to(torch.float64), train_y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.inference_mode():
                test_logits = reference_logits(model, test_x)[:, -1]
                test_loss = F.cross_entropy(test_logits.to(torch.float64), test_y).item()
                test_acc = (test_logits.argmax(-1) == test_y).float().mean().item()
    return model, {"train_loss": loss.item(), "test_loss": test_loss, "test_accuracy": test_acc}


# ---- FLOPs and the machine's peak -----------------------------------------------------------
def matmul_peak(n_threads: int, size: int, reps: int = 5) -> float:
    """fp32 GFLOP/s of a large square torch.mm: the best of `reps` (the machine is shared)."""
    with C.threads(n_threads):
        a, b = torch.randn(size, size), torch.randn(size, size)
        a @ b
        best = math.inf
        for _ in range(reps):
            start = time.perf_counter()
            a @ b
            best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def step_flops_and_time(
    w: C.Workload, n_threads: int, forward: str, steps: int
) -> tuple[float, float]:
    """Matmul FLOPs of one full-batch training step (FlopCounterMode) and its median time."""
    from torch.utils.flop_counter import FlopCounterMode

    t, d = w.config.training, w.config.domain
    with C.threads(n_threads):
        torch.manual_seed(d["seed"])
        m = OneLayerTransformer(d["prime"], d["d_model"], d["n_heads"], d["d_mlp"])
        x, y, _, _ = C.modular_addition_split(d["prime"], t.training_fraction, t.data_seed)
        opt = torch.optim.AdamW(
            m.parameters(), lr=t.lr, betas=(t.beta1, t.beta2), weight_decay=t.weight_decay
        )
        logits_of = m if forward == "fast" else (lambda tok: reference_logits(m, tok)[:, -1])

        def step() -> None:
            loss = F.cross_entropy(logits_of(x).to(torch.float64), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

        counter = FlopCounterMode(display=False)
        with counter:
            step()
        times = []
        for _ in range(steps):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
    return counter.get_total_flops(), C.median(times)


def fast_path_error(p: int) -> float:
    torch.manual_seed(999)
    m = OneLayerTransformer(p)
    a = torch.arange(p).repeat_interleave(p)
    b = torch.arange(p).repeat(p)
    x = torch.stack([a, b, torch.full_like(a, p)], dim=1)
    with torch.no_grad():
        return (m(x) - reference_logits(m, x)[:, -1]).abs().max().item()


# ---- side by side -------------------------------------------------------------------------------
def side_by_side(args: argparse.Namespace) -> int:
    n = args.threads
    chunk, pairs = (2, 1) if args.quick else (args.epochs, args.pairs)
    p = 31 if args.quick else 113  # --quick only keeps the script working
    print(f"B3 ms/epoch on {C.machine()}; load average {C.load_average()}")
    print(
        f"modulo addition p={p}, reference recipe, test eval every epoch; {pairs} pairs of "
        f"{chunk}-epoch runs (engine A, reference B); torch threads {n} for both"
    )
    with C.temp_home() as home:
        w = C.modulo_workload(epochs=chunk, p=p)
        runner = C.EngineRunner(home, w)
        runner.run(n)  # warm-up, both sides
        reference_run(w, n, epochs=1)
        engine_ms, ref_ms, ratios = [], [], []
        for i in range(pairs):
            te, _trainer, session = runner.run(n)
            tr, (_m, stats) = C.timed(lambda: reference_run(w, n))
            engine_ms.append(1e3 * te / chunk)
            ref_ms.append(1e3 * tr / chunk)
            ratios.append(te / tr)
            print(
                f"  pair {i + 1}: engine {engine_ms[-1]:8.1f} ms/epoch   reference "
                f"{ref_ms[-1]:8.1f} ms/epoch   ratio {ratios[-1]:.3f}"
            )
        last = session.metrics[-1]
        print(
            f"  after {chunk} epochs: engine train loss {last.train_loss:.6g}, test acc "
            f"{last.test_accuracy:.4f}; reference train loss {stats['train_loss']:.6g}, "
            f"test acc {stats['test_accuracy']:.4f} (the same math, rounded differently)"
        )
    me, mr, ratio = C.median(engine_ms), C.median(ref_ms), C.median(ratios)
    print(f"  median: engine {me:.1f} ms/epoch, reference {mr:.1f} ms/epoch")

    size, steps = (1024, 2) if args.quick else (2048, 10)
    peak = matmul_peak(n, size)
    flops, seconds = step_flops_and_time(w, n, "fast", steps)
    ref_flops, ref_seconds = step_flops_and_time(w, n, "reference", max(2, steps // 3))
    print(
        f"  fp32 matmul peak (torch.mm {size}x{size}, best of 5, {n} thread(s)): {peak:.1f} GFLOP/s"
    )
    for name, f, s in (("engine", flops, seconds), ("reference", ref_flops, ref_seconds)):
        print(
            f"  one {name} training step: {f / 1e9:.2f} GFLOP of matmuls (FlopCounterMode) in "
            f"{1e3 * s:.1f} ms = {f / s / 1e9:.1f} GFLOP/s, {100 * f / s / 1e9 / peak:.0f}% of peak"
        )
    print(
        f"  fast forward vs full computation, p={p} at init: max |Δlogit| = {fast_path_error(p):.2e}"
    )
    verdict = "met" if ratio <= TARGET else "MISSED"
    if args.quick:
        verdict = "no verdict in --quick (p=31)"
    print(
        f"RATIO B3 engine/reference ms per epoch = {ratio:.3f} (median of {pairs} pairs; "
        f"target <= {TARGET}: {verdict})"
    )
    return 0


# ---- time to grok -------------------------------------------------------------------------------
class StopWhenGrokked(Callback):
    """Cancels the run at the end of the first epoch with test accuracy >= 99%."""

    def __init__(self, cancel: threading.Event, every: int = 500) -> None:
        self.cancel, self.every = cancel, every
        self.train_epoch: int | None = None
        self.test_epoch: int | None = None
        self.started = time.perf_counter()

    def on_epoch_end(self, metrics) -> None:
        if self.train_epoch is None and (metrics.train_accuracy or 0) >= GROKKED:
            self.train_epoch = metrics.epoch
        if metrics.epoch % self.every == 0:
            elapsed = time.perf_counter() - self.started
            print(
                f"    epoch {metrics.epoch:6d}  train loss {metrics.train_loss:.3e}  test loss "
                f"{metrics.test_loss:.3e}  test acc {metrics.test_accuracy:.4f}  {elapsed:7.0f} s",
                flush=True,
            )
        if (metrics.test_accuracy or 0) >= GROKKED:
            self.test_epoch = metrics.epoch
            self.cancel.set()


def grok_once(grokfast: str, n_threads: int, max_epochs: int, out: Path) -> None:
    """One run to the grokking epoch in this process; writes its result as JSON to `out`."""
    training = {"epochs": max_epochs}
    if grokfast != "off":
        training["grokfast"] = grokfast
    with C.temp_home() as home:
        w = C.modulo_workload(epochs=max_epochs)
        w.training = training
        runner = C.EngineRunner(home, w)
        cancel = threading.Event()
        stopper = StopWhenGrokked(cancel)
        seconds, _trainer, session = runner.run(n_threads, [stopper], cancel)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if sys.platform == "darwin":
        peak_kib //= 1024
    epochs = session.epochs_completed
    result = {
        "grokfast": grokfast,
        "threads": n_threads,
        "status": session.status,
        "epochs_run": epochs,
        "train_acc_99_epoch": stopper.train_epoch,
        "test_acc_99_epoch": stopper.test_epoch,
        "wall_s": round(seconds, 1),
        "ms_per_epoch": round(1e3 * seconds / max(1, epochs), 1),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "final": session.metrics[-1].model_dump(exclude_none=True) if session.metrics else {},
        "machine": C.machine(),
    }
    out.write_text(json.dumps(result, indent=2))


def full(args: argparse.Namespace) -> int:
    print(f"B3 time to grok on {C.machine()}; load average {C.load_average()}", flush=True)
    results = []
    for mode in args.grokfast.split(","):
        print(f"  grokfast={mode}: training until test accuracy >= 99% ...", flush=True)
        out = Path(args.results_dir) / f"b3_grok_{mode}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            __file__,
            "--_one",
            mode,
            "--threads",
            str(args.threads),
            "--max-epochs",
            str(args.max_epochs),
            "--_out",
            str(out),
        ]
        subprocess.run(cmd, check=True)
        results.append(json.loads(out.read_text()))
    print("  grokfast  test≥99% epoch  train≥99% epoch  wall       ms/epoch  peak RSS")
    for r in results:
        print(
            f"  {r['grokfast']:8s}  {r['test_acc_99_epoch'] or 'not reached':>14}  "
            f"{r['train_acc_99_epoch'] or '-':>15}  {r['wall_s'] / 60:6.1f} min  {r['ms_per_epoch']:8.1f}  "
            f"{r['peak_rss_mib']:.0f} MiB"
        )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="2-epoch runs, one pair (CI)")
    parser.add_argument("--full", action="store_true", help="train to test accuracy >= 99%%")
    parser.add_argument("--grokfast", default="off,ema", help="--full: filters to run (off,ema,ma)")
    parser.add_argument("--max-epochs", type=int, default=25_000, help="--full: give up after this")
    parser.add_argument(
        "--results-dir",
        default=str(Path(tempfile.gettempdir()) / "trainwright-bench"),
        help="--full: where each run's JSON result goes",
    )
    parser.add_argument("--epochs", type=int, default=50, help="epochs per side-by-side run")
    parser.add_argument("--pairs", type=int, default=4, help="A B pairs (default 4)")
    parser.add_argument("--threads", type=int, default=default_threads(), help="torch threads")
    parser.add_argument("--_one", help=argparse.SUPPRESS)
    parser.add_argument("--_out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._one:
        grok_once(args._one, args.threads, args.max_epochs, Path(args._out))
        return 0
    return full(args) if args.full else side_by_side(args)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
