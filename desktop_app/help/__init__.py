"""Help: the keyboard shortcuts sheet (F1), from the one table the window's keys are read
from, and the Quick start page."""
