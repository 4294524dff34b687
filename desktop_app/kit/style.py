"""The app's few colours, as style sheets: one definition each, so every view matches."""

from __future__ import annotations

ERROR_STYLE = "color: #b3261e;"  # an error message beside what it is about
OK_STYLE = "color: #1b5e20;"  # a success worth noticing
NOTE_STYLE = "color: palette(mid);"  # a footnote
