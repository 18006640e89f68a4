"""The wheels that let bench/gpu_smoke.py run on a lent GPU machine, whose image lacks some of
what tailor imports (bench/gpu_image.txt lists what it has) and which reaches no package index.
bench/gpu_wheels.txt pins them; they are built for CPython 3.12 on x86-64 Linux, the image's.

    python bench/gpu_wheels.py prepare                   # here, with PyPI: downloads them into .whl/
    python3 bench/gpu_wheels.py install .whl /tmp/site   # there, offline; then PYTHONPATH=/tmp/site:src

``install`` installs each carried wheel unless the image already has its package at a version
every carried wheel accepts (typing_extensions is carried only for an image older than pydantic
needs), then names each requirement of a carried wheel that the environment does not meet:
a missing package fails the install, a version outside the range is printed as a warning
(pip would refuse it; the smoke shows whether it matters).
"""

import argparse
import email.parser
import importlib
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

BENCH = Path(__file__).resolve().parent
PINS = BENCH / "gpu_wheels.txt"
FOLDER = BENCH.parent / ".whl"  # git-ignored
# the image's interpreter and platform: CPython 3.12, manylinux x86-64 (glibc 2.17 to 2.28 builds)
TARGET = ["--python-version", "3.12", "--implementation", "cp"] + [
    arg for tag in ("manylinux_2_28", "manylinux_2_27", "manylinux_2_17", "manylinux2014", "manylinux1") for arg in ("--platform", f"{tag}_x86_64")
]


def listed(path: Path) -> list[str]:
    """The entries of a list file: one a line, ``#`` starts a comment."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def pins() -> dict[str, str]:
    """Each carried distribution's canonical name and pinned version."""
    return {canonicalize_name(name): version for name, version in (line.split("==") for line in listed(PINS))}


def wheels(folder: Path) -> dict[str, Path]:
    """The folder's wheel of each pinned distribution; an error naming any that is missing."""
    pinned, found = pins(), {}
    for path in folder.glob("*.whl"):
        name, version, _, _ = parse_wheel_filename(path.name)
        if pinned.get(name) == str(version):
            found[name] = path
    missing = sorted(set(pinned) - set(found))
    if missing:
        raise SystemExit(f"{folder} lacks the wheels of {', '.join(f'{n}=={pinned[n]}' for n in missing)}: run `python bench/gpu_wheels.py prepare` where PyPI is reachable")
    return found


def requirements(wheel: Path) -> list[Requirement]:
    """The wheel's own requirements on this interpreter (extras left out)."""
    with zipfile.ZipFile(wheel) as archive:
        meta = next(name for name in archive.namelist() if name.endswith(".dist-info/METADATA"))
        fields = email.parser.Parser().parsestr(archive.read(meta).decode())
    needs = [Requirement(line) for line in fields.get_all("Requires-Dist") or []]
    return [r for r in needs if r.marker is None or r.marker.evaluate({"extra": ""})]


def installed_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def prepare(folder: Path) -> None:
    """Download every pinned wheel into ``folder`` and remove any other wheel there (two
    versions of one package would stop the install)."""
    folder.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", *TARGET, "--dest", str(folder)]
    subprocess.run([*command, *listed(PINS)], check=True)
    keep = set(wheels(folder).values())
    for path in folder.glob("*.whl"):
        if path not in keep:
            path.unlink()
    size = sum(path.stat().st_size for path in keep)
    print(f"{len(keep)} wheels in {folder}, {size / 2**20:.1f} MiB:")
    for path in sorted(keep):
        print(f"  {path.name}")


def install(folder: Path, target: Path) -> None:
    """Install the carried wheels the image needs into ``target`` (offline), then check the
    carried wheels' requirements against the image plus ``target``."""
    carried = wheels(folder)
    needs = {name: requirements(path) for name, path in carried.items()}
    everything = [r for rs in needs.values() for r in rs]

    def image_suffices(name: str) -> bool:
        version = installed_version(name)
        return version is not None and all(r.specifier.contains(version, prereleases=True) for r in everything if canonicalize_name(r.name) == name)

    kept = sorted(name for name in carried if image_suffices(name))
    chosen = [str(path) for name, path in sorted(carried.items()) if name not in kept]
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile", "--no-cache-dir", "--upgrade", "--target", str(target), *chosen],
        check=True,
    )
    print(f"installed {len(chosen)} carried wheels into {target}" + (f"; the image's own {', '.join(f'{n} {installed_version(n)}' for n in kept)} kept" if kept else ""))

    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    missing = []
    for name, rs in sorted(needs.items()):
        for r in rs:
            version = installed_version(r.name)
            if version is None:
                missing.append(f"{name} needs {r}, which is neither on the image nor carried")
            elif not r.specifier.contains(version, prereleases=True):
                print(f"warning: {name} {pins()[name]} needs {r}; the environment has {version}")
    if missing:
        raise SystemExit("\n".join(missing))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    prepare_verb = verbs.add_parser("prepare", help="download the pinned wheels (here, where PyPI is reachable)")
    prepare_verb.add_argument("folder", type=Path, nargs="?", default=FOLDER)
    install_verb = verbs.add_parser("install", help="install them offline into a target folder (on the GPU machine)")
    install_verb.add_argument("folder", type=Path)
    install_verb.add_argument("target", type=Path)
    args = parser.parse_args()
    if args.verb == "prepare":
        prepare(args.folder)
    else:
        install(args.folder, args.target)


if __name__ == "__main__":
    main()
