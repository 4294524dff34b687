"""The shared kit of the desktop app: what more than one feature package uses.

Feature packages (`training`, `analysis`, `sweeps`, `distill`, `datasets`, `jobs`) never import
each other; what they share lives here, and `main_window` wires the features together with
signals. Nothing is imported here: each module is imported where it is used, so a feature pays
only for its own (pyqtgraph, for one, is slow to import and waits for the window's first
paint).

- `tasks`: the one way to run background work (Task on a QThread, TaskRunner; RequestTask,
  EpochReporter, and ActiveTask for the one run or sweep an owner has in progress)
- `turns`: the words shown while a task waits for its turn (engine.training.turns)
- `job_store`: the job store (engine.jobs) on a thread of its own; views ask it, in order
- `job_status`: run and job statuses in words and colours ("timed out — resumable")
- `warmup`, `gui_gc`: loading torch after the first paint; garbage collection on the GUI thread
- `preferences`: the user's preferences and their dialog
- `param_widgets`, `param_form`: parameter forms built from ParameterSpecs (with a list mode)
- `family_combo`, `widgets`, `style`, `formatting`: controls, colours and text
- `table_model`, `filter_proxy`: a list-backed table model and its attribute filter proxy
- `curves`, `curve_plots`: epoch curves read in the background, and their overlay plots
"""
