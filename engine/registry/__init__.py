"""The model registry: published versions of trained variants, their export and import."""
