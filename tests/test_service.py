"""`tailor serve`'s API with a scripted model: profiles, answers, auth, tenant isolation,
limits, bad input, deletion and metrics. ``make_service`` (also used by the other service
tests) builds the app around a scripted LLM whose replies are recognisable by the prompt
they answer (the first retrieved item's words)."""

import json
import re
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from fakes import ScriptedLLM
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from tailor.errors import TailorError
from tailor.methods import AnswerConfig
from tailor.prompts.answer import ANSWER_PREFILL
from tailor.prompts.popi import SUMMARY_PREFILL
from tailor.prompts.rpo import THINK_PREFILL
from tailor.retrieval import make_retriever
from tailor.service.answering import Answerer
from tailor.service.app import create_app
from tailor.service.auth import Access, create_tenant, tenant_for_key
from tailor.service.catalog import ModelCatalog
from tailor.service.limits import Limits
from tailor.service.store import ProfileStore, make_engine
from tailor.service.tables import DerivedEntry, Item


def first_item_words(prompt: str) -> str:
    """The first three words of the first listed profile item, or 'nothing'."""
    found = re.search(r"\[1\] (\S+ \S+ \S+)", prompt)
    return found.group(1) if found else "nothing"


def scripted_reply(request, params, j) -> str:
    prompt = request.messages[-1].content
    if request.prefill == SUMMARY_PREFILL:
        return f"likes {first_item_words(prompt)}."
    if request.prefill == THINK_PREFILL:
        return f" reasons.</think><personalized>Rewritten for {first_item_words(prompt)}.</personalized>"
    if request.prefill == ANSWER_PREFILL:
        return f'Answer about {first_item_words(prompt)}."}}'
    return "First point\nSecond point"  # the planner


ADMIN_KEY = "admin-secret"


@dataclass
class Service:
    app: object
    store: ProfileStore
    llm: ScriptedLLM
    key: str  # tenant "acme"
    other_key: str  # tenant "globex"
    runs_root: Path
    admin_key: str = ADMIN_KEY

    def headers(self, key: str | None = None) -> dict:
        return {"Authorization": f"Bearer {key or self.key}"}


def make_service(
    tmp_path: Path, limits: Limits = Limits(), aliases: dict | None = None, access: Access = Access(admin_key=ADMIN_KEY), db: str | None = None,
    **options,
) -> Service:
    """The service over a SQLite file in ``tmp_path``, or over the database ``db`` (a URL);
    ``options`` go to ``create_app``."""
    store = ProfileStore(make_engine(db or str(tmp_path / "service.sqlite")))
    llm = ScriptedLLM(scripted_reply)
    runs_root = tmp_path / "runs"
    runs_root.mkdir(exist_ok=True)
    answerer = Answerer(store, lambda: llm, make_retriever("bm25"), ModelCatalog(runs_root, aliases), AnswerConfig(k=2, max_tokens=64),
                        timeout=limits.request_timeout)
    app = create_app(store, answerer, limits, runs_root, access, **options)
    return Service(app, store, llm, create_tenant(store, "acme"), create_tenant(store, "globex"), runs_root)


BEES = [{"id": "b1", "text": "I keep two beehives on my roof in Oslo", "title": "hives", "date": "2024-05-01"},
        {"id": "b2", "text": "Our winters are long so the bees stay inside until April"}]
CATS = [{"id": "c1", "text": "My cat hides whenever I run the vacuum cleaner"},
        {"id": "c2", "text": "The cat sleeps on the radiator all winter"}]


@pytest.fixture(params=["sqlite", "postgres"])
def service(request, tmp_path):
    """The service on SQLite and on a real PostgreSQL server."""
    return make_service(tmp_path, db=request.getfixturevalue("postgres_url") if request.param == "postgres" else None)


@pytest.fixture
def client(service):
    with TestClient(service.app) as client:
        client.headers.update(service.headers())
        yield client


def put_user(client, user_id, items):
    response = client.put(f"/v1/users/{user_id}", json={"items": items})
    assert response.status_code == 201, response.text
    return response


def ask(client, user_id, question="How do I keep my bees calm in winter?", method="rag", **extra):
    return client.post("/v1/answer", json={"user_id": user_id, "question": question, "method": method, **extra})


