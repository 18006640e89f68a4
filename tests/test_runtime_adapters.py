"""Training loops on generation servers: adapters registered at run time (vLLM's
``/v1/load_lora_adapter``, which ``tailor serve-llm`` answers as vLLM does), failover between
replicas, and a resume that repeats no finished call. Scripted models behind real HTTP."""

import json

import httpx
import pytest
from conftest import ServerThread
from fakes import ScriptedLLM, loop_inputs

from tailor.errors import BackendError
from tailor.llm.backends.openai_compat import OpenAIBackend, served_adapter_name
from tailor.llm.cache import ResponseCache
from tailor.llm.server import create_app
from tailor.llm.types import ChatRequest, SamplingParams

PARAMS = SamplingParams(max_tokens=8)


def adapter_folder(root, name: str, rank: int = 8):
    folder = root / name / "adapter"
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"r": rank, "name": name}))
    return str(folder)


class Echo(ScriptedLLM):
    """Answers ``tag|question|adapter``; with ``dies_after``, shuts its ``server`` down once
    it has answered that many requests."""

    def __init__(self, tag: str, dies_after: int | None = None):
        super().__init__(lambda request, _params, _j: f"{tag}|{request.messages[-1].content}")
        self.dies_after, self.server = dies_after, None

    def _generate(self, requests, params, adapter):
        out = [c.model_copy(update={"samples": [s.model_copy(update={"text": f"{s.text}|{adapter}"}) for s in c.samples]})
               for c in super()._generate(requests, params, adapter)]
        if self.dies_after is not None and len(self.received) >= self.dies_after:
            self.server.server.should_exit = True
        return out


def replica(model: Echo, port: int | None = None) -> ServerThread:
    model.server = ServerThread(create_app(model, "smol"), port=port)
    return model.server


def served(url: str) -> list[str]:
    return [m["id"] for m in httpx.get(f"{url}/v1/models").json()["data"]]


def test_serve_llm_loads_and_unloads_adapters_as_vllm_answers(tmp_path):
    model = Echo("a")
    path = adapter_folder(tmp_path, "iter_1")
    with ServerThread(create_app(model, "smol")) as server:
        post = lambda route, body: httpx.post(f"{server.url}/v1/{route}", json=body)  # noqa: E731
        chat = lambda name: httpx.post(f"{server.url}/v1/chat/completions", json={"model": name, "messages": [{"role": "user", "content": "hi"}]})  # noqa: E731
        assert chat("tuned").status_code == 404
        loaded = post("load_lora_adapter", {"lora_name": "tuned", "lora_path": path})
        assert loaded.status_code == 200 and "added successfully" in loaded.text
        assert served(server.url) == ["smol", "tuned"]
        assert chat("tuned").json()["choices"][0]["message"]["content"] == f"a|hi|{path}"
        again = post("load_lora_adapter", {"lora_name": "tuned", "lora_path": path})
        assert again.status_code == 400 and "already been loaded" in again.json()["error"]["message"]
        missing = post("load_lora_adapter", {"lora_name": "other", "lora_path": str(tmp_path / "nowhere")})
        assert missing.status_code == 404 and str(tmp_path / "nowhere") in missing.json()["error"]["message"]
        assert post("unload_lora_adapter", {"lora_name": "tuned"}).status_code == 200
        assert served(server.url) == ["smol"] and chat("tuned").status_code == 404
        assert post("unload_lora_adapter", {"lora_name": "tuned"}).status_code == 404
        assert post("load_lora_adapter", {"lora_name": "x"}).status_code == 422


