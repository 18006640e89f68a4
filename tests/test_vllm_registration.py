"""The openai backend against vLLM's own answers, replayed version by version
(``vllm_answers``: each answer's source file and version is named there): an adapter a
server refuses stops the run with vLLM's reason, never as a dead replica; a server that is
going away is still set aside; an over-long prompt is a ``PromptTooLong``; the context
length and prompt tokens come from ``/v1/models`` and ``/tokenize``."""

import json

import pytest
import vllm_answers as vllm
from conftest import ServerThread
from fakes import ScriptedLLM
from vllm_answers import Replay

from tailor.errors import BackendError, PromptTooLong
from tailor.llm.backends.openai_compat import OpenAIBackend, served_adapter_name
from tailor.llm.server import create_app
from tailor.llm.types import ChatRequest, SamplingParams

PARAMS = SamplingParams(max_tokens=8)
LOAD, UNLOAD, CHAT = "POST /v1/load_lora_adapter", "POST /v1/unload_lora_adapter", "POST /v1/chat/completions"


def adapter(root, rank: int = 16):
    folder = root / "iter_1" / "policy_model" / "adapter"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "target_modules": ["q_proj", "v_proj"]}))
    return folder


def backend(*servers: Replay, **options) -> OpenAIBackend:
    return OpenAIBackend("smol", base_url=[f"{s.url}/v1" for s in servers], backoff=0.01, cooldown=0.0, **options)


REFUSALS = {
    "rank": lambda version: vllm.rank_too_high(16, 8),
    "modules": lambda version: vllm.modules_unsupported(version, ["q_proj", "v_proj"], ["base_model.model.model.layers.0.mlp.up_proj"]),
    "lora disabled": vllm.lora_disabled,
}


@pytest.mark.parametrize("version", vllm.VERSIONS)
@pytest.mark.parametrize("reason", REFUSALS)
def test_an_adapter_the_engine_refuses_stops_the_run_with_vllms_reason(tmp_path, version, reason):
    """Both replicas refuse (as every replica of one deployment would): one clear error
    naming the adapter, the server and vLLM's reason, after asking one server once; never
    the failover's "no server answered" (0.34.0's 500 used to set healthy servers aside)."""
    path = adapter(tmp_path)
    answer = vllm.engine_refused(version, REFUSALS[reason](version))
    with Replay({LOAD: answer}, version) as a, Replay({LOAD: answer}, version) as b:
        with pytest.raises(BackendError) as caught:
            backend(a, b).generate([ChatRequest.of("hi")], PARAMS, adapter=str(path))
    message = str(caught.value)
    assert "no server answered" not in message
    assert served_adapter_name(str(path)) in message and str(path) in message
    assert REFUSALS[reason](version) in message  # vLLM's own words: the rank, the modules, --enable-lora
    assert len(a.calls(LOAD)) + len(b.calls(LOAD)) == 1


@pytest.mark.parametrize("version", vllm.VERSIONS)
def test_a_path_the_server_cannot_read_is_named(tmp_path, version):
    path = adapter(tmp_path)
    name = served_adapter_name(str(path))
    with Replay({LOAD: vllm.adapter_not_found(version, name, str(path))}, version) as server:
        with pytest.raises(BackendError, match="same path on every server") as caught:
            backend(server).generate([ChatRequest.of("hi")], PARAMS, adapter=str(path))
    assert str(path) in str(caught.value) and "No adapter found" in str(caught.value)


@pytest.mark.parametrize("version", vllm.VERSIONS)
def test_a_server_without_runtime_lora_updating_says_which_variable(tmp_path, version):
    with Replay({}, version) as server:  # no adapter routes at all
        with pytest.raises(BackendError, match="VLLM_ALLOW_RUNTIME_LORA_UPDATING=True") as caught:
            backend(server).generate([ChatRequest.of("hi")], PARAMS, adapter=str(adapter(tmp_path)))
    assert "no /v1/load_lora_adapter" in str(caught.value)


@pytest.mark.parametrize("version", vllm.VERSIONS)
def test_a_dead_engine_or_a_busy_server_is_set_aside_and_the_next_one_answers(tmp_path, version):
    """vLLM's dead-engine answer (400 in 0.8.5, 500 later) and a 503 still mean "try another
    server": they say nothing about the adapter."""
    path = adapter(tmp_path)
    name = served_adapter_name(str(path))
    working = {LOAD: vllm.loaded(name), CHAT: vllm.chat_reply(name, "from the healthy one")}
    for going in (vllm.engine_dead(version), vllm.error(version, 503, "ServiceUnavailableError", "")):
        with Replay({LOAD: going}, version) as gone, Replay(working, version) as healthy:
            llm = backend(gone, healthy, max_retries=0)
            requests = [ChatRequest.of(f"question {i}") for i in range(6)]  # some hash to the gone server first
            assert {c.text for c in llm.generate(requests, PARAMS, adapter=str(path))} == {"from the healthy one"}
            assert gone.calls(LOAD) and not gone.calls(CHAT)


