"""The openai backend over several replicas of one model: two OpenAI-compatible servers on
loopback (``tailor serve-llm``'s app over scripted models that say which server they are)."""

import pytest
from conftest import ServerThread
from fakes import ScriptedLLM

from tailor.llm.backends.openai_compat import OpenAIBackend, server_urls
from tailor.llm.server import create_app
from tailor.llm.types import ChatRequest, SamplingParams


@pytest.fixture
def replicas():
    models = {name: ScriptedLLM(lambda request, _params, _j, name=name: f"{name}: {request.messages[-1].content}") for name in ("a", "b")}
    with ServerThread(create_app(models["a"], "smol")) as a, ServerThread(create_app(models["b"], "smol")) as b:
        yield [f"{a.url}/v1", f"{b.url}/v1"], models


def test_requests_spread_over_the_servers_and_come_back_in_order(replicas):
    urls, models = replicas
    llm = OpenAIBackend("smol", base_url=urls, concurrency=2)
    questions = [f"question {i}" for i in range(24)]
    replies = [c.text for c in llm.generate([ChatRequest.of(q) for q in questions], SamplingParams(max_tokens=8))]
    assert [r.split(": ", 1)[1] for r in replies] == questions
    served = {name: len(model.received) for name, model in models.items()}
    assert sum(served.values()) == 24 and min(served.values()) >= 4  # both replicas work
    assert llm.concurrency == 4  # in flight per server, times the servers


def test_repeats_of_one_prompt_meet_the_same_server(replicas):
    urls, models = replicas
    llm = OpenAIBackend("smol", base_url=",".join(urls))  # the comma-separated form of --base-url
    prompt = ChatRequest.of("Give feedback on this answer.")
    seeded = [llm.generate([prompt], SamplingParams(temperature=1.0, seed=seed, max_tokens=8))[0].text for seed in range(6)]
    assert len({reply.split(":")[0] for reply in seeded}) == 1
    assert sorted(len(m.received) for m in models.values()) == [0, 6]


def test_server_urls_reads_one_a_list_or_commas():
    assert server_urls(None) == [None] and server_urls("") == [None]
    assert server_urls("http://a/v1") == ["http://a/v1"]
    assert server_urls("http://a/v1, http://b/v1") == server_urls(["http://a/v1", "http://b/v1"]) == ["http://a/v1", "http://b/v1"]