def test_a_trained_adapter_is_registered_on_every_replica_that_serves_it(tmp_path):
    first, second = adapter_folder(tmp_path / "run", "iter_1"), adapter_folder(tmp_path / "run", "iter_2", rank=4)
    models = {tag: Echo(tag) for tag in "ab"}
    with ServerThread(create_app(models["a"], "smol")) as a, ServerThread(create_app(models["b"], "smol")) as b:
        llm = OpenAIBackend("smol", base_url=[f"{a.url}/v1", f"{b.url}/v1"], max_adapters=1)
        questions = [ChatRequest.of(f"question {i}") for i in range(16)]
        replies = [c.text for c in llm.generate(questions, PARAMS, adapter=first)]
        assert [r.split("|")[1] for r in replies] == [f"question {i}" for i in range(16)]
        assert {r.split("|")[2] for r in replies} == {first}  # each server generated with the adapter's folder
        name = served_adapter_name(first)
        assert name.startswith("run-iter_1-") and name != served_adapter_name(second)
        assert served(a.url) == served(b.url) == ["smol", name]
        llm.generate(questions[:4], PARAMS, adapter=second)  # the next iteration's adapter replaces it
        for url in {r.url for r in llm.route(questions[0])[:1]}:
            assert served(url.removesuffix("/v1")) == ["smol", served_adapter_name(second)]
        base = llm.generate([ChatRequest.of("plain")], PARAMS)[0].text
        assert base.endswith("|None")  # no adapter: the base model


def test_an_adapter_the_servers_cannot_read_says_so(tmp_path):
    unreadable = tmp_path / "iter_1" / "adapter"
    unreadable.mkdir(parents=True)  # no adapter_config.json: what a server sees on a path it lacks
    with ServerThread(create_app(Echo("a"), "smol")) as server:
        llm = OpenAIBackend("smol", base_url=f"{server.url}/v1")
        with pytest.raises(BackendError, match="same path on every server") as caught:
            llm.generate([ChatRequest.of("hi")], PARAMS, adapter=str(unreadable))
        assert str(unreadable) in str(caught.value)


def test_a_replica_that_dies_mid_run_is_failed_over_and_gets_the_adapter_back_when_it_returns(tmp_path):
    path = adapter_folder(tmp_path, "iter_1")
    a_model, b_model = Echo("a", dies_after=3), Echo("b")
    with replica(a_model) as a, replica(b_model) as b:
        llm = OpenAIBackend("smol", base_url=[f"{a.url}/v1", f"{b.url}/v1"], concurrency=1, backoff=0.01, cooldown=0.0)
        questions = [ChatRequest.of(f"question {i}") for i in range(24)]
        replies = [c.text for c in llm.generate(questions, PARAMS, adapter=path)]
        assert [r.split("|")[1] for r in replies] == [f"question {i}" for i in range(24)]  # nothing lost
        assert 3 <= len(a_model.received) < 12 and len(a_model.received) + len(b_model.received) == 24  # b took over, no call twice
        a.thread.join(timeout=10)
        with replica(Echo("a again"), port=a.port) as back:
            assert served(back.url) == ["smol"]  # it came back without the adapter
            later = [c.text for c in llm.generate([ChatRequest.of(f"later {i}") for i in range(12)], PARAMS, adapter=path)]
            assert any(r.startswith("a again|") for r in later)
            assert served(back.url) == ["smol", served_adapter_name(path)]


def test_no_replica_answering_stops_the_run_and_a_resume_repeats_no_finished_call(tmp_path):
    cache = ResponseCache(tmp_path / "cache.sqlite")
    a_model, b_model = Echo("a", dies_after=5), Echo("b", dies_after=5)
    questions = [ChatRequest.of(f"question {i}") for i in range(24)]
    with replica(a_model) as a, replica(b_model) as b:
        llm = OpenAIBackend("smol", base_url=[f"{a.url}/v1", f"{b.url}/v1"], cache=cache, concurrency=1, max_retries=1, backoff=0.01, cooldown=0.0)
        with pytest.raises(BackendError, match="no server answered") as caught:
            llm.generate(questions, PARAMS)
        assert a.url in str(caught.value) and b.url in str(caught.value)
    # a dying server may compute a reply it never delivers: the finished calls are those cached
    finished = cache.stats().entries
    assert 0 < finished <= len(a_model.received) + len(b_model.received) < 24
    fresh_a, fresh_b = Echo("a"), Echo("b")
    with replica(fresh_a, port=a.port), replica(fresh_b, port=b.port):
        resumed = OpenAIBackend("smol", base_url=[f"{a.url}/v1", f"{b.url}/v1"], cache=cache, concurrency=1)
        replies = [c.text for c in resumed.generate(questions, PARAMS)]
    assert [r.split("|")[1] for r in replies] == [f"question {i}" for i in range(24)]
    assert len(fresh_a.received) + len(fresh_b.received) == 24 - finished  # every finished call came from the cache


