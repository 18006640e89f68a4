"""Both servers speak one OpenAI protocol: ``tailor serve-llm`` and ``tailor serve`` document
the same schemas for what ``/v1/chat/completions`` and ``/v1/models`` answer and for their
errors, the tenant API's chat request and answer are serve-llm's plus its own extensions,
and a bad body is refused by both in the same OpenAI error."""

import tempfile
from pathlib import Path

import pytest
from fakes import ScriptedLLM
from fastapi.testclient import TestClient
from test_service import BEES, make_service, put_user

from tailor.llm.protocol import TokenizeRequest
from tailor.llm.server import create_app as create_llm_app
from tailor.llm.types import ChatRequest

SERVICE = make_service(Path(tempfile.mkdtemp(prefix="tailor-protocol-")))
LLM_SERVER = create_llm_app(ScriptedLLM(lambda *_: "reply"), "rag")
DOCS = {"serve-llm": LLM_SERVER.openapi(), "serve": SERVICE.app.openapi()}


def named(doc: dict, method: str, path: str, part: str) -> str:
    """The component schema an operation names for its request body or a response status."""
    operation = doc["paths"][path][method]
    content = operation["requestBody"] if part == "request" else operation["responses"].get(part, {})
    ref = content.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    assert ref.startswith("#/components/schemas/"), f"{method.upper()} {path} names no schema for {part}: {operation}"
    return ref.removeprefix("#/components/schemas/")


def components_agree(name: str) -> dict:
    """The definition of ``name`` and of every component it refers to, the same in both documents."""
    definitions = [doc["components"]["schemas"][name] for doc in DOCS.values()]
    assert definitions[0] == definitions[1], name
    for ref in _refs(definitions[0]):
        components_agree(ref)
    return definitions[0]


def _refs(schema) -> set[str]:
    if isinstance(schema, dict):
        own = {schema["$ref"].removeprefix("#/components/schemas/")} if "$ref" in schema else set()
        return own.union(*(_refs(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_refs(value) for value in schema))
    return set()


@pytest.mark.parametrize("method, path, part, fields", [
    ("get", "/v1/models", "200", {"object", "data"}),
    ("post", "/v1/chat/completions", "422", {"error"}),  # OpenAI's error shape, which both answer
])
def test_both_servers_name_one_schema_for_the_model_list_and_the_error(method, path, part, fields):
    names = {server: named(doc, method, path, part) for server, doc in DOCS.items()}
    assert len(set(names.values())) == 1, names
    assert set(components_agree(names["serve"])["properties"]) == fields


@pytest.mark.parametrize("part, extensions", [("request", {"user", "stream", "k", "remember"}), ("200", {"trace"})])
def test_the_tenant_apis_chat_is_serve_llms_with_its_extensions(part, extensions):
    """Every field of serve-llm's chat request (and answer) is in the service's, defined
    alike, save ``user``, which the service narrows to a required profile id."""
    llm, service = (DOCS[s]["components"]["schemas"][named(DOCS[s], "post", "/v1/chat/completions", part)] for s in DOCS)
    assert set(service["properties"]) - set(llm["properties"]) == extensions
    shared = set(llm["properties"]) - {"user"}
    assert {f: service["properties"][f] for f in shared} == {f: llm["properties"][f] for f in shared}
    for field in shared:
        for ref in _refs(llm["properties"][field]):
            components_agree(ref)


def test_a_bad_body_gets_the_same_openai_error_from_both():
    body = {"model": "rag", "user": "alice", "messages": [{"role": "user", "content": "hi"}], "temperature": 3, "top_p": 0}
    with TestClient(LLM_SERVER) as llm, TestClient(SERVICE.app, headers=SERVICE.headers()) as service:
        put_user(service, "alice", BEES)
        answers = [client.post("/v1/chat/completions", json=body) for client in (llm, service)]
    assert [a.status_code for a in answers] == [422, 422]
    assert answers[0].json() == answers[1].json() == {"error": {
        "message": "temperature: Input should be less than or equal to 2; top_p: Input should be greater than 0",
        "type": "invalid_request_error", "param": "temperature", "code": 422,
    }}


@pytest.mark.parametrize("prefill", [None, '{"answer": "'])
def test_a_request_the_client_sends_is_read_back_by_the_server_as_it_was(prefill):
    request = ChatRequest.of("What should I cook tonight?", system="Be brief.", prefill=prefill)
    sent = TokenizeRequest.of(request, model="smol").model_dump(exclude_defaults=True)
    assert TokenizeRequest.model_validate(sent).request() == request
    assert sent.get("continue_final_message", False) is (prefill is not None)  # vLLM continues the prefill, as generation does
