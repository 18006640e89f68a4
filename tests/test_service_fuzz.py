"""Schema-driven fuzzing of the service and of ``tailor serve-llm`` (schemathesis over their
OpenAPI documents): requests
generated from the schema, valid and not, get no 500 and no response that breaks the
schema. A small budget per operation keeps it a few seconds in ``make test``."""

import tempfile
from pathlib import Path

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from fakes import ScriptedLLM
from test_service import BEES, make_service

from tailor.llm.server import create_app as create_llm_app

EXAMPLES = 25  # per operation; derandomized, so CI sees the same requests every run (widen it by hand to explore)

SERVICE = make_service(Path(tempfile.mkdtemp(prefix="tailor-fuzz-")))
with TestClient(SERVICE.app, headers=SERVICE.headers()) as _client:
    assert _client.put("/v1/users/alice", json={"items": BEES}).status_code == 201
schema = schemathesis.openapi.from_asgi("/openapi.json", SERVICE.app)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_no_request_gets_a_500_or_a_response_outside_the_schema(case):
    admin = case.path.startswith(("/runs", "/metrics"))
    headers = SERVICE.headers(SERVICE.admin_key if admin else SERVICE.key)
    case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance])


LLM_SERVER = create_llm_app(ScriptedLLM(lambda request, params, j: f"reply {j}"), "smol", max_tokens=64)
llm_schema = schemathesis.openapi.from_asgi("/openapi.json", LLM_SERVER)


@llm_schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_serve_llm_answers_no_request_with_a_500(case):
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
