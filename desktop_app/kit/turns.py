"""Runs in this process take turns (engine.training.turns): what the window says meanwhile.

The Training tab's runs, a sweep's combinations and a distillation's student all train in
this process, one at a time. A task about to train calls `engine.training.turns.wait_for_turn`
and, while another run holds the turn, its view shows WAITING_TEXT; a Stop still ends the wait.
"""

from __future__ import annotations

WAITING_TEXT = "Waiting for the current run to finish (runs in this app take turns)…"
