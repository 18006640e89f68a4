"""The code a result came from (``tailor.source``): the checkout's commit, marked dirty when
its tracked source differs, else the installed version."""

import subprocess
from pathlib import Path

import pytest

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
    assert (dirty == "dirty") == bool(git("status", "--porcelain", "--", "."))


@pytest.mark.parametrize("inside_a_repository", [False, True])
def test_an_install_outside_its_checkout_names_the_installed_version(monkeypatch, tmp_path, inside_a_repository):
    """Installed into site-packages, bare or within another project's repository (whose
    commit is not tailor's), the source is the version."""
    if inside_a_repository:
        subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
        subprocess.run(["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "theirs"], check=True)
    package = tmp_path / "venv" / "site-packages" / "tailor"
    package.mkdir(parents=True)
    monkeypatch.setattr(source, "PACKAGE", package)
    monkeypatch.setattr(source, "CHECKOUT", package.parents[1])
    source.source_version.cache_clear()
    try:
        assert source.source_version() == f"tailor {tailor.__version__}"
    finally:
        source.source_version.cache_clear()