@pytest.mark.parametrize("version", vllm.VERSIONS)
def test_unloading_an_adapter_the_server_no_longer_holds_is_fine(tmp_path, version):
    """max_adapters 1: the second adapter unloads the first, which the server has forgotten
    (it restarted): 404 "cannot be found", and the run goes on."""
    first, second = adapter(tmp_path / "a"), adapter(tmp_path / "b", rank=8)
    names = [served_adapter_name(str(first)), served_adapter_name(str(second))]
    script = {
        LOAD: lambda body: vllm.loaded(body["lora_name"]),
        UNLOAD: lambda body: vllm.unload_unknown(version, body["lora_name"]),
        CHAT: lambda body: vllm.chat_reply(body["model"], f"answered by {body['model']}"),
    }
    with Replay(script, version) as server:
        llm = backend(server, max_adapters=1)
        assert llm.generate([ChatRequest.of("hi")], PARAMS, adapter=str(first))[0].text == f"answered by {names[0]}"
        assert llm.generate([ChatRequest.of("hi")], PARAMS, adapter=str(second))[0].text == f"answered by {names[1]}"
    assert server.calls(UNLOAD) == [{"lora_name": names[0]}]


@pytest.mark.parametrize("version", vllm.VERSIONS)
def test_a_name_the_server_holds_already_is_as_good_as_loaded(tmp_path, version):
    path = adapter(tmp_path)
    name = served_adapter_name(str(path))
    with Replay({LOAD: vllm.already_loaded(version, name), CHAT: vllm.chat_reply(name, "kept")}, version) as server:
        assert backend(server).generate([ChatRequest.of("hi")], PARAMS, adapter=str(path))[0].text == "kept"


def test_the_adapter_path_sent_is_absolute(tmp_path, monkeypatch):
    """A relative folder is sent resolved: vLLM resolves a relative path against its own
    working folder, then tries the Hugging Face hub (vllm/lora/utils.py,
    get_adapter_absolute_path, 0.8.5 and 0.34.0)."""
    monkeypatch.chdir(tmp_path)
    adapter(tmp_path)
    relative = "iter_1/policy_model/adapter"
    with Replay({LOAD: lambda body: vllm.loaded(body["lora_name"]), CHAT: vllm.chat_reply("x", "ok")}) as server:
        backend(server).generate([ChatRequest.of("hi")], PARAMS, adapter=relative)
    assert [body["lora_path"] for body in server.calls(LOAD)] == [str(tmp_path / relative)]


@pytest.mark.parametrize("version", ["0.8.5", "0.11.0", "0.17.0", "0.18.0", "0.34.0"])
def test_a_prompt_longer_than_the_servers_context_is_prompt_too_long(version):
    answer = vllm.prompt_too_long(version, prompt=7000, max_tokens=1536, context=6656)
    with Replay({CHAT: answer}, version) as server:
        with pytest.raises(PromptTooLong) as caught:
            backend(server).generate([ChatRequest.of("a long question")], SamplingParams(max_tokens=1536))
    refused = caught.value
    assert (refused.prompt_tokens, refused.max_tokens, refused.context_length) == (7000, 1536, 6656)
    assert server.url in str(refused)


def test_another_bad_request_stays_a_backend_error():
    answer = vllm.error("0.34.0", 400, "BadRequestError", "temperature must be non-negative")
    with Replay({CHAT: answer}) as server:
        with pytest.raises(BackendError, match="temperature must be non-negative") as caught:
            backend(server).generate([ChatRequest.of("hi")], PARAMS)
    assert not isinstance(caught.value, PromptTooLong)


