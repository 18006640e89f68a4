"""An environment here that imports what a lent GPU machine would, and nothing else: a virtual
environment without this one's packages, whose site-packages links only

- the distributions of the machine's image (bench/gpu_image.txt) installed here, with the
  image's own versions of transformers and huggingface_hub (``python tests/gpu_image.py``,
  which `make install` runs, installs them into .gpu-image/: tailor calls them most, and their
  APIs move between releases); torch and numpy, too large to keep twice, are this
  environment's,
- the carried wheels (bench/gpu_wheels.txt), installed here at their pinned versions,
- what the image's distributions, as installed here, need beyond both (python-dateutil 4 here
  needs tzdata), except tailor's own requirements and the carried packages: those must come
  from the image or the wheels,

and the standard library. tailor itself comes from ``src`` on PYTHONPATH, as on the machine.
An import of anything else fails as it would there: ``No module named ...``."""

import importlib.util
import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("gpu_wheels", REPO / "bench" / "gpu_wheels.py")
gpu_wheels = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gpu_wheels)

IMAGE_VERSIONS = REPO / ".gpu-image"  # git-ignored
AT_IMAGE_VERSION = ("transformers", "huggingface-hub")


def image() -> dict[str, str | None]:
    """The image's distributions (canonical names), each with its version where it was read."""
    entries = (line.partition("==") for line in gpu_wheels.listed(gpu_wheels.BENCH / "gpu_image.txt"))
    return {canonicalize_name(name): version or None for name, _, version in entries}


def install_image_versions() -> None:
    """Install the image's versions of ``AT_IMAGE_VERSION`` into ``IMAGE_VERSIONS`` (needs PyPI)."""
    versions = image()
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--upgrade", "--target", str(IMAGE_VERSIONS),
         *(f"{name}=={versions[name]}" for name in AT_IMAGE_VERSION)],
        check=True,
    )


def _needs(dist: metadata.Distribution) -> list[str]:
    """The canonical names a distribution requires on this interpreter (extras left out)."""
    requirements = (Requirement(line) for line in dist.requires or [])
    return [canonicalize_name(r.name) for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]


def _installed() -> dict[str, metadata.Distribution]:
    """This environment's distributions, those at the image's versions in their place."""
    installed = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions()}
    replaced = {canonicalize_name(d.metadata["Name"]): d for d in metadata.distributions(path=[str(IMAGE_VERSIONS)])}
    versions = image()
    if any(name not in replaced or replaced[name].version != versions[name] for name in AT_IMAGE_VERSION):
        raise RuntimeError(f"{IMAGE_VERSIONS} lacks the image's {', '.join(f'{n} {versions[n]}' for n in AT_IMAGE_VERSION)}: "
                           "run `make install` (or `python tests/gpu_image.py`)")
    return installed | replaced


def allowed_distributions(leave_out: frozenset[str] = frozenset()) -> dict[str, metadata.Distribution]:
    """The distributions the machine would have (``leave_out``: carried wheels to leave behind)."""
    installed, pinned = _installed(), gpu_wheels.pins()
    wrong = [f"{name} {installed[name].version if name in installed else '(not installed)'}, pinned {version}"
             for name, version in pinned.items() if name not in installed or installed[name].version != version]
    if wrong:
        raise RuntimeError(f"the carried wheels must be installed here at their pinned versions (bench/gpu_wheels.txt): {'; '.join(wrong)}")
    carried = {name for name in pinned if name not in leave_out}
    on_image = image().keys() & installed.keys()
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    own = {canonicalize_name(Requirement(line).name) for line in project} | set(pinned)

    for name in sorted(carried):
        absent = [need for need in _needs(installed[name]) if need not in on_image | carried]
        if absent:
            raise RuntimeError(f"the carried {name} needs {', '.join(absent)}, neither on the image (bench/gpu_image.txt) nor carried (bench/gpu_wheels.txt)")

    allowed, todo = on_image | carried, sorted(on_image)
    while todo:
        for need in _needs(installed[todo.pop()]):
            if need not in allowed and need not in own and need in installed:
                allowed.add(need)
                todo.append(need)
    return {name: installed[name] for name in sorted(allowed)}


def build(folder: Path, leave_out: frozenset[str] = frozenset()) -> Path:
    """Create the environment in ``folder``; its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    site = folder / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    for dist in allowed_distributions(leave_out).values():
        tops = {Path(str(f)).parts[0] for f in dist.files or []} - {"..", "__pycache__"}
        for top in tops:
            source = Path(dist.locate_file(top))
            if source.exists() and not (site / top).exists():
                (site / top).symlink_to(source)
    return folder / "bin" / "python"


def environment(**extra: str) -> dict[str, str]:
    """The variables to run the environment's python with: tailor from ``src``, nothing else on the path."""
    keep = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    return {**keep, "PYTHONPATH": str(REPO / "src"), "PYTHONNOUSERSITE": "1", **extra}


if __name__ == "__main__":
    install_image_versions()
