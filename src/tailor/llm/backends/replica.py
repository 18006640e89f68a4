"""One generation server of an ``openai``-backend model: its client, the adapters registered
on it, and how its answers are read.

vLLM answers adapter registration (``VLLM_ALLOW_RUNTIME_LORA_UPDATING``) like this, read in
its source from 0.8.5 to 0.34.0 (``tests/vllm_answers.py`` replays each answer):

- an adapter its engine refuses (rank above ``--max-lora-rank``, target modules its model
  lacks, no ``--enable-lora``): 400 up to 0.17.x, 500 from 0.18.0, saying "Call to add_lora
  method failed: " and the engine's reason;
- a path it cannot read: 404 "... No adapter found for <path>";
- no runtime updating: the route does not exist (404 "Not Found");
- a name it holds already: 400 "... has already been loaded";
- unloading a name it does not hold (it restarted): 404 "... cannot be found". Unloading only
  forgets the name: the engine's CPU cache evicts and reloads adapters by itself, so an
  adapter evicted there is unloaded like any other;
- a dead engine: "EngineCore encountered an issue" (400 in 0.8.5, 500 later), then it exits.

So an answer is the server's verdict on the adapter, a ``BackendError`` naming the adapter,
the server and vLLM's own message, unless it says the server is going away (``going_away``):
only then is the server set aside, as when it does not answer at all."""

import logging
import threading
import time
from collections import OrderedDict

import openai

from tailor.errors import BackendError
from tailor.llm.protocol import LoadLoraAdapterRequest, TokenizeRequest, UnloadLoraAdapterRequest

log = logging.getLogger(__name__)

BUSY = frozenset({429, 502, 503, 504})  # overloaded, or a proxy that lost the server
ENGINE_DEAD = "EngineCore encountered an issue"  # vllm/v1/engine/exceptions.py, EngineDeadError (0.8.5 to 0.34.0)
ALREADY_LOADED = "has already been loaded"  # serving_models.py's name check (0.8.5 to 0.34.0)
NO_ROUTE = "Not Found"  # FastAPI's answer for a route the server lacks (vLLM 0.18.0 on wraps it in its error shape)
SHARED_DISK = (
    "Generation servers read adapters from their own disk: the folder must exist at that same path on every server (shared "
    "storage), and vLLM must run with --enable-lora, a --max-lora-rank at least the adapter's rank, and "
    "VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
)


class ServerGone(Exception):
    """A server answered that it cannot serve now (overloaded, or its engine died)."""


TRANSIENT = (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError, ServerGone)  # timeouts are connection errors


def error_message(err: openai.APIStatusError) -> str:
    """The server's own words: the ``message`` of OpenAI's error shape (vLLM 0.8.5's flat
    one too), FastAPI's ``detail``, else the body's text."""
    body = err.body
    if isinstance(body, dict):
        for key in ("message", "detail"):
            if isinstance(body.get(key), str):
                return body[key]
    return err.response.text.strip()


def going_away(err: openai.APIStatusError) -> bool:
    """Whether an error answer says the server cannot serve now rather than answering the
    request: busy, its engine dead, or a 5xx without a message."""
    message = error_message(err)
    return err.status_code in BUSY or ENGINE_DEAD in message or (err.status_code >= 500 and not message)


class Replica:
    """One server: its client, and the adapters registered on it (least recently used first)."""

    def __init__(self, client: openai.OpenAI):
        self.client = client
        self.url = str(client.base_url).rstrip("/")
        self.root = self.url.removesuffix("/v1")  # vLLM serves /tokenize beside /v1, not under it
        self.loaded: OrderedDict[str, str] = OrderedDict()
        self.down_until = 0.0
        self.lock = threading.Lock()

    def failed(self, cooldown: float) -> None:
        """It did not answer: set it aside, and assume it comes back without its adapters."""
        with self.lock:
            self.down_until = time.monotonic() + cooldown
            self.loaded.clear()

    def lost(self, name: str) -> None:
        """It answered that ``name`` is not served (it restarted): register it again."""
        with self.lock:
            self.loaded.pop(name, None)

    def ensure(self, name: str, path: str, keep: int) -> None:
        """Register adapter ``path`` as ``name`` here unless it is; keep at most ``keep``."""
        with self.lock:
            if name in self.loaded:
                self.loaded.move_to_end(name)
                return
            while len(self.loaded) >= keep:
                old, _ = self.loaded.popitem(last=False)
                self.unload(old)
            self.load(name, path)
            self.loaded[name] = path

    def load(self, name: str, path: str) -> None:
        """Register ``path`` as ``name``: a ``BackendError`` with the server's reason where
        it refuses; a name it holds already is as good."""
        try:
            self.client.post("/load_lora_adapter", body=LoadLoraAdapterRequest(lora_name=name, lora_path=path).model_dump(), cast_to=str)
        except openai.APIStatusError as err:
            message = error_message(err)
            if going_away(err):
                raise ServerGone(f"{err.status_code}: {message}") from err
            if ALREADY_LOADED in message:
                return
            if err.status_code == 404 and message == NO_ROUTE:
                why = "it has no /v1/load_lora_adapter: start vLLM with VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"
            else:
                why = SHARED_DISK
            raise BackendError(f"{self.url} refused LoRA adapter {name!r} from {path} ({err.status_code}: {message}). {why}") from err

    def unload(self, name: str) -> None:
        """Drop ``name``; one the server does not hold (it restarted) leaves nothing to drop."""
        try:
            self.client.post("/unload_lora_adapter", body=UnloadLoraAdapterRequest(lora_name=name).model_dump(exclude_none=True), cast_to=str)
        except openai.APIStatusError as err:
            if going_away(err):
                raise ServerGone(f"{err.status_code}: {error_message(err)}") from err
            log.info("%s kept no adapter %r to unload (%s: %s)", self.url, name, err.status_code, error_message(err))

    def models(self) -> list[dict]:
        """The model cards of ``GET /v1/models`` (vLLM's carry ``max_model_len``)."""
        listed = self.client.get("/models", cast_to=object)
        return [card for card in listed.get("data", []) if isinstance(card, dict)] if isinstance(listed, dict) else []

    def tokenize(self, body: TokenizeRequest) -> dict:
        """vLLM's ``POST /tokenize`` (beside ``/v1``): ``count`` and ``max_model_len``."""
        return self.client.post(f"{self.root}/tokenize", body=body.model_dump(exclude_defaults=True), cast_to=object)
