"""The Datasets tab: the dataset library (built-in and imported), imports, previews, and
"Train on this" (carried to the Training tab by the main window).

- `tab`: the tab itself (table, filters, actions, drag and drop)
- `library_model`: the library's rows, table model and filter proxy
- `import_panel`: the import queue, its progress and Cancel, and the tab's message line
- `preview`: a table's first rows with the target picker, or thumbnails per class
- `workers`: the background tasks (list, built-in sizes, import, preview, usage, delete)
"""