# --- profiles ----------------------------------------------------------------------------


def test_a_user_is_created_read_and_deleted(client):
    assert client.put("/v1/users/alice").status_code == 201
    again = client.put("/v1/users/alice", json={})
    assert again.status_code == 200 and again.json()["items"] == 0
    assert client.get("/v1/users/alice").json()["user_id"] == "alice"
    assert client.delete("/v1/users/alice").status_code == 204
    assert client.get("/v1/users/alice").status_code == 404
    assert client.delete("/v1/users/alice").status_code == 404


def test_items_are_added_with_their_fields_and_generated_ids(client):
    put_user(client, "alice", BEES)
    added = client.post("/v1/users/alice/items", json={"items": [{"text": "Honey sells well at the market", "category": "sales"}]})
    assert added.status_code == 201
    [new_id] = added.json()["ids"]
    assert new_id.startswith("item-")
    items = client.get("/v1/users/alice/items").json()["items"]
    assert [i["id"] for i in items] == ["b1", "b2", new_id]
    assert items[0]["title"] == "hives" and items[0]["date"] == "2024-05-01" and items[2]["category"] == "sales"
    assert client.get("/v1/users/alice").json()["items"] == 3


def test_put_with_items_replaces_the_profile(client):
    put_user(client, "alice", BEES)
    assert client.put("/v1/users/alice", json={"items": CATS}).status_code == 200
    assert [i["id"] for i in client.get("/v1/users/alice/items").json()["items"]] == ["c1", "c2"]


def test_a_repeated_item_id_is_a_conflict_and_adds_nothing(client):
    put_user(client, "alice", BEES)
    clash = client.post("/v1/users/alice/items", json={"items": [{"id": "new", "text": "x"}, {"id": "b1", "text": "y"}]})
    assert clash.status_code == 409 and "b1" in clash.json()["detail"]
    twice = client.post("/v1/users/alice/items", json={"items": [{"id": "n", "text": "x"}, {"id": "n", "text": "y"}]})
    assert twice.status_code == 409
    assert client.get("/v1/users/alice").json()["items"] == 2


def test_items_are_paged(client):
    put_user(client, "alice", [{"id": f"i{n:02d}", "text": f"post number {n}"} for n in range(7)])
    seen, offset = [], 0
    while offset is not None:
        page = client.get("/v1/users/alice/items", params={"limit": 3, "offset": offset}).json()
        assert page["total"] == 7 and len(page["items"]) <= 3
        seen += [i["id"] for i in page["items"]]
        offset = page["next_offset"]
    assert seen == [f"i{n:02d}" for n in range(7)]
    assert client.get("/v1/users/alice/items", params={"limit": 0}).status_code == 422
    assert client.get("/v1/users/alice/items", params={"limit": 101}).status_code == 422


# --- auth and tenants ----------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "Bearer", "Bearer nonsense", "Basic abc", "Bearer tailor_0000_secret"])
def test_a_missing_or_wrong_key_is_401(service, header):
    with TestClient(service.app) as client:
        headers = {"Authorization": header} if header else {}
        for response in (client.get("/v1/users/alice", headers=headers), client.put("/v1/users/alice", headers=headers),
                         client.post("/v1/answer", json={"user_id": "a", "question": "q"}, headers=headers)):
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"


def test_a_key_with_a_real_id_but_a_wrong_secret_is_401(service, client):
    key_id = service.key.split("_")[1]
    forged = client.get("/v1/users/alice", headers={"Authorization": f"Bearer tailor_{key_id}_{'x' * 43}"})
    assert forged.status_code == 401


