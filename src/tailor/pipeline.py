"""Build a method from settings and run it over examples, saving responses atomically."""

from dataclasses import dataclass
from pathlib import Path

from tailor.data.responses import write_responses
from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.io import atomic_write_text
from tailor.llm import LLM, LLMConfig, make_llm
from tailor.methods import Answer, AnswerConfig, Method, RetrievalAugmented
from tailor.paths import default_cache_path
from tailor.retrieval import RankingCache, make_retriever

METHODS = ("nopers", "rag")


@dataclass
class BuiltMethod:
    method: Method
    llm: LLM


def build_method(name: str, llm_config: LLMConfig, retriever: str = "bm25", config: AnswerConfig = AnswerConfig()) -> BuiltMethod:
    if name not in METHODS:
        raise TailorError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    llm = make_llm(llm_config)
    ranking_cache = RankingCache(llm_config.cache_path or default_cache_path()) if llm_config.cache else None
    chosen = make_retriever(retriever, ranking_cache) if name == "rag" else None
    return BuiltMethod(RetrievalAugmented(llm, chosen, config), llm)


@dataclass
class AnswerRun:
    answers: dict[str, Answer]


def answer_examples(method: Method, examples: list[Example], out: str | Path) -> AnswerRun:
    """Answer every example and write ``responses.json`` (benchmark format) and
    ``traces.jsonl`` under ``out``."""
    import json

    answers = dict(zip((e.id for e in examples), method.answer_batch(examples)))
    out = Path(out)
    write_responses({qid: a.text for qid, a in answers.items()}, out / "responses.json")
    atomic_write_text(out / "traces.jsonl", "".join(json.dumps({"id": qid, "answer": a.text, "trace": a.trace}) + "\n" for qid, a in answers.items()))
    return AnswerRun(answers)
