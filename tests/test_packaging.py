"""Packaging: the PyInstaller spec, the .deb templates, the icons, and the self-test.

The fast tests always run. Building the bundle takes minutes (torch is large), so that test is
marked slow and runs only with TRAINWRIGHT_PACKAGING_TESTS=1: it runs packaging/build-linux and
then the frozen app's `--self-test`.
"""

from __future__ import annotations

import ast
import configparser
import fnmatch
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "trainwright.spec"
ICONS = ROOT / "resources" / "icons"
DESKTOP = PACKAGING / "linux" / "trainwright.desktop"
CONTROL = PACKAGING / "linux" / "control.in"
PNG_SIZES = (16, 32, 48, 64, 128, 256, 512)
QT_XCB_LIBRARIES = {
    "libxcb-cursor0",
    "libxcb-icccm4",
    "libxcb-keysyms1",
    "libxcb-shape0",
    "libxkbcommon-x11-0",
    "libgl1",
    "libegl1",
    "libfontconfig1",
    "libdbus-1-3",
}


def _version() -> str:
    from engine import _version

    return _version.__version__


def _subprocess_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env["TRAINWRIGHT_HOME"] = str(home)
    return env


# ---- the spec -------------------------------------------------------------------------------
def _spec_tree() -> ast.Module:
    return ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))


