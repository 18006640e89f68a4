"""vLLM's answers to what tailor asks of it, built as its source builds them, version by
version, and a loopback server that replays them (``Replay``).

vLLM cannot run here (its wheel is CUDA-only), so these answers were read in its released
source: the sdists of vLLM 0.8.5 (the floor tailor supports) and 0.34.0 (the newest release
when this was written), with 0.11.0, 0.17.0 and 0.18.0 read where an answer changed. Each
function names the files that build its answer. The error shape is vLLM's ``ErrorResponse``:
flat (``object``, ``message``, ``type``, ``param``, ``code``) in 0.8.5
(vllm/entrypoints/openai/protocol.py), ``{"error": ErrorInfo}`` from 0.10.1
(vllm/entrypoints/serve/engine/protocol.py in 0.34.0). An adapter-route message built from
an engine failure is the V1 engine's utility failure, "Call to add_lora method failed: "
and the reason (vllm/v1/engine/core.py, _handle_client_request in 0.8.5, the utility call
handler in 0.34.0). Messages with a path in them are as 0.34.0 sends them: its
``sanitize_message`` (vllm/entrypoints/serve/exception_handling/utils.py) writes paths under
/tmp, /home, /mnt ... as ``<path>``."""

from collections.abc import Callable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from conftest import ServerThread

VERSIONS = ("0.8.5", "0.34.0")

Answer = tuple[int, dict | str]


def error(version: str, status: int, kind: str, message: str, param: str | None = None) -> Answer:
    """vLLM's ErrorResponse in the shape ``version`` sends."""
    if version == "0.8.5":
        return status, {"object": "error", "message": message, "type": kind, "param": param, "code": status}
    return status, {"error": {"message": message, "type": kind, "param": param, "code": status}}


def engine_refused(version: str, reason: str) -> Answer:
    """A failed ``add_lora`` other than a missing path. 0.8.5 to 0.17.x: 400 BadRequestError
    (serving_models.py, load_lora_adapter's ``except BaseException``); 0.18.0: re-raised and
    turned into 500 InternalServerError by the app's exception handler
    (vllm/entrypoints/openai/models/serving.py; vllm/entrypoints/utils.py,
    create_error_response); 0.34.0: 500 InternalServerError returned by load_lora_adapter
    itself (vllm/entrypoints/openai/models/serving.py)."""
    status, kind = (400, "BadRequestError") if version == "0.8.5" else (500, "InternalServerError")
    return error(version, status, kind, f"Call to add_lora method failed: {reason}")


def rank_too_high(rank: int, cap: int) -> str:
    """vllm/lora/peft_helper.py, PEFTHelper.validate_legal (0.8.5 and 0.34.0)."""
    return f"LoRA rank {rank} is greater than max_lora_rank {cap}."


def modules_unsupported(version: str, expected: list[str], received: list[str]) -> str:
    """vllm/lora/models.py, LoRAModel.from_local_checkpoint (0.8.5); vllm/lora/lora_model.py
    (0.34.0). The adapter's folder is the message's first path."""
    folder = "<path>" if version != "0.8.5" else "/srv/runs/vac/iter_1/policy_model/adapter"
    return (f"While loading {folder}, expected target modules in {expected} but received {received}."
            " Please verify that the loaded LoRA module is correct")


def lora_disabled(version: str) -> str:
    """No ``--enable-lora``: vllm/v1/worker/lora_model_runner_mixin.py, add_lora."""
    return "LoRA is not enabled." if version == "0.8.5" else "LoRA is not enabled. Use --enable-lora to enable LoRA."


def adapter_not_found(version: str, name: str, path: str) -> Answer:
    """A path the server cannot read: vllm/lora/worker_manager.py, _load_adapter, turns the
    FileNotFoundError into "Loading lora NAME failed: No adapter found for PATH" (0.8.5: a
    ValueError; 0.34.0: LoRAAdapterNotFoundError, vllm/exceptions.py); serving_models.py
    answers 404 NotFoundError, in 0.8.5 with the utility-failure prefix."""
    if version == "0.8.5":
        return error(version, 404, "NotFoundError", f"Call to add_lora method failed: Loading lora {name} failed: No adapter found for {path}")
    return error(version, 404, "NotFoundError", f"Loading lora {name} failed: No adapter found for <path>")


def no_route(version: str) -> Answer:
    """No VLLM_ALLOW_RUNTIME_LORA_UPDATING: the adapter routes are never added
    (api_server.py in 0.8.5; vllm/entrypoints/serve/lora/api_router.py, attach_router, in
    0.34.0), so FastAPI answers 404: ``{"detail": "Not Found"}`` in 0.8.5, which has no
    HTTPException handler; 0.34.0's http_exception_handler
    (vllm/entrypoints/serve/exception_handling/handlers/http.py) wraps it in its error shape."""
    if version == "0.8.5":
        return 404, {"detail": "Not Found"}
    return 404, {"error": {"message": "Not Found", "type": "Not Found", "param": None, "code": 404}}


def already_loaded(version: str, name: str) -> Answer:
    """_check_load_lora_adapter_request: 400 InvalidUserInput (0.34.0 adds the load_inplace hint)."""
    extra = "" if version == "0.8.5" else " If you want to load the adapter in place, set 'load_inplace' to True."
    return error(version, 400, "InvalidUserInput", f"The lora adapter '{name}' has already been loaded.{extra}")


