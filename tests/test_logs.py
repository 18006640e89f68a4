"""The run log: what the libraries log before and while a run is under way lands in its
folder's tailor.log; only the known deprecations are filtered, and only where raised."""

import logging
import subprocess
import sys
import warnings

import pytest

from tailor import logs


def test_records_wait_for_the_run_folder_then_go_to_its_log(tmp_path):
    handler = logs.RunLog()
    library = logging.getLogger("some.library")
    library.addHandler(handler)
    library.setLevel(logging.INFO)
    try:
        library.info("before the run folder is known")
        handler.open(tmp_path / "tailor.log")
        library.warning("during the run")
        handler.open(None)
        library.info("after")
    finally:
        library.removeHandler(handler)
    text = (tmp_path / "tailor.log").read_text()
    assert "INFO some.library: before the run folder is known" in text and "WARNING some.library: during the run" in text
    assert "after" not in text and handler.pending and "after" in handler.pending[0]


def test_a_nested_run_log_hands_back_to_the_enclosing_one(tmp_path, monkeypatch):
    monkeypatch.setattr(logs, "_run_log", logs.RunLog())
    log = logging.getLogger("tailor.test_nested")
    log.addHandler(logs._run_log)
    log.setLevel(logging.INFO)
    try:
        with logs.into(tmp_path / "outer"):
            log.info("outer one")
            with logs.into(tmp_path / "inner"):
                log.info("inner")
            log.info("outer two")
    finally:
        log.removeHandler(logs._run_log)
    outer, inner = ((tmp_path / name / "tailor.log").read_text() for name in ("outer", "inner"))
    assert "outer one" in outer and "outer two" in outer and "inner" not in outer and "inner" in inner


def test_the_terminal_shows_tailors_warnings_and_in_a_server_everyones(monkeypatch):
    monkeypatch.delenv("TAILOR_LOG", raising=False)
    console = logs.ConsoleFilter()

    def shown(name, level):
        return console.filter(logging.LogRecord(name, level, __file__, 1, "message", (), None))

    assert shown("tailor.train.sft", logging.WARNING) and not shown("tailor.train.sft", logging.INFO)
    assert not shown("transformers.modeling_utils", logging.WARNING) and not shown("py.warnings", logging.WARNING)
    console.every_logger = True
    assert shown("transformers.modeling_utils", logging.WARNING) and not shown("bm25s", logging.DEBUG)
    monkeypatch.setenv("TAILOR_LOG", "debug")
    assert shown("bm25s", logging.DEBUG)


def test_only_the_known_deprecations_are_filtered_and_only_inside_the_block():
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with logs.known_deprecations():
            warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6.", FutureWarning)
            warnings.warn("`some_other_thing` is deprecated", FutureWarning)
        warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed in v6.", FutureWarning)
    assert [str(w.message)[:20] for w in seen] == ["`some_other_thing` i", "`is_gradient_checkpo"]


@pytest.mark.parametrize("level, shown", [("debug", True), ("", False)])
def test_tailor_log_debug_means_verbose(monkeypatch, level, shown):
    monkeypatch.setenv("TAILOR_LOG", level)
    assert logs.verbose() is shown


def test_deepspeed_speaks_into_the_run_log_not_on_stdout(tmp_path, monkeypatch):
    """DeepSpeed fits its logger with a stdout handler of its own as it is imported, which
    TRL's trainers do wherever it is installed (its first words on a CPU machine: "Setting
    accelerator to CPU"); adopted, its records reach the run log and not the terminal."""
    monkeypatch.delenv("TAILOR_LOG", raising=False)
    code = f"""
from tailor import logs
logs.configure()
logs.adopt_library_loggers()
from deepspeed.utils import logger
logger.warning("a word from DeepSpeed")
with logs.into({str(tmp_path)!r}):
    pass
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "a word from DeepSpeed" not in done.stdout + done.stderr
    assert "WARNING DeepSpeed: a word from DeepSpeed" in (tmp_path / "tailor.log").read_text()
