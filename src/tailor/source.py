"""Which code a result came from: the commit of tailor's git checkout, marked ``+dirty``
when its tracked source differs from that commit, or the installed version where tailor
is not a checkout. A held-out test records it, so a learning table says what code each of
its runs measured."""

import functools
import subprocess
from pathlib import Path

import tailor


def _git(*args: str) -> str:
    root = Path(tailor.__file__).resolve().parent
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=30).stdout.strip()


@functools.cache
def source_version() -> str:
    """``<commit>`` or ``<commit>+dirty`` in a checkout, else ``tailor <version>``."""
    try:
        commit = _git("rev-parse", "--short=12", "HEAD")
        changed = _git("status", "--porcelain", "--untracked-files=no", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return f"tailor {tailor.__version__}"
    return commit + ("+dirty" if changed else "")
