"""Where tailor keeps converted models and its response cache.

Everything lives under ``$TAILOR_HOME`` (default ``~/.cache/tailor``) so that a rerun
on the same machine reuses converted checkpoints and cached model outputs.
"""

import os
from pathlib import Path


def tailor_home() -> Path:
    return Path(os.environ.get("TAILOR_HOME", Path.home() / ".cache" / "tailor"))


def models_dir() -> Path:
    return tailor_home() / "models"


def default_cache_path() -> Path:
    return Path(os.environ.get("TAILOR_CACHE", tailor_home() / "llm_cache.sqlite"))
