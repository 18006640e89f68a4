"""One voice on the terminal: tailor's own progress bars and results. What the libraries
underneath say (log records, Python warnings, their tqdm bars) goes to the run folder's
``tailor.log`` instead; ``--verbose`` or ``TAILOR_LOG=debug`` shows it on the terminal too.

Known deprecation warnings of dependencies are filtered where tailor triggers them
(``known_deprecations``), never with a global filter."""

import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from tailor.runs import RunFolder

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Environment read by the libraries when they are imported: their bars off, their
# advisories and datasets' own stderr handler quiet (transformers' handler is rerouted to
# the run log by ``adopt_library_loggers``).
QUIET_ENVIRONMENT = {
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "DATASETS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
}

# (category, message regex) of deprecations that dependencies raise about each other's
# use of their APIs, which tailor cannot act on: TRL 1.16 reads transformers 5.24's
# deprecated gradient-checkpointing names, and so does PEFT as it wraps a model.
KNOWN_DEPRECATIONS = (
    (FutureWarning, r"`is_gradient_checkpointing` is deprecated"),
    (FutureWarning, r"`gradient_checkpointing` is deprecated"),
)


def verbose() -> bool:
    return os.environ.get("TAILOR_LOG", "").lower() == "debug"


class RunLog(logging.Handler):
    """The root logger's handler: records wait in memory until a run folder is known
    (``into``), then go to its log file, so nothing logged before is lost."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter(FORMAT))
        self.pending: list[str] = []
        self.path: Path | None = None
        self.file = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            if self.file is None:
                self.pending = [*self.pending[-999:], line]
            else:
                self.file.write(line)
                self.file.flush()
        except Exception:  # a full disk or an unformattable record must not break the caller
            self.handleError(record)

    def open(self, path: Path | None) -> None:
        """Write to ``path`` from now on (None: keep records in memory)."""
        with self.lock:
            if self.file is not None:
                self.file.close()
                self.file = None
            self.path = path
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                self.file = path.open("a", encoding="utf-8")
                self.file.writelines(self.pending)
                self.pending = []


class ConsoleFilter(logging.Filter):
    """Which records the terminal shows: tailor's own warnings and errors; every
    library's too in a server (``to_stderr``); everything when verbose."""

    def __init__(self) -> None:
        super().__init__()
        self.every_logger = False

    def filter(self, record: logging.LogRecord) -> bool:
        if verbose():
            return True
        ours = record.name == "tailor" or record.name.startswith("tailor.")
        return record.levelno >= logging.WARNING and (ours or self.every_logger)


_run_log: RunLog | None = None
_console = ConsoleFilter()


def configure(verbose_flag: bool = False) -> None:
    """Set up the terminal for a CLI command (idempotent)."""
    global _run_log
    if verbose_flag:
        os.environ["TAILOR_LOG"] = "debug"  # subprocesses (a launched training stage) too
    root = logging.getLogger()
    if _run_log is None:
        from rich.console import Console
        from rich.logging import RichHandler

        _run_log = RunLog()
        root.addHandler(_run_log)
        console = RichHandler(level=logging.DEBUG, console=Console(stderr=True), show_path=False)  # stderr: stdout may be --json
        console.addFilter(_console)
        root.addHandler(console)
        logging.captureWarnings(True)  # warnings become records of ``py.warnings``
    root.setLevel(logging.DEBUG if verbose() else logging.INFO)
    if not verbose():
        for name, value in QUIET_ENVIRONMENT.items():
            os.environ.setdefault(name, value)


@contextlib.contextmanager
def into(folder: str | Path) -> Iterator[Path]:
    """Write the log records of the block (and those waiting) to ``folder/tailor.log``;
    after it, to the log the enclosing block wrote to."""
    path = RunFolder(folder).log_file
    if _run_log is None:
        yield path
        return
    enclosing = _run_log.path
    _run_log.open(path)
    try:
        yield path
    finally:
        _run_log.open(enclosing)


def to_stderr() -> None:
    """A server has no run folder: every library's warnings and errors go to stderr too,
    beside uvicorn's."""
    _console.every_logger = True


class ToRoot(logging.Filter):
    """On a library's logger: its records go to tailor's handlers (the root logger's)
    instead of the stream handler the library gave that logger."""

    def filter(self, record: logging.LogRecord) -> bool:
        logging.getLogger().handle(record)
        return False


# Loggers a library fits with a handler of its own when it is imported, and never lets
# propagate: DeepSpeed's (to stdout), which TRL's trainers import wherever it is installed.
OWN_HANDLER_LOGGERS = ("DeepSpeed",)


def adopt_library_loggers() -> None:
    """transformers logs through a stderr handler of its own that bypasses the root
    logger: route its records to tailor's handlers (call after importing it). The same
    for ``OWN_HANDLER_LOGGERS``, which may be imported later."""
    if _run_log is None or verbose():
        return
    module = sys.modules.get("transformers.utils.logging")
    if module is not None:
        module.disable_default_handler()
        module.enable_propagation()
    for name in OWN_HANDLER_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ToRoot) for f in logger.filters):
            logger.addFilter(ToRoot())


@contextlib.contextmanager
def known_deprecations() -> Iterator[None]:
    """Silence the deprecations of ``KNOWN_DEPRECATIONS`` for the block."""
    with warnings.catch_warnings():
        for category, message in KNOWN_DEPRECATIONS:
            warnings.filterwarnings("ignore", message=message, category=category)
        yield
