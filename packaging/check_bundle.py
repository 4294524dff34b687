"""Checks a built one-folder app: shared-library dependencies, the .deb's Depends, leftovers.

Usage: python packaging/check_bundle.py dist/Trainwright [CONTROL]
       python packaging/check_bundle.py --glibc dist/Trainwright   (prints e.g. 2.36)

For every ELF file in the bundle it reads the NEEDED entries (readelf). A library the bundle
does not ship must come from the system: the script finds the Debian package that holds it
(dpkg -S) and fails if the control file's Depends does not name that package. It also fails on
dangling symbolic links and on a `libc6 (>= X)` lower than the newest glibc symbol version
the bundle's binaries use, and lists top-level libraries nothing in the bundle needs (left over
from trimming; they may still be loaded with dlopen, so that is only a note).
Exit status: 0 when all is well, 1 otherwise. Linux only.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

# Part of every Debian/Ubuntu system (Essential or Priority: required); never listed.
ALWAYS_PRESENT = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def is_elf(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            return handle.read(4) == b"\x7fELF"
    except OSError:
        return False


def needed(path: Path) -> list[str]:
    out = subprocess.run(
        ["readelf", "-d", str(path)], capture_output=True, text=True, check=False
    ).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def glibc_versions(path: Path) -> set[tuple[int, ...]]:
    out = subprocess.run(
        ["readelf", "-V", "--wide", str(path)], capture_output=True, text=True, check=False
    ).stdout
    return {tuple(int(x) for x in v.split(".")) for v in re.findall(r"GLIBC_(\d+(?:\.\d+)+)", out)}


def required_glibc(elves: list[Path]) -> str:
    versions: set[tuple[int, ...]] = set()
    for elf in elves:
        versions |= glibc_versions(elf)
    return ".".join(map(str, max(versions))) if versions else "0"


def scan(bundle: Path) -> tuple[set[str], list[Path], list[str]]:
    """File names in the bundle, its ELF files, and its dangling links."""
    names: set[str] = set()
    elves: list[Path] = []
    dangling: list[str] = []
    for path in bundle.rglob("*"):
        if path.is_symlink():
            if not path.exists():
                dangling.append(str(path.relative_to(bundle)))
                continue
            names.add(path.name)
        elif path.is_file():
            names.add(path.name)
            if is_elf(path):
                elves.append(path)
    return names, elves, dangling


def system_paths() -> dict[str, str]:
    """soname -> path, from the dynamic linker's cache (64-bit entries win)."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=False).stdout
    found: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r"\s*(\S+) \(([^)]*)\) => (\S+)", line)
        if m and (m.group(1) not in found or "x86-64" in m.group(2)):
            found[m.group(1)] = m.group(3)
    return found


def package_of(path: str) -> str | None:
    if not shutil.which("dpkg"):
        return None
    for candidate in (path, str(Path(path).resolve())):
        for variant in (candidate, candidate.replace("/usr/lib/", "/lib/", 1)):
            out = subprocess.run(["dpkg", "-S", variant], capture_output=True, text=True)
            if out.returncode == 0:
                return out.stdout.split(":", 1)[0].strip()
    return None


def debian_name(soname: str) -> str:
    """The Debian package name a library's soname implies: libfoo-1.so.0 -> libfoo-1-0."""
    name, _, version = soname.partition(".so.")
    name = name.lower().replace("_", "-")
    return name + ("-" if name[-1].isdigit() else "") + version


def depends_of(control: Path) -> set[str]:
    text = control.read_text(encoding="utf-8")
    m = re.search(r"^Depends:(.*(?:\n[ \t].*)*)", text, re.MULTILINE)
    if not m:
        return set()
    return {
        alt.strip().split()[0].split(":")[0]
        for clause in m.group(1).replace("\n", " ").split(",")
        for alt in clause.split("|")
        if alt.strip()
    }


def main(argv: list[str]) -> int:
    glibc_only = argv[:1] == ["--glibc"]
    argv = argv[1:] if glibc_only else argv
    if not argv or not Path(argv[0]).is_dir():
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    bundle = Path(argv[0])
    control = Path(argv[1]) if len(argv) > 1 else None
    names, elves, dangling = scan(bundle)
    glibc = required_glibc(elves)
    if glibc_only:
        print(glibc)
        return 0
    problems = [f"dangling link: {link}" for link in dangling]

    wanted: dict[str, set[str]] = {}
    for elf in elves:
        for lib in needed(elf):
            wanted.setdefault(lib, set()).add(str(elf.relative_to(bundle)))

    system = system_paths()
    depends = depends_of(control) if control is not None else set()
    external = sorted(lib for lib in wanted if lib not in names)
    packages: dict[str, str] = {}
    for lib in external:
        path = system.get(lib)
        if path is not None:
            packages[lib] = package_of(path) or "?"
        elif debian_name(lib) in depends:  # not installed here, but Depends names it
            packages[lib] = f"{debian_name(lib)} (by name; not installed here)"
        else:
            users = ", ".join(sorted(wanted[lib])[:3])
            problems.append(
                f"{lib} is neither in the bundle nor on this system (needed by {users})"
            )
    print(f"{len(elves)} ELF files; system libraries they need:")
    for lib in external:
        if lib in packages:
            print(f"  {lib:<28} {packages[lib]}")

    print(f"newest glibc symbol version used: {glibc}")
    if control is not None:
        text = control.read_text(encoding="utf-8")
        m = re.search(r"libc6 \(>= ([0-9.]+)\)", text)
        if m is None or _version(m.group(1)) < _version(glibc):
            problems.append(f"{control} must say libc6 (>= {glibc})")
        for lib, package in sorted(packages.items()):
            base = package.split(":")[0].split()[0]
            if base not in depends and base not in ALWAYS_PRESENT and base != "?":
                problems.append(f"{lib} comes from {base}, which {control} does not depend on")

    # Top-level libraries nothing links to, also counting those only orphans link to.
    internal = bundle / "_internal"
    links = {elf.name: set(needed(elf)) for elf in elves if elf.parent == internal}
    users: dict[str, set[str]] = {}
    for elf in elves:
        for lib in needed(elf) if elf.parent != internal else links[elf.name]:
            users.setdefault(lib, set()).add(str(elf))
    orphans: list[str] = []
    candidates = {
        p.name
        for p in internal.glob("*.so*")
        if ".cpython-" not in p.name
        and ".abi3." not in p.name
        and not p.name.startswith("libpython")  # loaded by the bootloader
    }
    while True:
        found = sorted(
            lib
            for lib in candidates - set(orphans)
            if not users.get(lib) or (users[lib] <= {str(internal / o) for o in orphans})
        )
        if not found:
            break
        orphans += found
    orphans.sort()
    if orphans:
        print(f"note: top-level libraries nothing in the bundle links to: {' '.join(orphans)}")
    sys.stdout.flush()

    for problem in problems:
        print(f"check_bundle: {problem}", file=sys.stderr)
    if not problems:
        print("check_bundle: ok")
    return 1 if problems else 0


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split("."))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
