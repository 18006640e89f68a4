"""`tailor demo`, the quick look: the sample users are asked in plain text (the `longform`
reply format), the one of tailor's answer prompts that SmolLM2-135M answers the sample's
test users best with (by the proxy metric, and to read), rather than with the JSON prompt,
which makes it write about the request ("Your question is a great example of…") and repeat
itself."""

import json

from fakes import ScriptedLLM
from typer.testing import CliRunner

from tailor.cli import app
from tailor.data import SAMPLE_LAMPQA, load_examples
from tailor.prompts.formats import reply_format

FORMAT = "longform"
ANSWER = "Keep the practice short and warm up your hands first."


def test_the_demo_asks_its_users_in_plain_text_and_prints_the_reply_as_written(tmp_path, monkeypatch):
    model = ScriptedLLM(lambda request, params, j: ANSWER, model="smollm2-135m-instruct")
    monkeypatch.setattr("tailor.pool.make_llm", lambda config: model)  # where the demo's pool builds its model
    result = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "demo")], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output

    examples = {e.id: e for e in load_examples(SAMPLE_LAMPQA, split="test")}
    traces = [json.loads(line) for line in (tmp_path / "demo" / "traces.jsonl").read_text().splitlines()]
    assert len(traces) == 3 == len({examples[t["id"]].category for t in traces})  # one user per category
    expected = []
    for trace in traces:
        example = examples[trace["id"]]
        items = {item.id: item for item in example.profile}
        expected.append(reply_format(FORMAT).request(example.question, [items[i] for i in trace["trace"]["retrieved"]]))
    assert [request for request, _, _ in model.received] == expected
    assert all(request.prefill is None and "JSON" not in request.messages[-1].content for request, _, _ in model.received)
    assert [trace["answer"] for trace in traces] == [ANSWER] * 3 and result.output.count(f"Answer: {ANSWER}") == 3
    assert f"({FORMAT} replies)" in result.output
