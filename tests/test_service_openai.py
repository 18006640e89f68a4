"""`tailor serve` over real HTTP on loopback: the official `openai` client as a personalized
client (plain and streamed), a small load run, access logs, and the real offline model."""

import importlib.util
import json
import logging
import threading
import time
from pathlib import Path

import httpx
import openai
import pytest
import uvicorn
from conftest import ServerThread, free_port
from test_service import make_service

BENCH = Path(__file__).parents[1] / "bench" / "service_load.py"


def bench_module():
    spec = importlib.util.spec_from_file_location("service_load", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def served(tmp_path):
    service = make_service(tmp_path)
    with ServerThread(service.app) as server:
        for user, items in {"alice": [{"id": "b1", "text": "I keep two beehives on my roof in Oslo"}],
                            "carol": [{"id": "c1", "text": "My cat hides whenever I run the vacuum cleaner"}]}.items():
            httpx.put(f"{server.url}/v1/users/{user}", json={"items": items}, headers=service.headers()).raise_for_status()
        yield service, server


def client_for(server, key) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)


def test_the_openai_client_gets_a_personalized_answer_with_its_trace(served):
    service, server = served
    client = client_for(server, service.key)
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Anything for winter?"},
                {"role": "assistant", "content": "Sure."}, {"role": "user", "content": "How do I keep my bees calm?"}]
    reply = client.chat.completions.create(model="rag", user="alice", messages=messages)
    assert reply.object == "chat.completion" and reply.model == "rag"
    assert reply.choices[0].message.content == "Answer about I keep two." and reply.choices[0].finish_reason == "stop"
    assert reply.model_extra["trace"]["retrieved"] == ["b1"]
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens > 0
    assert "How do I keep my bees calm?" in service.llm.prompts()[-1] and "Anything for winter" not in service.llm.prompts()[-1]
    other = client.chat.completions.create(model="rag", user="carol", messages=[{"role": "user", "content": "How do I vacuum?"}])
    assert other.choices[0].message.content == "Answer about My cat hides." and other.model_extra["trace"]["retrieved"] == ["c1"]
    assert {m.id for m in client.models.list()} >= {"rag", "vac", "popi"}


