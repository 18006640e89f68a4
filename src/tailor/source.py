"""Which code a result came from: the commit of tailor's git checkout, marked ``+dirty``
when its tracked source differs from that commit, or the installed version where tailor
is not a checkout. A held-out test records it, so a learning table says what code each of
its runs measured."""

import functools
import subprocess
from pathlib import Path

import tailor


PACKAGE = Path(tailor.__file__).resolve().parent
CHECKOUT = PACKAGE.parents[1]  # src/tailor's checkout; an install elsewhere may sit inside another repository


def _git(*args: str) -> str:
    command = ["git", "--no-optional-locks", "-C", str(PACKAGE), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True, timeout=30).stdout.strip()


@functools.cache
def source_version() -> str:
    """``<commit>`` or ``<commit>+dirty`` in tailor's own checkout, else ``tailor <version>``."""
    try:
        if Path(_git("rev-parse", "--show-toplevel")).resolve() != CHECKOUT:
            return f"tailor {tailor.__version__}"
        commit = _git("rev-parse", "--short=12", "HEAD")
        changed = _git("status", "--porcelain", "--", ".")
    except (OSError, subprocess.SubprocessError):
        return f"tailor {tailor.__version__}"
    return commit + ("+dirty" if changed else "")
