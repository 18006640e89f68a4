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
