"""Build a method from settings and run it over examples, saving responses atomically."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tailor.data.responses import write_responses
from tailor.data.schema import Example
from tailor.io import atomic_write_text
from tailor.llm import LLM, LLMConfig
from tailor.methods import Answer, AnswerConfig, Method
from tailor.methods.registry import MethodConfig, make_method, method_info
from tailor.pool import ModelPool
from tailor.runs import UnitFolder


@dataclass
class BuiltMethod:
    method: Method
    llm: LLM


def build_method(
    name: str,
    llm_config: LLMConfig,
    retriever: str = "bm25",
    answer: AnswerConfig = AnswerConfig(),
    *,
    retriever_options: dict | None = None,
    adapters: dict[str, str | None] | None = None,
    helper: LLMConfig | None = None,
    examples: list[Example] | None = None,
    seed: int = 0,
    pool: ModelPool | None = None,
) -> BuiltMethod:
    """Build the generator (and the method's second model, from ``helper``), the retriever
    if the method uses one, then the method. ``adapters``: trained adapters by role;
    ``examples``: the pool ``rag_random`` draws other users' profiles from."""
    info = method_info(name)
    pool = pool or ModelPool(llm_config)
    llm = pool.llm(llm_config)
    config = MethodConfig(
        name, llm, pool.retriever(retriever, retriever_options) if info.retriever else None, answer,
        adapters=dict(adapters or {}), helper=pool.llm(helper) if helper else None, pool=examples, seed=seed,
    )
    return BuiltMethod(make_method(config), llm)


@dataclass
class AnswerRun:
    answers: dict[str, Answer]  # every example's, the skipped ones' included

    @property
    def skipped(self) -> list[str]:
        """The examples that got no answer: a prompt they needed did not fit the model's context."""
        return [qid for qid, answer in self.answers.items() if answer.skipped]


def answer_examples(
    method: Method, examples: list[Example], out: str | Path, chunk: int | None = None, on_answers: Callable[[dict[str, Answer]], None] | None = None,
) -> AnswerRun:
    """Answer every example and write ``responses.json`` (benchmark format; skipped
    examples have no response) and ``traces.jsonl`` (every example) under ``out``. ``chunk``: answer that many examples at a time (the
    generator batches within a chunk), handing each chunk's answers to ``on_answers`` as
    soon as they are ready; by default all in one."""
    answers: dict[str, Answer] = {}
    size = chunk or max(len(examples), 1)
    for start in range(0, len(examples), size):
        part = examples[start : start + size]
        fresh = dict(zip((e.id for e in part), method.answer_batch(part)))
        answers.update(fresh)
        if on_answers is not None:
            on_answers(fresh)
    unit = UnitFolder(out)
    write_responses({qid: a.text for qid, a in answers.items() if not a.skipped}, unit.responses)
    atomic_write_text(unit.traces, "".join(json.dumps({"id": qid, "answer": a.text, "trace": a.trace}) + "\n" for qid, a in answers.items()))
    return AnswerRun(answers)
