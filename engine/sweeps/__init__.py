"""Sweeps: a family, fixed values, and lists for some parameters; every combination trained.

    from engine.sweeps import validate_sweep_list, plan_sweep, sweep
    validate_sweep_list("epochs", "0,10")          # ok=False, "Epoch out of range (1-500): 0"
    record = sweep(ws, "mlp", {"epochs": "10, 50", "lr": "1e-3, 3e-3"},
                   on_progress=lambda done, total: ...)
    record.rows  # one SweepRow per combination, in order

Stored under `<home>/sweeps/<id>/sweep.json`; `run_sweep(ws, id)` resumes a stopped one.
"""

from engine.sweeps.errors import SweepError
from engine.sweeps.plan import (
    MAX_COMBINATIONS,
    SweepPlan,
    SweepSpec,
    combinations,
    count_combinations,
    is_range_text,
    parse_grid,
    plan_sweep,
    validate_sweep_range,
)
from engine.sweeps.runner import (
    create_sweep,
    list_sweeps,
    load_sweep,
    run_combination,
    run_sweep,
    sweep,
)
from engine.sweeps.schema import (
    SweepParameter,
    SweepValues,
    sweep_label,
    sweep_schema,
    validate_sweep_list,
)
from engine.sweeps.store import NA, SweepRecord, SweepRow, SweepSummary

__all__ = [
    "MAX_COMBINATIONS",
    "NA",
    "SweepError",
    "SweepParameter",
    "SweepPlan",
    "SweepRecord",
    "SweepRow",
    "SweepSpec",
    "SweepSummary",
    "SweepValues",
    "combinations",
    "count_combinations",
    "create_sweep",
    "is_range_text",
    "list_sweeps",
    "load_sweep",
    "parse_grid",
    "plan_sweep",
    "run_combination",
    "run_sweep",
    "sweep",
    "sweep_label",
    "sweep_schema",
    "validate_sweep_list",
    "validate_sweep_range",
]
