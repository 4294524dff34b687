"""The Training tab: parameter forms, the run in progress and its queue, live plots, chronicle.

- `tab`: TrainingTab (forms, variant state, run controls)
- `chronicle_view`: the chronicle table, its row count and CSV export, linked to the plots
- `controller`: RunController and the TrainingWorker task that trains off the GUI thread
- `run_queue`: RunRequest and the queue of runs waiting their turn
- `plots`: the live training curves (pyqtgraph, built after the first paint)
- `chronicle_model`: the chronicle as a table model
"""
