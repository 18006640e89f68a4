"""Build a method from settings and run it over examples, saving responses atomically."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tailor.data.responses import write_responses
from tailor.data.schema import Example
from tailor.io import atomic_write_text
from tailor.llm import LLM
from tailor.methods import Answer, Method
from tailor.methods.inference import InferenceSpec
from tailor.methods.registry import method_info
from tailor.pool import ModelPool
from tailor.runs import UnitFolder


@dataclass
class BuiltMethod:
    method: Method
    llm: LLM
    helper: LLM | None = None  # the method's second model, where it is not the generator

    @property
    def models(self) -> list[LLM]:
        """The models the method generates with, each once."""
        return [self.llm] if self.helper is None or self.helper is self.llm else [self.llm, self.helper]


def build_method(spec: InferenceSpec, *, examples: list[Example] | None = None, seed: int = 0, pool: ModelPool | None = None) -> BuiltMethod:
    """Build the generator (and the method's second model), the retriever if the method
    uses one, then the method ``spec`` describes; ``examples``: the pool ``rag_random``
    draws other users' profiles from; ``pool``: where the models are built once."""
    pool = pool or ModelPool(spec.generator)
    llm, helper = pool.llm(spec.generator), spec.helper and pool.llm(spec.helper)
    retriever = pool.retriever(spec.retriever, spec.retriever_options) if method_info(spec.method).retriever else None
    return BuiltMethod(spec.build(llm, helper, retriever, pool=examples, seed=seed), llm, helper)


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