@pytest.mark.parametrize("version", vllm.VERSIONS)
def test_context_length_and_prompt_tokens_come_from_the_server(version):
    script = {"GET /v1/models": vllm.model_list("smol", 6656, ["an-adapter"]), "POST /tokenize": vllm.tokenized(42, 6656)}
    with Replay(script, version) as a, Replay({**script, "GET /v1/models": vllm.model_list("smol", 4096)}, version) as b:
        llm = backend(a, b, max_model_len=100_000)
        assert llm.context_length() == 4096  # the smallest any replica allows; the option only stands in for none
        request = ChatRequest.of("What should I cook tonight?", prefill='{"answer": "')
        assert llm.prompt_tokens(request) == 42
    asked = (a.calls("POST /tokenize") + b.calls("POST /tokenize"))[0]
    assert asked["model"] == "smol" and asked["messages"] == request.openai_messages()
    assert asked["continue_final_message"] is True and asked["add_generation_prompt"] is False  # as generation renders a prefill


def test_a_count_is_kept_beside_the_response_cache_so_a_rerun_asks_no_server(tmp_path):
    from tailor.llm.cache import ResponseCache

    request = ChatRequest.of("What should I cook tonight?")
    with Replay({"POST /tokenize": vllm.tokenized(42, 6656)}) as server:
        assert backend(server, cache=ResponseCache(tmp_path / "cache.sqlite")).prompt_tokens(request) == 42
    with Replay({}) as gone:  # the rerun's server would not count it
        assert backend(gone, cache=ResponseCache(tmp_path / "cache.sqlite")).prompt_tokens(request) == 42
    assert gone.calls("POST /tokenize") == []


def test_without_what_the_server_reports_the_options_stand_in():
    """A server with no max_model_len and no /tokenize (OpenAI's, llama.cpp's): the
    max_model_len option, and no count (no tokenizer option given)."""
    with Replay({"GET /v1/models": (200, {"object": "list", "data": [{"id": "smol", "object": "model"}]})}) as server:
        assert backend(server, max_model_len=8192).context_length() == 8192
        assert backend(server).context_length() is None
        llm = backend(server)
        assert llm.prompt_tokens(ChatRequest.of("hi")) is None
        llm.prompt_tokens(ChatRequest.of("hi again"))
    assert len(server.calls("POST /tokenize")) == 1  # a server without /tokenize is asked once


@pytest.mark.model
def test_a_configured_tokenizer_counts_where_the_server_cannot():
    from transformers import AutoTokenizer

    from tailor.models import resolve_model

    request = ChatRequest.of("Name a fruit.", prefill="An apple")
    with Replay({}) as server:
        counted = backend(server, tokenizer="smollm2-135m-instruct").prompt_tokens(request)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("smollm2-135m-instruct"))
    rendered = tokenizer.apply_chat_template([m.model_dump() for m in request.messages], tokenize=False, add_generation_prompt=True)
    assert counted == len(tokenizer(rendered + "An apple", add_special_tokens=False).input_ids) > 10


class Measured(ScriptedLLM):
    """A scripted model with a context length, counting a prompt's tokens as its words."""

    def __init__(self, context: int):
        super().__init__(lambda request, _params, _j: "fits")
        self.context = context

    def context_length(self) -> int:
        return self.context

    def prompt_tokens(self, request: ChatRequest) -> int:
        return sum(len(m.content.split()) for m in request.messages) + len((request.prefill or "").split())


def test_serve_llm_reports_context_counts_tokens_and_refuses_what_does_not_fit():
    model = Measured(context=50)
    with ServerThread(create_app(model, "smol")) as server:
        llm = OpenAIBackend("smol", base_url=f"{server.url}/v1")
        assert llm.context_length() == 50
        assert llm.prompt_tokens(ChatRequest.of("one two three", prefill="four")) == 4
        assert llm.generate([ChatRequest.of("word " * 30)], SamplingParams(max_tokens=20))[0].text == "fits"
        with pytest.raises(PromptTooLong) as caught:
            llm.generate([ChatRequest.of("word " * 31)], SamplingParams(max_tokens=20))
    assert (caught.value.prompt_tokens, caught.value.max_tokens, caught.value.context_length) == (31, 20, 50)
    assert len(model.received) == 1  # the refused prompt was never generated


def test_serve_llm_refuses_an_adapter_above_its_max_lora_rank_as_vllm_does(tmp_path):
    path = adapter(tmp_path, rank=16)
    with ServerThread(create_app(ScriptedLLM(lambda *_: "x"), "smol", max_lora_rank=8)) as server:
        with pytest.raises(BackendError, match="LoRA rank 16 is greater than max_lora_rank 8") as caught:
            OpenAIBackend("smol", base_url=f"{server.url}/v1").generate([ChatRequest.of("hi")], PARAMS, adapter=str(path))
    assert "no server answered" not in str(caught.value)
