"""A sweep whose runs have a `timeout`: a run stopped at its limit is recorded `timed_out`, the
sweep goes on with the next combination, and resuming the sweep finishes the stopped runs."""

from __future__ import annotations

from engine.sweeps import create_sweep, load_sweep, run_sweep


def test_timed_out_runs_do_not_stop_the_sweep_and_resume_with_it(workspace):
    grid = {"hidden_dim": "8,16"}
    record = create_sweep(
        workspace,
        "mlp",
        grid,
        {"num_hidden_layers": 1},
        {"epochs": 3, "batch_size": 0, "timeout": 1e-6},
    )
    first = run_sweep(workspace, record.id)
    assert [r.result for r in first.rows] == ["timed_out", "timed_out"]  # both were started
    assert first.status == "cancelled"  # not finished: resumable
    assert load_sweep(workspace, record.id).counts()["timed_out"] == 2  # stored and read back

    for _ in range(10):  # a 1 µs limit allows one step (here one epoch) per session
        record = run_sweep(workspace, record.id)
        if record.status == "completed":
            break
    assert record.status == "completed"
    assert [r.result for r in record.rows] == ["completed", "completed"]