def test_another_tenants_user_looks_exactly_like_a_missing_one(service, client):
    put_user(client, "alice", BEES)
    other = {"Authorization": f"Bearer {service.other_key}"}
    requests = [
        ("get", "/v1/users/{u}", None), ("get", "/v1/users/{u}/items", None), ("post", "/v1/users/{u}/items", {"items": [{"text": "x"}]}),
        ("delete", "/v1/users/{u}", None), ("post", "/v1/answer", {"user_id": "{u}", "question": "q"}),
        ("post", "/v1/chat/completions", {"model": "rag", "user": "{u}", "messages": [{"role": "user", "content": "q"}]}),
    ]
    for verb, path, body in requests:
        def send(user):
            payload = json.loads(json.dumps(body).replace("{u}", user)) if body else None
            return client.request(verb, path.format(u=user), json=payload, headers=other)

        theirs, missing = send("alice"), send("alice-nobody")
        assert theirs.status_code == missing.status_code == 404, (verb, path)
        assert theirs.text.replace("alice", "X") == missing.text.replace("alice-nobody", "X")
    # the other tenant may have its own "alice", separate from acme's
    assert client.put("/v1/users/alice", json={"items": CATS}, headers=other).status_code == 201
    assert [i["id"] for i in client.get("/v1/users/alice/items").json()["items"]] == ["b1", "b2"]
    assert [i["id"] for i in client.get("/v1/users/alice/items", headers=other).json()["items"]] == ["c1", "c2"]


def test_keys_are_stored_hashed(service):
    with service.store.engine.connect() as db:
        stored = [row[0] for row in db.exec_driver_sql("SELECT key_hash FROM api_keys")]
    assert len(stored) == 2 and service.key not in stored and all(len(h) == 64 for h in stored)


# --- bad input and limits --------------------------------------------------------------------


def test_malformed_input_is_422_naming_the_field_without_echoing_it(client):
    put_user(client, "alice", [])
    cases = [
        (client.post("/v1/users/alice/items", content=b'{"items": [', headers={"Content-Type": "application/json"}), ["body", 11]),
        (client.post("/v1/users/alice/items", json={"items": [{"text": "ok"}, {"txt": "secret words"}]}), ["body", "items", 1, "text"]),
        (client.post("/v1/users/alice/items", json={"items": [{"text": "secret words", "narrative": "hidden"}]}), ["body", "items", 0, "narrative"]),
        (client.post("/v1/users/alice/items", json={"items": "secret words"}), ["body", "items"]),
        (client.post("/v1/answer", json={"user_id": "alice", "question": ""}), ["body", "question"]),
        (client.post("/v1/answer", json={"user_id": "alice", "question": "q", "k": -1}), ["body", "k"]),
        (client.post("/v1/answer", json={"user_id": "alice", "question": "q", "method": "magic"}), ["body", "method"]),
        (client.put("/v1/users/bad%20id"), ["path", "user_id"]),
    ]
    for response, loc in cases:
        assert response.status_code == 422, response.text
        assert loc in [e["loc"] for e in response.json()["detail"]], (loc, response.json())
        assert "secret words" not in response.text