def test_a_streamed_answer_is_the_plain_answer_in_chunks(served):
    service, server = served
    client = client_for(server, service.key)
    question = [{"role": "user", "content": "How do I keep my bees calm?"}]
    plain = client.chat.completions.create(model="rag", user="alice", messages=question).choices[0].message.content
    chunks = list(client.chat.completions.create(model="rag", user="alice", messages=question, stream=True))
    assert len(chunks) > 3 and all(c.object == "chat.completion.chunk" for c in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == plain
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_extra["trace"]["retrieved"] == ["b1"]
    raw = httpx.post(f"{server.url}/v1/chat/completions", json={"model": "rag", "user": "alice", "messages": question, "stream": True},
                     headers=service.headers())
    assert raw.headers["content-type"].startswith("text/event-stream")
    events = [line for line in raw.text.split("\n\n") if line]
    assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"
    assert [json.loads(e[6:])["id"] for e in events[:-1]].count(json.loads(events[0][6:])["id"]) == len(events) - 1


def test_the_openai_client_sees_auth_user_and_model_errors(served):
    service, server = served
    question = [{"role": "user", "content": "q"}]
    with pytest.raises(openai.AuthenticationError):
        client_for(server, "wrong").chat.completions.create(model="rag", user="alice", messages=question)
    with pytest.raises(openai.NotFoundError):
        client_for(server, service.other_key).chat.completions.create(model="rag", user="alice", messages=question)
    with pytest.raises(openai.NotFoundError) as unknown_model:
        client_for(server, service.key).chat.completions.create(model="gpt-4o", user="alice", messages=question)
    assert "not served" in unknown_model.value.body["message"] and unknown_model.value.body["param"] == "model"  # OpenAI's error shape
    with pytest.raises(openai.UnprocessableEntityError) as no_user:
        client_for(server, service.key).chat.completions.create(model="rag", messages=question)
    assert no_user.value.body["param"] == "user"
    with pytest.raises(openai.UnprocessableEntityError) as no_question:
        client_for(server, service.key).chat.completions.create(model="rag", user="alice", messages=[{"role": "system", "content": "hi"}])
    assert no_question.value.body["param"] == "messages"
    with pytest.raises(openai.UnprocessableEntityError) as many:
        client_for(server, service.key).chat.completions.create(model="rag", user="alice", messages=question, n=2)
    assert many.value.body["param"] == "n" and "not supported" in many.value.body["message"]


def test_a_small_load_run_has_no_errors(served):
    service, server = served
    bench = bench_module()
    pairs = [("alice", "How do I keep my bees calm?"), ("carol", "How do I vacuum?")]
    bench.run_load(server.url, service.key, bench.answer_calls(pairs, 2), concurrency=1)  # warm-up, as the bench does
    report = bench.run_load(server.url, service.key, bench.answer_calls(pairs, 40), concurrency=8)
    assert report.requests == 40 and report.errors == 0, report.error_examples
    assert len(service.llm.received) == 2  # one generation per user in the warm-up, then their caches


def test_access_logs_hold_paths_but_never_profile_text(tmp_path, capfd, caplog):
    service = make_service(tmp_path)
    config = uvicorn.Config(service.app, host="127.0.0.1", port=free_port(), log_level="debug", access_log=True)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    secret = "zanzibar-marmalade-7731"
    url, headers = f"http://127.0.0.1:{config.port}", service.headers()
    try:
        with caplog.at_level(logging.DEBUG):
            httpx.put(f"{url}/v1/users/alice", json={"items": [{"text": f"My {secret} recipe"}]}, headers=headers).raise_for_status()
            httpx.post(f"{url}/v1/users/alice/items", json={"items": [{"text": f"more {secret}", "bad": 1}]}, headers=headers)
            httpx.post(f"{url}/v1/answer", json={"user_id": "alice", "question": f"and {secret}?"}, headers=headers).raise_for_status()
            httpx.post(f"{url}/v1/chat/completions", json={"model": "popi", "user": "alice", "messages": [{"role": "user", "content": secret}]},
                       headers=headers).raise_for_status()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    logged = capfd.readouterr()
    assert "PUT /v1/users/alice HTTP/1.1" in logged.err + logged.out  # the access log is on ...
    assert secret not in logged.err + logged.out + caplog.text  # ... and holds no profile text


BEEKEEPER = ["I keep two beehives on my roof in Oslo", "Our winters are long so the bees stay inside until April",
             "I harvest honey every August and sell it at the market"]
CAT_OWNER = ["My cat hides whenever I run the vacuum cleaner", "The cat sleeps on the radiator all winter",
             "I adopted a second cat from the shelter last spring"]


@pytest.mark.model
def test_one_question_gets_each_users_own_answer_from_the_offline_model(tmp_path):
    """SmolLM2 through the hf backend, behind `tailor serve`'s app, with the openai client:
    the same question from a beekeeper and a cat owner gets answers drawn from each one's
    own profile; another tenant's key cannot reach either user."""
    from tailor.llm.backends.hf import HFBackend
    from tailor.methods import AnswerConfig
    from tailor.retrieval import make_retriever
    from tailor.service.answering import Answerer
    from tailor.service.app import create_app
    from tailor.service.auth import create_tenant
    from tailor.service.catalog import ModelCatalog
    from tailor.service.store import ProfileStore, make_engine

    store = ProfileStore(make_engine(str(tmp_path / "service.sqlite")))
    llm = HFBackend("smollm2-135m-instruct", cache=None)
    answerer = Answerer(store, lambda: llm, make_retriever("bm25"), ModelCatalog(tmp_path), AnswerConfig(k=3, max_tokens=60, max_attempts=1))
    key, other_key = create_tenant(store, "acme"), create_tenant(store, "globex")
    profiles = {"beekeeper": BEEKEEPER, "cat-owner": CAT_OWNER}
    question = [{"role": "user", "content": "What should I get ready before winter comes?"}]
    with ServerThread(create_app(store, answerer, runs_root=tmp_path)) as server:
        for user, texts in profiles.items():
            items = [{"id": f"{user}-{i}", "text": t} for i, t in enumerate(texts)]
            httpx.put(f"{server.url}/v1/users/{user}", json={"items": items}, headers={"Authorization": f"Bearer {key}"}).raise_for_status()
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=600)
        replies = {user: client.chat.completions.create(model="rag", user=user, messages=question) for user in profiles}
        outsider = openai.OpenAI(base_url=f"{server.url}/v1", api_key=other_key, max_retries=0, timeout=60)
        for user in (*profiles, "nobody"):
            with pytest.raises(openai.NotFoundError) as refused:
                outsider.chat.completions.create(model="rag", user=user, messages=question)
            assert refused.value.body == {"message": f"user {user!r} not found", "type": "not_found_error", "param": None, "code": 404}  # the same for a user that does not exist
    for user, reply in replies.items():
        assert set(reply.model_extra["trace"]["retrieved"]) == {f"{user}-{i}" for i in range(3)}
    bees, cats = (replies[u].choices[0].message.content.lower() for u in profiles)
    assert "bee" in bees and "cat" not in bees
    assert "cat" in cats and "bee" not in cats