def _spec_calls(tree: ast.Module) -> dict[str, list[ast.Call]]:
    calls: dict[str, list[ast.Call]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            calls.setdefault(node.func.id, []).append(node)
    return calls


def _spec_list(tree: ast.Module, name: str) -> list[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not a literal list in {SPEC}")


def test_spec_parses_and_collects_resources_and_engine():
    tree = _spec_tree()
    calls = _spec_calls(tree)
    for builder in ("Analysis", "PYZ", "EXE", "COLLECT", "BUNDLE"):
        assert builder in calls, f"the spec has no {builder}(...)"
    collected = {ast.literal_eval(c.args[0]) for c in calls["collect_data_files"]}
    assert "resources" in collected
    submodules = {ast.literal_eval(c.args[0]) for c in calls["collect_submodules"]}
    assert {"engine", "desktop_app"} <= submodules
    (exe,) = calls["EXE"]
    assert any(k.arg == "name" for k in exe.keywords)
    # the app's entry script exists
    assert (PACKAGING / "launcher.py").is_file()
    text = SPEC.read_text(encoding="utf-8")
    assert '"launcher.py"' in text
    assert 'engine" / "_version.py' in text  # the macOS bundle version, from one place


def test_spec_trimming_keeps_every_resource_and_needed_module():
    tree = _spec_tree()
    dropped = _spec_list(tree, "DROPPED_FILES")
    excluded = _spec_list(tree, "EXCLUDED_MODULES") + [
        f"PySide6.{m}" for m in _spec_list(tree, "EXCLUDED_QT")
    ]
    for path in (ROOT / "resources").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            dest = path.relative_to(ROOT).as_posix()
            hits = [p for p in dropped if fnmatch.fnmatch(dest, p)]
            assert not hits, f"{dest} would be dropped by {hits}"
    for needed in ("PySide6.QtCore", "PySide6.QtGui", "PySide6.QtWidgets", "PySide6.QtSvg"):
        assert needed not in excluded
    for needed in ("torch", "torch.testing", "numpy", "pydantic", "pyqtgraph", "sympy"):
        assert needed not in excluded
    assert {"PySide6.QtWebEngineCore", "PySide6.QtQuick", "PySide6.QtQml", "tensorboard"} <= set(
        excluded
    )
    # the optional extras stay out of the packaged app
    assert {"onnxruntime", "optuna", "ray", "tensorflow", "keras"} <= set(excluded)
    for pattern in ("torch/include/*", "torch/share/*", "*/tests/*"):
        assert pattern in dropped


def test_pyinstaller_would_collect_the_resources():
    hooks = pytest.importorskip("PyInstaller.utils.hooks", reason="pyinstaller not installed")
    datas = hooks.collect_data_files("resources", excludes=["**/__pycache__", "**/*.pyc"])
    dests = {
        (Path(dest) / Path(src).name).as_posix() for src, dest in datas if "__pycache__" not in src
    }
    for expected in (
        "resources/families/modulo_addition_1layer/family.json",
        "resources/families/mlp/family.json",
        "resources/datasets/iris.csv",
        "resources/icons/trainwright.svg",
        "resources/icons/trainwright-256.png",
    ):
        assert expected in dests


def test_spec_version_matches_engine_version():
    text = SPEC.read_text(encoding="utf-8")
    pattern = re.search(r"r'(__version__[^']+)'", text).group(1)
    source = (ROOT / "engine" / "_version.py").read_text(encoding="utf-8")
    assert re.search(pattern, source).group(1) == _version()


# ---- the build script -----------------------------------------------------------------------
def test_build_script_is_valid_bash_and_reads_the_version_from_one_place():
    script = PACKAGING / "build-linux"
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True)
    text = script.read_text(encoding="utf-8")
    assert "engine/_version.py" in text
    assert "pyinstaller>=6.10" in text
    assert "dpkg-deb" in text and "--root-owner-group" in text
    assert "/opt/trainwright" in text and "/usr/bin/trainwright" in text
    assert "hicolor" in text
    subprocess.run(["bash", "-n", str(PACKAGING / "linux" / "install-desktop-entry")], check=True)


# ---- the .desktop entry and the control file ------------------------------------------------
def test_desktop_entry_is_valid():
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(DESKTOP, encoding="utf-8")
    assert parser.sections() == ["Desktop Entry"]
    entry = parser["Desktop Entry"]
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Trainwright"
    assert entry["Exec"].split()[0] == "trainwright"
    assert entry["Icon"] == "trainwright"
    assert entry["Terminal"] == "false"
    assert entry["Categories"].endswith(";")
    assert "Science" in entry["Categories"].split(";")
    validator = shutil.which("desktop-file-validate")
    if validator:
        result = subprocess.run([validator, str(DESKTOP)], capture_output=True, text=True)
        assert result.returncode == 0 and "error" not in result.stdout.lower(), result.stdout


def _control_fields(text: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    key = None
    for line in text.splitlines():
        assert line.strip(), "blank line inside the control paragraph"
        if line[0] in " \t":
            assert key is not None, "continuation line before any field"
            fields[key] += "\n" + line
            continue
        assert re.match(r"^[A-Za-z][A-Za-z0-9-]*: ?", line), f"not a field: {line!r}"
        key, _, value = line.partition(":")
        assert key not in fields, f"{key} twice"
        fields[key] = value.strip()
    return fields


def _filled_control() -> str:
    text = CONTROL.read_text(encoding="utf-8")
    return (
        text.replace("@VERSION@", _version())
        .replace("@ARCH@", "amd64")
        .replace("@INSTALLED_SIZE@", "123456")
        .replace("@LIBC_MIN@", "2.36")
    )


def test_control_template_is_valid():
    fields = _control_fields(_filled_control())
    for required in ("Package", "Version", "Architecture", "Maintainer", "Description"):
        assert fields.get(required), f"control has no {required}"
    assert fields["Package"] == "trainwright"
    assert fields["Version"] == _version()
    assert re.match(r"^[0-9][A-Za-z0-9.+~-]*$", fields["Version"])
    assert re.match(r"^.+ <[^@ ]+@[^@ ]+>$", fields["Maintainer"])
    depends = {
        alternative.strip().split()[0]
        for clause in fields["Depends"].split(",")
        for alternative in clause.split("|")
    }
    assert depends >= QT_XCB_LIBRARIES, QT_XCB_LIBRARIES - depends
    assert "@" not in fields["Version"] + fields["Architecture"] + fields["Installed-Size"]
    assert "libc6 (>= 2.36)" in fields["Depends"]


@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb not available")
def test_control_template_builds_a_package_dpkg_accepts(tmp_path):
    stage = tmp_path / "stage"
    (stage / "DEBIAN").mkdir(parents=True)
    (stage / "DEBIAN" / "control").write_text(_filled_control(), encoding="utf-8")
    (stage / "usr" / "share" / "applications").mkdir(parents=True)
    shutil.copy(DESKTOP, stage / "usr" / "share" / "applications" / "trainwright.desktop")
    deb = tmp_path / "t.deb"
    subprocess.run(
        ["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", str(stage), str(deb)],
        check=True,
        capture_output=True,
    )
    info = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Package", "Version", "Depends"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert "Package: trainwright" in info and f"Version: {_version()}" in info
    assert "libxcb-cursor0" in info


# ---- icons ----------------------------------------------------------------------------------
def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()[:24]
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.mark.parametrize("size", PNG_SIZES)
def test_icon_png_has_its_size(size):
    path = ICONS / f"trainwright-{size}.png"
    assert path.is_file()
    assert _png_size(path) == (size, size)


def test_icon_svg_and_ico():
    root = ET.parse(ICONS / "trainwright.svg").getroot()
    assert root.tag.endswith("svg") and root.get("viewBox") == "0 0 256 256"
    data = (ICONS / "trainwright.ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind) == (0, 1) and count >= 5
    sizes = set()
    for i in range(count):
        width, height, *_rest, length, offset = struct.unpack(
            "<BBBBHHII", data[6 + 16 * i : 22 + 16 * i]
        )
        sizes.add(width or 256)
        assert width == height
        assert data[offset : offset + 8] == b"\x89PNG\r\n\x1a\n"
        assert offset + length <= len(data)
    assert {16, 32, 48, 256} <= sizes


def test_icons_ship_in_the_resources_package():
    from importlib.resources import files

    icons = files("resources") / "icons"
    assert (icons / "trainwright.svg").is_file()
    assert (icons / "trainwright-256.png").is_file()


# ---- the self-test, from source ---------------------------------------------------------------
def test_self_test_passes_from_source(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from desktop_app.self_test import run_self_test; "
            "sys.exit(run_self_test())",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_subprocess_env(tmp_path / "user-home"),
        timeout=280,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("trainwright self-test: ok"), result.stdout
    assert "replay identical" in result.stdout
    assert not (tmp_path / "user-home").exists(), "the self-test wrote into TRAINWRIGHT_HOME"


def test_self_test_failure_is_one_line_on_stderr(tmp_path):
    code = (
        "import sys, desktop_app.self_test as t; t.FAMILY = 'no_such_family'; "
        "sys.exit(t.run_self_test())"
    )
    result = _python(["-c", code], tmp_path, cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if "self-test" in line]
    assert lines == ["trainwright self-test: FAILED: built-in families missing: no_such_family"]
    assert result.stdout == ""


def test_launcher_prints_the_version(tmp_path):
    result = _python([str(PACKAGING / "launcher.py"), "--version"], tmp_path, cwd=ROOT, timeout=60)
    assert result.returncode == 0
    assert result.stdout.strip() == f"trainwright {_version()}"


def _python(args: list[str], tmp_path, *, cwd, timeout: int) -> subprocess.CompletedProcess:
    """This Python with `args`, its own data home under `tmp_path`, output captured."""
    return subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=_subprocess_env(tmp_path / "home"),
        timeout=timeout,
    )


# ---- the real build (slow) --------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.skipif(
    os.environ.get("TRAINWRIGHT_PACKAGING_TESTS") != "1",
    reason="builds the bundle (minutes); set TRAINWRIGHT_PACKAGING_TESTS=1",
)
@pytest.mark.skipif(not shutil.which("dpkg-deb"), reason="dpkg-deb not available")
def test_build_linux_bundle_runs_its_self_test(tmp_path):
    build = subprocess.run(
        [str(PACKAGING / "build-linux")], cwd=ROOT, capture_output=True, text=True
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    version = _version()
    app = ROOT / "dist" / "Trainwright" / "Trainwright"
    assert app.is_file() and os.access(app, os.X_OK)

    env = _subprocess_env(tmp_path / "home")
    result = subprocess.run(
        [str(app), "--self-test"], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("trainwright self-test: ok")
    result = subprocess.run([str(app), "--version"], capture_output=True, text=True, env=env)
    assert result.stdout.strip() == f"trainwright {version}"

    debs = list((ROOT / "dist").glob(f"trainwright_{version}_*.deb"))
    assert len(debs) == 1
    listing = subprocess.run(
        ["dpkg-deb", "-c", str(debs[0])], check=True, capture_output=True, text=True
    ).stdout
    for path in (
        "./opt/trainwright/Trainwright",
        "./usr/bin/trainwright -> /opt/trainwright/Trainwright",
        "./usr/share/applications/trainwright.desktop",
        "./usr/share/icons/hicolor/256x256/apps/trainwright.png",
        "./usr/share/icons/hicolor/scalable/apps/trainwright.svg",
        "resources/families/modulo_addition_1layer/family.json",
    ):
        assert path in listing, path
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(debs[0]), "Version"], check=True, capture_output=True, text=True
    ).stdout
    assert fields.strip() == version

    (tarball,) = (ROOT / "dist").glob(f"trainwright-{version}-linux-*.tar.gz")
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    top = f"trainwright-{version}-linux-{os.uname().machine}"
    assert f"{top}/Trainwright" in names
    assert f"{top}/share/applications/trainwright.desktop" in names
