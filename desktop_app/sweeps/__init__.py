"""The Sweeps tab: lists for some parameters, every combination trained, the runs compared.

- `panel`: SweepPanel (running a sweep, its progress, the runs and their curves)
- `editor`: SweepEditor (family, the list-mode forms, the live count and estimate)
- `past_sweeps`: the stored sweeps, to reopen or resume
- `workers`: the sweep's task, and the estimate's task
- `runs_model`: the runs of a sweep as a table model, and its filter proxy
"""
