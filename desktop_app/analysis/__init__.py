"""The Analysis tab: trained variants on disk, their curves overlaid, replay, resume, delete,
and the family's checkpoint analyses.

- `tab`: AnalysisTab (the variant browser, its actions and the curve overlay)
- `analyses_page`: the Analyses page (parameter norm, Fourier components, grokking)
- `workers`: the checkpoint-analysis and replay tasks
- `variant_model`: the variants as a table model, and its filter proxy
- `variant_details`: a variant's config, metadata and checkpoints
"""
