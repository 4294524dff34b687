"""SIGKILL at every write point of a run: the next run finishes it exactly, and leaves no debris.

Each point runs the real CLI (`python -m engine.cli train …`) in a child process through a tiny
wrapper that patches, in that child only, `os.replace`, `os.unlink`, the temp file's writes or
the chronicle's appends to SIGKILL the process at the Nth call of a kind: before or after a
rename, half-way through a write, between the two deletions of a prune. The run is then
recovered by `resume` (or `train --overwrite` where not even config.json was written), and must
end with the uninterrupted run's final weights and chronicle (timestamps aside), and with no
temp file and no orphan sidecar. The recoveries run one after another in a single process
(`engine.cli.main` per variant), to keep the whole module near half a minute.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine.training.chronicle import read_chronicle, stable_fields

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")

FAMILY = "mlp"
ARGS = [
    FAMILY,
    *("-p", "dataset=two_moons", "-p", "hidden_dim=8", "-p", "num_hidden_layers=1"),
    *("-t", "epochs=3", "-t", "resume_every=1", "-t", "checkpoint_every=1", "-t", "threads=1"),
]

# The child: `python -c WRAPPER TRACE_FILE KIND PATTERN N WHEN -- CLI ARGS…`. KIND is replace,
# unlink, write (the temp file's bytes: half of them, then the kill) or chronicle (half a line);
# PATTERN an fnmatch of the file's name (for write: the temp file's); N counts the calls that
# match; WHEN before or after. KIND "none" only traces: every call of every kind, one per line.
WRAPPER = textwrap.dedent(
    """
    import fnmatch, os, signal, sys
    trace, kind, pattern, n, when = sys.argv[1:6]
    argv = sys.argv[sys.argv.index("--") + 1:]
    n = int(n)
    seen = {"count": 0}
    log = open(trace, "a")

    def hit(this_kind, name):
        log.write(f"{this_kind} {name}\\n")
        log.flush()
        if this_kind != kind or not fnmatch.fnmatch(name, pattern):
            return False
        seen["count"] += 1
        return seen["count"] == n

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    real_replace, real_unlink, real_fdopen = os.replace, os.unlink, os.fdopen

    def replace(src, dst, *a, **k):
        fire = hit("replace", os.path.basename(dst))
        if fire and when == "before":
            die()
        real_replace(src, dst, *a, **k)
        if fire:
            die()

    def unlink(path, *a, **k):
        fire = hit("unlink", os.path.basename(path))
        if fire and when == "before":
            die()
        real_unlink(path, *a, **k)
        if fire:
            die()

    class HalfWriter:
        def __init__(self, handle):
            self.handle = handle
        def write(self, data):
            self.handle.write(data[: len(data) // 2])
            self.handle.flush()
            die()
        def __getattr__(self, name):
            return getattr(self.handle, name)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            return self.handle.__exit__(*exc)

    def fdopen(fd, *a, **k):
        handle = real_fdopen(fd, *a, **k)
        try:
            name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            return handle
        return HalfWriter(handle) if hit("write", name) else handle

    os.replace, os.unlink, os.fdopen = replace, unlink, fdopen

    from engine.training import chronicle
    real_append = chronicle.ChronicleWriter.append

    def append(self, row):
        if hit("chronicle", self.path.name):
            import json
            data = (json.dumps(row, separators=(",", ":")) + "\\n").encode()
            self._file.write(data[: len(data) // 2])
            self._file.flush()
            die()
        real_append(self, row)

    chronicle.ChronicleWriter.append = append

    from engine.cli import main
    sys.exit(main(argv))
    """
)

# Recovers every killed home in one process: `python -c RECOVER JOBS_JSON`, each job
# {"argv": […], "out": path}; the CLI's stdout goes to `out`, its exit code after it.
RECOVER = textwrap.dedent(
    """
    import contextlib, io, json, sys
    from engine.cli import main
    for job in json.load(open(sys.argv[1])):
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()) as err:
            try:
                code = main(job["argv"])
            except BaseException as exc:
                code, err = 99, io.StringIO(repr(exc))
        with open(job["out"], "w") as out:
            json.dump({"code": code, "stdout": buffer.getvalue(), "stderr": err.getvalue()}, out)
    """
)

# (id, kind, pattern, occurrence (-1: the last), when, how the variant is recovered)
POINTS = [
    ("config-before-rename", "replace", "config.json", 1, "before", "train"),
    ("config-written-metadata-not", "replace", "config.json", 1, "after", "resume"),
    ("first-metadata-before-rename", "replace", "metadata.json", 1, "before", "resume"),
    ("first-weights-half-written", "write", ".weights_e0000000.pt.*.tmp", 1, "", "resume"),
    ("weights-before-sidecar", "replace", "weights_e0000001.pt", 1, "after", "resume"),
    ("first-full-before-sidecar", "replace", "state_e0000001_*.pt", 1, "after", "resume"),
    ("first-full-not-recorded", "replace", "state_e0000001_*.pt.sha256", 1, "after", "resume"),
    ("second-full-half-written", "write", ".state_e0000002_*.pt.*.tmp", 1, "", "resume"),
    ("chronicle-line-torn", "chronicle", "chronicle.jsonl", 5, "", "resume"),
    ("mid-prune", "unlink", "state_e0000001_*.pt", 1, "after", "resume"),
    ("final-weights-before-rename", "replace", "weights_e0000003.pt", 1, "before", "resume"),
    ("final-metadata-before-rename", "replace", "metadata.json", -1, "before", "resume"),
]


def _child(home: Path, trace: Path, kind: str, pattern: str, n: int, when: str, *args: str):
    command = [sys.executable, "-c", WRAPPER, str(trace), kind, pattern, str(n), when, "--"]
    return subprocess.run(
        [*command, "--home", str(home), *args], capture_output=True, text=True, timeout=120
    )


def _variant_dir(home: Path) -> Path:
    (directory,) = (home / "variants" / FAMILY).iterdir()
    return directory


def _debris(directory: Path) -> list[str]:
    """Temp files anywhere in the variant, and sidecars without their checkpoint."""
    found = [p.name for p in directory.rglob("*.tmp")]
    for sidecar in directory.glob("checkpoints/*.sha256"):
        if not sidecar.with_name(sidecar.name.removesuffix(".sha256")).exists():
            found.append(sidecar.name)
    return found


def _stable_chronicle(directory: Path) -> list[dict]:
    return [stable_fields(row) for row in read_chronicle(directory / "chronicle.jsonl")]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    """Every point killed, then recovered: {id: (reference, recovery result, directory)}."""
    root = tmp_path_factory.mktemp("faults")
    trace = root / "reference.trace"
    done = _child(root / "reference", trace, "none", "", 0, "", "train", *ARGS, "--json")
    assert done.returncode == 0, done.stderr
    reference = json.loads(done.stdout)
    calls = trace.read_text().splitlines()

    def occurrence(kind: str, pattern: str, n: int) -> int:
        import fnmatch

        matching = [c for c in calls if c.split(" ", 1)[0] == kind]
        matching = [c for c in matching if fnmatch.fnmatch(c.split(" ", 1)[1], pattern)]
        assert matching, f"the reference run never made a {kind} call matching {pattern}"
        return len(matching) if n == -1 else n

    def kill(point):
        name, kind, pattern, n, when, _recovery = point
        home = root / name
        result = _child(
            home, root / f"{name}.trace", kind, pattern, occurrence(kind, pattern, n), when,
            "train", *ARGS, "--json",
        )  # fmt: skip
        assert result.returncode == -signal.SIGKILL, (name, result.returncode, result.stderr)
        return home

    with ThreadPoolExecutor(max_workers=3) as pool:
        homes = dict(zip([p[0] for p in POINTS], pool.map(kill, POINTS), strict=True))

    jobs = []
    for name, *_, recovery in POINTS:
        home = homes[name]
        argv = ["--home", str(home)]
        if recovery == "train":
            argv += ["train", *ARGS, "--overwrite", "--json"]
        else:
            argv += ["resume", reference["variant"], "--json"]
        jobs.append({"argv": argv, "out": str(root / f"{name}.out")})
    (root / "jobs.json").write_text(json.dumps(jobs))
    subprocess.run(
        [sys.executable, "-c", RECOVER, str(root / "jobs.json")], check=True, timeout=300
    )
    return {
        name: (reference, json.loads((root / f"{name}.out").read_text()), homes[name])
        for name, *_ in POINTS
    }


@pytest.mark.parametrize("point", [p[0] for p in POINTS])
def test_a_run_killed_at_a_write_point_finishes_exactly_and_leaves_no_debris(outcomes, point):
    reference, recovered, home = outcomes[point]
    assert recovered["code"] == 0, recovered
    assert "Traceback" not in recovered["stderr"]
    result = json.loads(recovered["stdout"])
    assert result["status"] == "completed"
    assert result["weights_sha256"] == reference["weights_sha256"]
    directory = _variant_dir(home)
    ref_dir = Path(reference["path"])
    assert _stable_chronicle(directory) == _stable_chronicle(ref_dir)  # no gap, no duplicate
    assert _debris(directory) == []
    assert sorted(p.name for p in (directory / "checkpoints").iterdir()) == sorted(
        p.name for p in (ref_dir / "checkpoints").iterdir()
    )
    meta = json.loads((directory / "metadata.json").read_text())
    assert meta["status"] == "completed"
