"""A small trained teacher for the distillation and strategy tests, trained once per module."""

from __future__ import annotations

import shutil
from pathlib import Path

TEACHER_DOMAIN = {"dataset": "two_moons", "hidden_dim": 32, "num_hidden_layers": 2}
TEACHER_TRAINING = {"epochs": 10, "threads": 1}
STUDENT_DOMAIN = {"hidden_dim": 16, "num_hidden_layers": 2}  # 354 weights vs 1,218
STUDENT_TRAINING = {"epochs": 10, "threads": 1}


def train_teacher(home: Path) -> str:
    from engine.workspace import Workspace

    ws = Workspace(home)
    variant = ws.create_variant("mlp", TEACHER_DOMAIN, TEACHER_TRAINING)
    session = ws.train(variant)
    assert session.status == "completed", session.error_message
    return variant.name


def copy_variant(src_home: Path, dst_home: Path, name: str, family: str = "mlp") -> None:
    source = Path(src_home) / "variants" / family / name
    shutil.copytree(source, Path(dst_home) / "variants" / family / name)
