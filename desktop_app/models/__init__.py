"""The Models tab: published models and their versions (the registry of engine.registry),
publishing a variant, exporting and importing versions, and trying one on the user's data."""
