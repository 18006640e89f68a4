"""The code a result came from (``tailor.source``): the checkout's commit, marked dirty when
its tracked source differs, else the installed version."""

import subprocess
from pathlib import Path

import tailor
from tailor import source

ROOT = Path(tailor.__file__).resolve().parent


def git(*args):
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout.strip()


def test_a_checkout_names_its_commit_and_whether_its_source_differs_from_it():
    source.source_version.cache_clear()
    version = source.source_version()
    commit, _, dirty = version.partition("+")
    assert git("rev-parse", "HEAD").startswith(commit) and len(commit) == 12
    assert (dirty == "dirty") == bool(git("status", "--porcelain", "--untracked-files=no", "--", "."))


def test_outside_a_checkout_the_installed_version_is_named(monkeypatch, tmp_path):
    monkeypatch.setattr(tailor, "__file__", str(tmp_path / "tailor" / "__init__.py"))
    (tmp_path / "tailor").mkdir()
    source.source_version.cache_clear()
    try:
        assert source.source_version() == f"tailor {tailor.__version__}"
    finally:
        source.source_version.cache_clear()
