"""One voice on the terminal: the CLI's main commands, run as a user runs them (progress
on), print no third-party progress bar and no Python warning raised in a dependency; what
the libraries say goes to the run folder's tailor.log, and --verbose brings it back."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tailor import logs

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "src/tailor/data/sample"
NOISE = ("it/s]", "s/it]", "FutureWarning", "UserWarning", "DeprecationWarning")


def tailor(*args: str, cwd: Path, verbose: bool = False) -> str:
    unset = ("TAILOR_PROGRESS", "TAILOR_LOG", "PYTHONWARNINGS", *logs.QUIET_ENVIRONMENT)  # as a user's shell has it (other tests' CLI calls set some)
    environment = {k: v for k, v in os.environ.items() if k not in unset}
    environment["COLUMNS"] = "200"
    environment["TAILOR_CACHE"] = str(cwd / ("verbose.sqlite" if verbose else "cache.sqlite"))  # a verbose run does the work again
    command = [sys.executable, "-m", "tailor.cli", *(["--verbose"] if verbose else []), *args]
    done = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def tiny_eval(tmp_path: Path) -> Path:
    config = {
        "generator": {"backend": "hf", "model": "smollm2-135m-instruct"},
        "judge": {"backend": "hf", "model": "smollm2-135m-instruct"},
        "metric": "proxy",
        "retriever": "bm25",
        "answer": {"k": 2, "max_tokens": 8},
        "methods": ["nopers", "rag"],
        "datasets": [{"path": str(SAMPLE / "lampqa"), "name": "lampqa-sample", "splits": ["test"]}],
        "out": str(tmp_path / "runs/eval"),
    }
    path = tmp_path / "eval.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def tiny_rest_em(tmp_path: Path) -> Path:
    config = yaml.safe_load((ROOT / "configs/learn-rest-em.yaml").read_text())
    config.update(
        data=str(SAMPLE / "planted"), train_limit=2, valid_limit=2, k=2, test_split=None, iterations=1, samples=2, answer_max_tokens=8, threshold=0.0,
        run_dir=str(tmp_path / "runs/rest-em"),
    )
    config["sft"].update(batch_size=2, per_device_batch_size=2, max_steps=1, eval_steps=1, max_length=256)
    path = tmp_path / "rest-em.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.model
def test_the_main_commands_print_no_third_party_bars_or_warnings(tmp_path):
    outputs = {
        "demo": tailor("demo", "--users", "1", "--max-tokens", "8", cwd=tmp_path),
        "answer": tailor("answer", "--data", str(SAMPLE / "lampqa"), "--split", "test", "--limit", "1", "--max-tokens", "8", "--out", "runs/answer", cwd=tmp_path),
        "eval": tailor("eval", "--config", str(tiny_eval(tmp_path)), "--limit", "1", cwd=tmp_path),
        "train": tailor("train", "rest-em", "--config", str(tiny_rest_em(tmp_path)), cwd=tmp_path),
        "data": tailor("data", "validate", str(SAMPLE / "lampqa"), cwd=tmp_path),
        "runs": tailor("runs", cwd=tmp_path),
    }
    for name, output in outputs.items():
        assert not [noise for noise in NOISE if noise in output], (name, output)
    assert "Answer:" in outputs["demo"] and "done in" in outputs["demo"]  # tailor's own voice is still there
    assert "training" in outputs["train"] and "done in" in outputs["train"]
    for name in ("eval", "rest-em"):
        assert name in outputs["runs"] and "finished" in outputs["runs"]
    # what the libraries said is kept in each run folder's log
    assert "Building index" in (tmp_path / "runs/demo/tailor.log").read_text()
    assert "loss" in (tmp_path / "runs/rest-em/tailor.log").read_text()


@pytest.mark.model
def test_verbose_brings_the_libraries_logs_back(tmp_path):
    quiet = tailor("answer", "--data", str(SAMPLE / "lampqa"), "--split", "test", "--limit", "1", "--max-tokens", "4", "--out", "quiet", cwd=tmp_path)
    loud = tailor("answer", "--data", str(SAMPLE / "lampqa"), "--split", "test", "--limit", "1", "--max-tokens", "4", "--out", "loud", cwd=tmp_path, verbose=True)
    assert "Building index" not in quiet and "Building index" in loud  # bm25s's debug record
    assert "it/s]" not in quiet and "it/s]" in loud  # transformers' bar as it loads the weights