def test_a_body_over_the_limit_is_413(tmp_path):
    service = make_service(tmp_path, Limits(max_body_bytes=2_000))
    with TestClient(service.app, headers=service.headers()) as client:
        put_user(client, "alice", [])
        big = {"items": [{"text": "word " * 1_000}]}
        assert client.post("/v1/users/alice/items", json=big).status_code == 413

        def chunks():  # no Content-Length: the limit applies while reading
            yield json.dumps(big).encode()

        streamed = client.post("/v1/users/alice/items", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        assert client.get("/v1/users/alice").json()["items"] == 0


def test_item_text_and_item_count_limits(tmp_path):
    service = make_service(tmp_path, Limits(max_item_chars=50, max_items_per_user=3))
    with TestClient(service.app, headers=service.headers()) as client:
        put_user(client, "alice", [{"text": "short"}])
        long_text = client.post("/v1/users/alice/items", json={"items": [{"text": "fine"}, {"text": "x" * 51}]})
        assert long_text.status_code == 422 and long_text.json()["detail"][0]["loc"] == ["body", "items", 1, "text"]
        assert client.post("/v1/users/alice/items", json={"items": [{"text": "two"}, {"text": "three"}]}).status_code == 201
        full = client.post("/v1/users/alice/items", json={"items": [{"text": "four"}]})
        assert full.status_code == 413 and "at most 3" in full.json()["detail"]
        assert client.put("/v1/users/bob", json={"items": [{"text": str(n)} for n in range(4)]}).status_code == 413
        assert client.get("/v1/users/alice").json()["items"] == 3


# --- answers -----------------------------------------------------------------------------------


def test_an_answer_comes_from_the_askers_own_profile(service, client):
    put_user(client, "alice", BEES)
    put_user(client, "carol", CATS)
    bees, cats = ask(client, "alice").json(), ask(client, "carol", "How do I vacuum without scaring my cat?").json()
    assert set(bees["trace"]["retrieved"]) == {"b1", "b2"} and set(cats["trace"]["retrieved"]) == {"c1", "c2"}
    assert bees["answer"] == "Answer about I keep two." and cats["answer"] == "Answer about My cat hides."
    alice_prompt, carol_prompt = service.llm.prompts()
    assert "beehives" in alice_prompt and "cat" not in alice_prompt and "beehives" not in carol_prompt


@pytest.mark.parametrize(("method", "trace_key"), [
    ("nopers", None), ("rag", "retrieved"), ("planpers", "plan"), ("vac", "retrieved"), ("rpo", "generic_answer"), ("popi", "summary"),
])
def test_every_served_method_answers_with_its_trace(client, method, trace_key):
    put_user(client, "alice", BEES)
    response = ask(client, "alice", method=method)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["method"] == method and body["answer"]
    assert trace_key is None or trace_key in body["trace"]
    if method == "nopers":
        assert body["answer"] == "Answer about nothing." and "retrieved" not in body["trace"]


def test_k_bounds_the_retrieved_items(client):
    put_user(client, "alice", [{"id": f"i{n}", "text": f"bees and honey note {n}"} for n in range(6)])
    assert len(ask(client, "alice", k=4).json()["trace"]["retrieved"]) == 4
    assert len(ask(client, "alice").json()["trace"]["retrieved"]) == 2  # the serve-time default


def test_an_adapter_is_served_from_a_run_under_the_runs_root_only(service, client, tmp_path):
    from tailor.llm import LLMConfig
    from tailor.methods.inference import InferenceSpec
    from tailor.runs import RunFolder

    run = service.runs_root / "vac-run"
    (run / "iter_1" / "policy").mkdir(parents=True)
    InferenceSpec(method="vac", generator=LLMConfig(), adapters={"policy": str(run / "iter_1" / "policy")}).write(RunFolder(run))
    put_user(client, "alice", BEES)
    assert ask(client, "alice", method=f"vac:{run}").status_code == 200
    assert service.llm.received[-1][2] == str(run / "iter_1" / "policy")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    refused = ask(client, "alice", method=f"vac:{outside}")
    assert refused.status_code == 422 and "under" in refused.json()["detail"][0]["msg"]


def test_a_configured_name_serves_its_spec_wherever_its_adapter_lies(tmp_path):
    adapter = tmp_path / "elsewhere" / "adapter"
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text("{}")
    service = make_service(tmp_path, aliases={"tuned": f"rag:{adapter}", "planned": "planpers"})
    with TestClient(service.app, headers=service.headers()) as client:
        put_user(client, "alice", BEES)
        assert ask(client, "alice", method="tuned").status_code == 200
        assert service.llm.received[-1][2] == str(adapter)
        assert ask(client, "alice", method="planned").json()["trace"]["plan"] == ["First point", "Second point"]
        assert {"tuned", "planned", "rag"} <= {m["id"] for m in client.get("/v1/models").json()["data"]}


def test_a_long_profile_is_trimmed_to_the_context_and_a_question_too_long_alone_is_400(tmp_path):
    service = make_service(tmp_path)
    service.llm.context = 200  # in words; answers take up to 64
    with TestClient(service.app) as client:
        client.headers.update(service.headers())
        put_user(client, "alice", [{"id": f"b{n}", "text": "I keep bees and sell honey through the long Oslo winter " * 2} for n in range(6)])
        trace = ask(client, "alice", k=6).json()["trace"]
        assert 0 < len(trace["retrieved"]) < 6 and len(trace["retrieved"]) + trace["trimmed"] == 6
        refused = client.post("/v1/chat/completions", json={"model": "rag", "user": "alice", "messages": [{"role": "user", "content": "Why do bees swarm? " * 40}]})
        assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error"
        assert "does not fit the context" in refused.json()["error"]["message"] and "swarm" not in refused.json()["error"]["message"]


def test_a_repeated_question_is_answered_from_the_users_cache(service, client):
    put_user(client, "alice", BEES)
    first, second = ask(client, "alice").json(), ask(client, "alice").json()
    assert first == second and len(service.llm.received) == 1
    metrics = client.get("/metrics", headers=service.headers(service.admin_key)).text
    assert 'tailor_backend_calls_total{method="rag"} 1.0' in metrics
    assert 'tailor_answer_cache_hits_total{method="rag"} 1.0' in metrics


def test_metrics_count_requests_by_route_template_and_status(service, client):
    put_user(client, "alice", [])
    client.get("/v1/users/nobody")
    metrics = client.get("/metrics", headers=service.headers(service.admin_key))
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'tailor_http_requests_total{endpoint="/v1/users/{user_id}",status="201"} 1.0' in metrics.text
    assert 'tailor_http_requests_total{endpoint="/v1/users/{user_id}",status="404"} 1.0' in metrics.text
    assert 'tailor_http_request_seconds_count{endpoint="/v1/users/{user_id}"} 2.0' in metrics.text
    assert "nobody" not in metrics.text and "alice" not in metrics.text


def test_healthz_needs_no_key(service):
    with TestClient(service.app) as client:
        assert client.get("/healthz").json() == {"status": "ok"}


# --- deletion ----------------------------------------------------------------------------------


def derived_rows(service, user_id, kind):
    user_pk = service.store.profile(tenant_for_key(service.store, service.key), user_id).user_pk
    with service.store._session() as session:
        return session.scalar(select(func.count()).select_from(DerivedEntry).where(DerivedEntry.user_pk == user_pk, DerivedEntry.kind == kind))


def all_rows(service, table):
    with service.store._session() as session:
        return session.scalar(select(func.count()).select_from(table))


def test_deleting_a_user_removes_items_summaries_and_cached_answers(service, client, tmp_path):
    put_user(client, "alice", BEES)
    put_user(client, "carol", CATS)
    for user in ("alice", "carol"):
        for method in ("rag", "popi", "rpo"):
            assert ask(client, user, method=method).status_code == 200
    kept = {kind: derived_rows(service, "alice", kind) for kind in ("summary", "completion")}
    assert kept["summary"] == derived_rows(service, "carol", "summary") == 1
    assert derived_rows(service, "carol", "completion") >= 3
    assert client.delete("/v1/users/carol").status_code == 204

    assert all_rows(service, Item) == len(BEES)
    assert all_rows(service, DerivedEntry) == sum(kept.values())  # alice's rows only
    calls = len(service.llm.received)
    assert all(ask(client, "alice", method=m).status_code == 200 for m in ("rag", "popi", "rpo"))
    assert len(service.llm.received) == calls  # alice is still answered from her cache ...
    put_user(client, "carol", CATS)
    assert client.get("/v1/users/carol").json()["items"] == len(CATS)
    ask(client, "carol", method="popi")
    assert len(service.llm.received) == calls + 2  # ... carol's summary and answer were gone
    # nothing of anyone's profile reached tailor's shared caches ($TAILOR_CACHE)
    with sqlite3.connect(tmp_path / "llm_cache.sqlite") as shared:
        tables = {name for (name,) in shared.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert all(shared.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] == 0 for t in tables & {"completions", "rankings", "summaries"})


def test_a_postgres_url_without_its_driver_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if the postgres extra were not installed
    with pytest.raises(TailorError, match="pip install"):
        make_engine("postgresql+psycopg://tailor@localhost/tailor")


def test_concurrent_creation_of_one_user_or_tenant_never_fails(service):
    """Eight clients create the same new user at once (and the same tenant): one creates
    it, the others find it, none gets a 500 (Postgres raises a unique violation there)."""
    from concurrent.futures import ThreadPoolExecutor

    with TestClient(service.app, headers=service.headers()) as client, ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: client.put("/v1/users/newcomer", json={"items": BEES}).status_code, range(8)))
        assert sorted(statuses) == [200] * 7 + [201], statuses
        outcomes = list(pool.map(lambda _: _create(service.store, "initech"), range(8)))
    assert sum(o.startswith("tailor_") for o in outcomes) == 1  # one new key ...
    assert all("already exists" in o for o in outcomes if not o.startswith("tailor_"))  # ... and a clear refusal for the rest


def _create(store, name: str) -> str:
    try:
        return create_tenant(store, name)
    except TailorError as err:
        return str(err)
