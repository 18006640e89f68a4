import json

import pytest

from tailor.errors import TailorError
from tailor.train.dpo import DPOSettings, train_dpo

TINY = DPOSettings(learning_rate=1e-3, batch_size=2, per_device_batch_size=2, max_steps=1, eval_steps=1, logging_steps=1, max_length=256, gradient_checkpointing=False)


def pair(i: int) -> dict:
    reply = lambda text: [{"role": "assistant", "content": json.dumps({"personalized_answer": text})}]  # noqa: E731
    return {"prompt": [{"role": "user", "content": f"Question {i}?"}], "chosen": reply("A concrete answer."), "rejected": reply("No.")}


def test_malformed_rows_are_refused_before_loading_a_model(tmp_path):
    with pytest.raises(TailorError, match="no training rows"):
        train_dpo("smollm2-135m-instruct", [], None, TINY, tmp_path)
    with pytest.raises(TailorError, match="'rejected'"):
        train_dpo("smollm2-135m-instruct", [{**pair(0), "rejected": []}], None, TINY, tmp_path)


@pytest.mark.model
def test_one_real_dpo_step_writes_an_adapter_and_a_rerun_reuses_it(tmp_path):
    rows = [pair(0), pair(1)]
    result = train_dpo("smollm2-135m-instruct", rows, None, TINY, tmp_path / "dpo")
    assert result.steps == 1 and not result.reused and result.rows == 2
    assert (tmp_path / "dpo" / "adapter" / "adapter_config.json").exists() and not (tmp_path / "dpo" / "adapter.partial").exists()
    assert json.loads((tmp_path / "dpo" / "done.json").read_text())["result"]["adapter"] == result.adapter
    assert train_dpo("smollm2-135m-instruct", rows, None, TINY, tmp_path / "dpo").reused
