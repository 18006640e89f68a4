import socket
import threading
import time

import pytest
import uvicorn


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Each test gets its own response cache; converted models stay shared in $TAILOR_HOME."""
    monkeypatch.setenv("TAILOR_CACHE", str(tmp_path / "llm_cache.sqlite"))
    monkeypatch.setenv("TAILOR_PROGRESS", "0")


@pytest.fixture(scope="session")
def train():
    """A few training examples of the bundled sample, for the training-loop tests."""
    from tailor.data import SAMPLE_LAMPQA, load_examples

    return load_examples(SAMPLE_LAMPQA, split="train")[:5]


@pytest.fixture(scope="session")
def valid():
    from tailor.data import SAMPLE_LAMPQA, load_examples

    return load_examples(SAMPLE_LAMPQA, split="validation")[:3]


@pytest.fixture(scope="session")
def hf_llm():
    """The real offline model (SmolLM2-135M-Instruct) through the hf backend, uncached."""
    from tailor.llm.backends.hf import HFBackend

    return HFBackend("smollm2-135m-instruct", cache=None, batch_size=8)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    """Runs an ASGI app with uvicorn on loopback in a background thread."""

    def __init__(self, app, port: int | None = None):
        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 30
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def postgres_server():
    """A real PostgreSQL server (Debian's ``postgresql``, which ``make test`` installs) on a
    free port under a temporary folder, for the session; as root (CI), initdb and pg_ctl run
    as the ``postgres`` user through ``runuser``. Skipped, saying why, where it cannot start."""
    import glob
    import os
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb")]
    if not found[-1]:
        pytest.skip("PostgreSQL is not installed (make test installs Debian's postgresql)")
    bin_dir = os.path.dirname(found[-1])
    root = Path(tempfile.mkdtemp(prefix="tailor-postgres-"))  # pytest's folders are closed to other users
    as_postgres = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()

    def run(*command):
        return subprocess.run([*as_postgres, *command], capture_output=True, text=True, timeout=120)

    init = run(f"{bin_dir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    if init.returncode:
        pytest.skip(f"PostgreSQL's initdb failed: {init.stderr[-500:]}")
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    started = run(f"{bin_dir}/pg_ctl", "-D", str(data), "-o", options, "-l", str(root / "server.log"), "-w", "start")
    if started.returncode:
        pytest.skip(f"PostgreSQL did not start: {started.stderr[-500:]}")
    yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    run(f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server):
    """A fresh database on the session's PostgreSQL server, for one test."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return f"{postgres_server}/{name}"
