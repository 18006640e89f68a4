"""The service and ``tailor serve-llm`` as a careless or hostile client uses them: every bad
request gets a 4xx naming the field (OpenAI's error shape on the OpenAI routes), never a
500; OpenAI's semantics for ``finish_reason`` and usage; ``max_tokens`` capped."""

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from fakes import ScriptedLLM
from fastapi.testclient import TestClient
from test_service import BEES, make_service, put_user

from tailor.llm.server import create_app as create_llm_app
from tailor.llm.types import Sample
from tailor.service.limits import Limits

QUESTION = [{"role": "user", "content": "How do I keep my bees calm in winter?"}]


@pytest.fixture
def client(tmp_path):
    service = make_service(tmp_path, Limits(max_tokens=128))
    with TestClient(service.app) as client:
        client.headers.update(service.headers())
        put_user(client, "alice", BEES)
        client.service = service
        yield client


def chat(client, **body):
    return client.post("/v1/chat/completions", json={"model": "rag", "user": "alice", "messages": QUESTION, **body})


def openai_error(response, status: int, field: str | None = None) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and error["type"]
    if field is not None:
        assert error["param"] == field, error
    return error["message"]


@pytest.mark.parametrize("body, field", [
    ({"temperature": -1}, "temperature"),
    ({"temperature": 2.5}, "temperature"),
    ({"top_p": 0}, "top_p"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": -5}, "max_tokens"),
    ({"max_completion_tokens": 0}, "max_completion_tokens"),
    ({"seed": 2**64}, "seed"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x/y.png"}}]}]}, "messages.0.content"),
])
def test_bad_sampling_settings_get_a_4xx_in_openai_shape_naming_the_field(client, body, field):
    openai_error(chat(client, **body), 422, field)


def test_n_above_one_says_it_is_not_supported(client):
    assert "one answer per request" in openai_error(chat(client, n=3), 422, "n")


def test_content_parts_of_text_are_accepted(client):
    parts = [{"role": "user", "content": [{"type": "text", "text": "How do I keep my bees"}, {"type": "text", "text": "calm in winter?"}]}]
    response = chat(client, messages=parts)
    assert response.status_code == 200, response.text
    asked = client.service.llm.received[-1][0].messages[-1].content
    assert "How do I keep my bees\ncalm in winter?" in asked


def test_an_unknown_model_or_a_run_folder_without_adapter_is_404_at_once_and_not_remembered(client):
    assert "not served" in openai_error(chat(client, model="gpt-4o"), 404)
    empty = client.service.runs_root / "empty-run"
    empty.mkdir()
    assert "no LoRA adapter" in openai_error(chat(client, model=f"vac:{empty}"), 404)
    assert chat(client).status_code == 200  # the bad choice left nothing behind
    answer = client.post("/v1/answer", json={"user_id": "alice", "question": "Bees?", "method": f"rag:{empty}"})
    assert answer.status_code == 422 and "no LoRA adapter" in answer.text


def test_an_offset_past_64_bits_is_a_422(client):
    response = client.get("/v1/users/alice/items", params={"offset": 2**64})
    assert response.status_code == 422 and "offset" in response.text


def test_max_tokens_over_the_cap_states_the_cap(client):
    assert "at most 128" in openai_error(chat(client, max_tokens=100000), 422, "max_tokens")
    assert chat(client, max_tokens=128).status_code == 200


def test_finish_reason_is_length_when_the_answer_hit_max_tokens_and_cached_usage_is_reported(client):
    llm = client.service.llm
    llm.reply = lambda request, params, j: Sample(text="Cut short", tokens=params.max_tokens, finish_reason="length")
    first = chat(client, max_tokens=16).json()
    assert first["choices"][0]["finish_reason"] == "length"
    again = chat(client, max_tokens=16).json()  # answered from the user's cache
    assert again["choices"][0]["finish_reason"] == "length"
    assert again["usage"] == first["usage"] and first["usage"]["completion_tokens"] == 16


def test_serve_llm_refuses_bad_settings_in_openai_shape():
    app = create_llm_app(ScriptedLLM(lambda request, params, j: "hi"), "smol", max_tokens=64)
    with TestClient(app) as llm_client:
        ask = lambda **body: llm_client.post("/v1/chat/completions", json={"model": "smol", "messages": QUESTION, **body})  # noqa: E731
        openai_error(ask(temperature=-1), 422, "temperature")
        assert "at most 64" in openai_error(ask(max_tokens=1000), 422, "max_tokens")
        assert ask(messages=[{"role": "user", "content": [{"type": "text", "text": "hi"}]}]).status_code == 200


@pytest.mark.parametrize("path", ["/runs/", "/metrics"])
def test_run_folders_and_metrics_need_the_admin_key(client, path):
    service = client.service
    assert client.get(path, headers={"Authorization": ""}).status_code == 401
    assert 'Basic realm="tailor admin"' in client.get(path, headers={"Authorization": ""}).headers["www-authenticate"]
    assert client.get(path, headers=service.headers(service.key)).status_code == 403  # a tenant's key
    assert client.get(path, headers=service.headers("wrong")).status_code == 401
    assert client.get(path, headers=service.headers(service.admin_key)).status_code == 200
    assert client.get(path, headers={"Authorization": ""}, auth=("admin", service.admin_key)).status_code == 200  # a browser's login


def test_the_operator_may_open_runs_and_metrics_to_anyone(tmp_path):
    from tailor.service.auth import Access

    for access, path in ((Access(public_runs=True), "/runs/"), (Access(public_metrics=True), "/metrics")):
        service = make_service(tmp_path / path.strip("/"), access=access)
        with TestClient(service.app) as anyone:
            assert anyone.get(path).status_code == 200
            other = "/metrics" if path == "/runs/" else "/runs/"
            assert "none is set" in anyone.get(other).json()["detail"]  # the other stays closed, and says why


def test_a_deleted_users_text_survives_in_no_database_file(tmp_path):
    """Written, answered from (so that cached answers hold it too), exported, deleted: the
    sentinel is then in none of the SQLite file, its WAL or its shared memory."""
    sentinel = "Zyxwvut quokka sentinel 93817"
    service = make_service(tmp_path)
    with TestClient(service.app, headers=service.headers()) as client:
        put_user(client, "alice", [{"id": "s1", "text": f"{sentinel} is what I wrote about my bees"}])
        assert client.post("/v1/answer", json={"user_id": "alice", "question": "What did I write?", "method": "rag"}).status_code == 200
        exported = client.get("/v1/users/alice/export").json()
        assert exported["user_id"] == "alice" and exported["items"][0]["text"].startswith(sentinel)
        assert any(sentinel.split()[0] in entry["value"] for entry in exported["derived"])  # the cached answer
        assert client.get("/v1/users/alice/export", headers=service.headers(service.other_key)).status_code == 404
        files = sorted(tmp_path.glob("service.sqlite*"))
        assert any(sentinel.encode() in f.read_bytes() for f in files)  # the test can see it before
        assert client.delete("/v1/users/alice").status_code == 204
        leaks = [f.name for f in sorted(tmp_path.glob("service.sqlite*")) if sentinel.split()[0].encode() in f.read_bytes()]
        assert not leaks
        assert client.get("/v1/users/alice/export").status_code == 404


def slow(service, seconds: float) -> None:
    """Make the service's scripted model take ``seconds`` per batch, and note each batch."""
    generate = service.llm._generate
    service.llm.batches = []

    def slowly(requests, params, adapter):
        service.llm.batches.append(requests)
        time.sleep(seconds)
        return generate(requests, params, adapter)

    service.llm._generate = slowly


def test_a_tenant_over_its_rate_gets_429_with_retry_after_and_others_do_not(tmp_path):
    service = make_service(tmp_path, Limits(requests_per_minute=3))
    with TestClient(service.app, headers=service.headers()) as client:
        put_user(client, "alice", BEES)
        statuses = [chat(client, messages=[{"role": "user", "content": f"Question {i}?"}]).status_code for i in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = chat(client)
        assert refused.headers["retry-after"] == "20" and "3 answer requests a minute" in refused.json()["error"]["message"]
        other = service.headers(service.other_key)
        assert client.put("/v1/users/bob", json={"items": BEES}, headers=other).status_code == 201
        asked = client.post("/v1/chat/completions", headers=other, json={"model": "rag", "user": "bob", "messages": QUESTION})
        assert asked.status_code == 200  # the other tenant's budget is its own


def test_a_tenant_at_its_generation_cap_gets_429_while_another_is_answered(tmp_path):
    service = make_service(tmp_path, Limits(concurrent_answers=1))
    slow(service, 0.5)
    other = service.headers(service.other_key)
    with TestClient(service.app, headers=service.headers()) as client, ThreadPoolExecutor(3) as pool:
        put_user(client, "alice", BEES)
        assert client.put("/v1/users/bob", json={"items": BEES}, headers=other).status_code == 201
        ask = lambda i: chat(client, messages=[{"role": "user", "content": f"Fresh question {i}?"}])  # noqa: E731
        mine = [pool.submit(ask, i) for i in range(2)]
        theirs = pool.submit(client.post, "/v1/chat/completions", headers=other, json={"model": "rag", "user": "bob", "messages": QUESTION})
        assert sorted(f.result().status_code for f in mine) == [200, 429], [f.result().text for f in mine]
        assert theirs.result().status_code == 200, theirs.result().text
        assert chat(client, messages=[{"role": "user", "content": "Fresh question 0?"}]).status_code == 200  # cached: no slot needed


def test_an_answer_that_outlasts_the_request_timeout_is_504(tmp_path):
    service = make_service(tmp_path, Limits(request_timeout=0.2))
    slow(service, 1.0)
    with TestClient(service.app, headers=service.headers()) as client:
        put_user(client, "alice", BEES)
        response = chat(client)
        assert response.status_code == 504 and "request timeout" in response.json()["error"]["message"]


def test_concurrent_questions_of_different_tenants_are_generated_in_one_batch(tmp_path):
    service = make_service(tmp_path)
    slow(service, 1.0)  # long enough that the others queue while the first batch generates
    with TestClient(service.app, headers=service.headers()) as client, ThreadPoolExecutor(4) as pool:
        put_user(client, "alice", BEES)
        asks = [pool.submit(chat, client, messages=[{"role": "user", "content": f"Question {i}?"}]) for i in range(4)]
        assert all(f.result().status_code == 200 for f in asks)
    sizes = [len(batch) for batch in service.llm.batches]
    assert sum(sizes) == 4 and max(sizes) > 1, sizes


def test_a_question_asked_to_be_remembered_joins_the_profile_and_the_summary_follows(client):
    llm = client.service.llm
    first = client.get("/v1/users/alice/summary").json()
    assert first["model"] == "popi" and "likes I keep two" in first["summary"]  # the scripted summarizer names the first post
    chat(client, messages=[{"role": "user", "content": "Which smoker fuel keeps bees calm?"}])
    assert [i["id"] for i in client.get("/v1/users/alice/items").json()["items"]] == ["b1", "b2"]  # not asked to remember
    answer = chat(client, messages=[{"role": "user", "content": "Which hive wraps work in Oslo?"}], remember=True).json()
    assert answer["trace"]["remembered"] is True
    items = client.get("/v1/users/alice/items").json()["items"]
    assert items[-1]["text"] == "Which hive wraps work in Oslo?" and items[-1]["category"] == "asked"
    calls = len(llm.received)
    summary = client.get("/v1/users/alice/summary").json()["summary"]
    assert len(llm.received) == calls  # made in the background when the profile changed, read back now
    assert summary and client.get("/v1/users/nobody/summary").status_code == 404
    exported = client.get("/v1/users/alice/export").json()
    assert sum(entry["kind"] == "summary" for entry in exported["derived"]) == 2  # one per profile the user had


def test_with_summaries_on_write_a_profile_write_remakes_the_summary_in_the_background(tmp_path):
    service = make_service(tmp_path, summaries_on_write=True)
    with TestClient(service.app, headers=service.headers()) as client:
        put_user(client, "alice", BEES)
        calls = len(service.llm.received)
        assert calls == 1 and "likes" in client.get("/v1/users/alice/summary").json()["summary"]
        assert len(service.llm.received) == calls  # it was ready


def test_requests_admitted_at_once_from_many_threads_are_never_refused_under_the_rate():
    from tailor.service.throttle import Throttle, TooManyRequests

    throttle = Throttle(per_minute=10_000, concurrent=1)

    def admit_many(tenant: int) -> int:
        refused = 0
        for _ in range(200):
            try:
                throttle.admit(tenant)
            except TooManyRequests:
                refused += 1
        return refused

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(admit_many, [1, 2] * 4)) == 0  # 1,600 requests, far under the rate
