from __future__ import annotations

import contextlib
import hashlib
import os

from engine.atomic import atomic_write_bytes, atomic_write_json


def test_atomic_write_returns_the_sha256_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "a" / "file.bin"
    digest = atomic_write_bytes(target, b"hello")
    assert digest == hashlib.sha256(b"hello").hexdigest()
    assert target.read_bytes() == b"hello"
    assert os.listdir(target.parent) == ["file.bin"]


def test_a_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "d" / "config.json"
    atomic_write_json(target, {"v": 1})

    def boom(*_args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with contextlib.suppress(OSError):
        atomic_write_json(target, {"v": 2})
    assert '"v": 1' in target.read_text()
    assert os.listdir(target.parent) == ["config.json"]