def test_serve_llm_generates_concurrent_requests_in_one_batch():
    model = Echo("a")
    app = create_app(model, "smol", max_batch=8, batch_wait=0.5)
    with ServerThread(app) as server:
        llm = OpenAIBackend("smol", base_url=f"{server.url}/v1", concurrency=8)
        replies = llm.generate([ChatRequest.of(f"q{i}") for i in range(8)], PARAMS)
    assert [r.text.split("|")[1] for r in replies] == [f"q{i}" for i in range(8)]
    batches = app.state.batcher.batches
    assert sum(batches) == 8 and max(batches) > 1  # concurrent requests met in a batch


@pytest.mark.model
def test_a_vac_round_served_by_two_replicas_matches_the_in_process_run(tmp_path, train, valid):
    """A tiny greedy VAC round (4 questions, 2 SFT steps, 32 tokens): policy and feedback
    model on two ``tailor serve-llm`` replicas, each new adapter registered at run time,
    writes the same feedbacks, revisions and validation scores as the hf backend in process.
    Both generate one request at a time, so batching changes no greedy answer."""
    from tailor.llm.backends.hf import HFBackend
    from tailor.metrics.registry import make_metric
    from tailor.train.sft import SFTSettings, train_sft
    from tailor.train.vac import VACConfig, train_vac

    tiny = SFTSettings.cpu_sample().model_copy(update={"batch_size": 2, "per_device_batch_size": 2, "max_steps": 2, "eval_steps": 2})
    metric = make_metric("proxy", None)

    def run(folder: str, llm) -> list:
        config = VACConfig(
            iterations=1, n_feedback=1, k=2, feedback_temperature=0.0, answer_temperature=0.0, feedback_max_tokens=32,
            answer_max_tokens=32, max_attempts=1, holdout=0.0, sft=tiny, run_dir=tmp_path / folder,
        )
        result = train_vac(*loop_inputs(config, train[:4], valid[:1], metric, policy=llm), trainer=train_sft)
        stages = tmp_path / folder / "iter_1"
        texts = {name: [{k: v for k, v in row.items() if k != "seconds"} for row in map(json.loads, (stages / name).read_text().splitlines())]
                 for name in ("initial.jsonl", "feedbacks.jsonl", "revised.jsonl", "train_scores.jsonl")}
        return [result.validation, texts]

    local = run("local", HFBackend("smollm2-135m-instruct", cache=None, batch_size=1))
    servers = [HFBackend("smollm2-135m-instruct", cache=None, batch_size=1) for _ in range(2)]
    with ServerThread(create_app(servers[0], "smol")) as a, ServerThread(create_app(servers[1], "smol")) as b:
        remote = OpenAIBackend("smol", base_url=[f"{a.url}/v1", f"{b.url}/v1"], concurrency=2)
        served_run = run("served", remote)
        registered = [set(served(a.url)) - {"smol"}, set(served(b.url)) - {"smol"}]
    assert served_run == local
    assert all(s.usage.requests for s in servers)  # both replicas generated
    adapters = {served_adapter_name(str(tmp_path / "served" / "iter_1" / role / "adapter")) for role in ("policy_model", "feedback_model")}
    assert set().union(*registered) <= adapters and registered[0] | registered[1]  # the run's own adapters, registered at run time