def unload_unknown(version: str, name: str) -> Answer:
    """_check_unload_lora_adapter_request: 404 NotFoundError. Unloading never reaches the
    engine in either version (it only forgets the name), so this is its only refusal."""
    return error(version, 404, "NotFoundError", f"The lora adapter '{name}' cannot be found.")


def engine_dead(version: str) -> Answer:
    """A load while the engine is dead: EngineDeadError (vllm/v1/engine/exceptions.py) caught
    by load_lora_adapter: 400 with its message in 0.8.5, 500 in 0.34.0."""
    message = "EngineCore encountered an issue. See stack trace (above) for the root cause."
    return error(version, 400, "BadRequestError", message) if version == "0.8.5" else error(version, 500, "InternalServerError", message)


def loaded(name: str) -> Answer:
    return 200, f"Success: LoRA adapter '{name}' added successfully."


def unloaded(name: str) -> Answer:
    return 200, f"Success: LoRA adapter '{name}' removed successfully."


def model_list(model: str, max_model_len: int, adapters: list[str] = ()) -> Answer:
    """``GET /v1/models``: the base model's card carries max_model_len, an adapter's none
    (serving_models.py, show_available_models; ModelCard in protocol.py)."""
    base = {"id": model, "object": "model", "created": 0, "owned_by": "vllm", "root": model, "parent": None,
            "max_model_len": max_model_len, "permission": []}
    cards = [{"id": name, "object": "model", "created": 0, "owned_by": "vllm", "root": "<path>", "parent": model,
              "max_model_len": None, "permission": []} for name in adapters]
    return 200, {"object": "list", "data": [base, *cards]}


def tokenized(count: int, max_model_len: int) -> Answer:
    """``POST /tokenize`` (TokenizeResponse: count, max_model_len, tokens; 0.34.0 adds token_strs)."""
    return 200, {"count": count, "max_model_len": max_model_len, "tokens": list(range(count))}


def prompt_too_long(version: str, prompt: int, max_tokens: int, context: int) -> Answer:
    """400 BadRequestError for a chat request its context cannot hold. 0.8.5:
    serving_engine.py, _validate_input; 0.11.0 (to 0.14.x): serving_engine.py,
    _validate_input, for max_tokens over the room left; 0.17.0 (and 0.16.x):
    vllm/renderers/params.py, _token_len_check, reached from _preprocess_chat
    (vllm/entrypoints/openai/engine/serving.py); 0.18.0 (to 0.31.x): vllm/renderers/params.py,
    _token_len_check; 0.34.0 (from 0.32.0) no longer refuses prompt + max_tokens over the
    context (it lowers max_tokens: vllm/entrypoints/serve/utils/api_utils.py, get_max_tokens)
    but still a prompt over the context by itself (vllm/renderers/params.py, _token_len_check)."""
    if version == "0.8.5":
        message = (f"This model's maximum context length is {context} tokens. However, you requested {prompt + max_tokens} tokens "
                   f"({prompt} in the messages, {max_tokens} in the completion). Please reduce the length of the messages or completion.")
    elif version == "0.11.0":
        message = (f"'max_tokens' or 'max_completion_tokens' is too large: {max_tokens}. This model's maximum context length is "
                   f"{context} tokens and your request has {prompt} input tokens ({max_tokens} > {context} - {prompt}).")
    elif version == "0.17.0":
        message = (f"You passed {prompt} input tokens and requested {max_tokens} output tokens. However, the model's context length "
                   f"is only {context} tokens, resulting in a maximum input length of {context - max_tokens} tokens. "
                   "Please reduce the length of the input prompt.")
    elif version == "0.18.0":
        message = (f"This model's maximum context length is {context} tokens. However, you requested {max_tokens} output tokens "
                   f"and your prompt contains {prompt} input tokens, for a total of {prompt + max_tokens} tokens. "
                   "Please reduce the length of the input prompt or the number of requested output tokens.")
    else:
        message = (f"This model's maximum context length is {context} tokens. However, your prompt contains {prompt} input tokens, "
                   "which exceeds this limit even without any output tokens. Please reduce the length of the input prompt.")
    return error(version, 400, "BadRequestError", message, None if version in ("0.8.5", "0.11.0") else "input_tokens")


def chat_reply(model: str, text: str) -> Answer:
    return 200, {"id": "chatcmpl-replay", "object": "chat.completion", "created": 0, "model": model,
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": None}],
                 "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}


Script = dict[str, Answer | Callable[[dict], Answer]]


class Replay(ServerThread):
    """A loopback server that answers each ``"METHOD /path"`` of ``script`` with its answer
    (or the answer a function of the request's JSON body gives), and records every request
    in ``received``; a route not in the script is answered 404 as the version would."""

    def __init__(self, script: Script, version: str = "0.34.0"):
        self.script, self.version, self.received = script, version, []
        app = FastAPI()

        @app.api_route("/{path:path}", methods=["GET", "POST"])
        async def answer(path: str, request: Request) -> Response:
            body = await request.json() if request.method == "POST" else None
            key = f"{request.method} /{path}"
            self.received.append((key, body))
            scripted = self.script.get(key, no_route(self.version))
            status, content = scripted(body) if callable(scripted) else scripted
            if isinstance(content, str):
                return PlainTextResponse(content, status_code=status)
            return JSONResponse(content, status_code=status)

        super().__init__(app)

    def calls(self, key: str) -> list[dict | None]:
        return [body for called, body in self.received if called == key]
