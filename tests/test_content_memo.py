"""Content hashes are remembered per file signature: recomputed when a file changed on disk
(even rewritten in place with the same size and modification time), not otherwise."""

from __future__ import annotations

import os

from engine.datasets.content_memo import remembered_hash, tree_signature


def test_a_hash_is_computed_once_while_the_files_are_unchanged(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n", encoding="utf-8")
    calls = []

    def compute():
        calls.append(1)
        return table.read_text()

    assert remembered_hash([table], compute) == "a,b\n1,2\n"
    assert remembered_hash([table], compute) == "a,b\n1,2\n"
    assert len(calls) == 1


def test_an_in_place_rewrite_with_the_old_size_and_mtime_is_noticed(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("a,b\n1,2\n", encoding="utf-8")
    before = os.stat(table)
    remembered_hash([table], table.read_text)
    table.write_text("a,b\n3,4\n", encoding="utf-8")  # same size
    os.utime(table, ns=(before.st_atime_ns, before.st_mtime_ns))  # and the old mtime
    assert remembered_hash([table], table.read_text) == "a,b\n3,4\n"  # ctime gave it away


def test_a_tree_signature_changes_when_a_file_is_added_removed_or_rewritten(tmp_path):
    (tmp_path / "cats").mkdir()
    (tmp_path / "cats" / "a.png").write_bytes(b"1")
    first = tree_signature(tmp_path)
    assert tree_signature(tmp_path) == first
    (tmp_path / "cats" / "b.png").write_bytes(b"2")
    second = tree_signature(tmp_path)
    assert second != first
    (tmp_path / "cats" / "a.png").write_bytes(b"3")
    assert tree_signature(tmp_path) != second
    (tmp_path / "cats" / "b.png").unlink()
    assert len(tree_signature(tmp_path)) == 1
