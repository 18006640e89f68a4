"""Build a method from settings and run it over examples, saving responses atomically."""

import json
from dataclasses import dataclass
from pathlib import Path

from tailor.data.responses import write_responses
from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.io import atomic_write_text
from tailor.llm import LLM, LLMConfig, make_llm
from tailor.methods import Answer, AnswerConfig, Method, RetrievalAugmented, vac_policy
from tailor.paths import default_cache_path
from tailor.retrieval import RandomProfileRetriever, RankingCache, Retriever, make_retriever

# The LaMP-QA baselines: no personalization, RAG over the asker's profile, RAG over a random
# other user's profile (the control), and RAG with a planner (PlanPers); VAC is RAG with the
# policy adapter trained by `tailor train vac`; RPO rewrites a base model's generic answer
# with a reflection model; POPI answers from a stored preference summary of the user.
METHODS = ("nopers", "rag", "rag_random", "planpers", "vac", "rpo", "popi")


@dataclass
class BuiltMethod:
    method: Method
    llm: LLM


def uses_retriever(name: str) -> bool:
    return name not in ("nopers", "popi")


def make_method(
    name: str,
    llm: LLM,
    retriever: Retriever | None,
    config: AnswerConfig = AnswerConfig(),
    *,
    pool: list[Example] | None = None,
    seed: int = 0,
    planner_adapter: str | None = None,
    planner_llm: LLM | None = None,
    policy_adapter: str | None = None,
    reflection_adapter: str | None = None,
    reflection_llm: LLM | None = None,
    summarizer_adapter: str | None = None,
    summarizer_llm: LLM | None = None,
    summary_store=None,
) -> Method:
    """A method around models and a retriever that already exist (so several methods can
    share them). ``pool``: the examples whose profiles ``rag_random`` draws from;
    ``planner_adapter``: the planner's LoRA adapter (a path, or a served model name);
    ``policy_adapter``: the generator's trained adapter, e.g. VAC's policy (None: the base model);
    ``reflection_llm`` / ``reflection_adapter``: RPO's reflection model (default: the generator);
    ``summarizer_llm`` / ``summarizer_adapter``: POPI's preference-inference model (default:
    the generator); ``summary_store``: where its summaries are kept (``get`` / ``put``;
    default: a ``SummaryStore`` beside the response cache)."""
    if name not in METHODS:
        raise TailorError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    if name == "nopers":
        return RetrievalAugmented(llm, None, config, adapter=policy_adapter)
    if name == "popi":
        from tailor.methods.popi import PreferenceInference, PreferencePersonalization, SummaryStore

        store = summary_store or SummaryStore(default_cache_path())
        inference = PreferenceInference(summarizer_llm or llm, store, summarizer_adapter, seed=seed)
        return PreferencePersonalization(llm, inference, config, policy_adapter)
    if retriever is None:
        raise TailorError(f"method {name!r} needs a retriever")
    if name == "rag":
        return RetrievalAugmented(llm, retriever, config, adapter=policy_adapter)
    if name == "rag_random":
        if not pool:
            raise TailorError("rag_random needs a pool of examples to draw other users' profiles from")
        return RetrievalAugmented(llm, RandomProfileRetriever(retriever, pool, seed), config, adapter=policy_adapter)
    if name == "vac":
        return vac_policy(llm, retriever, config, policy_adapter)
    if name == "rpo":
        from tailor.methods.rpo import ReflectivePersonalization

        return ReflectivePersonalization(llm, retriever, config, reflection_llm, reflection_adapter)
    from tailor.methods.planpers import PlanPers

    return PlanPers(llm, retriever, config, planner_adapter, planner_llm)


def build_method(
    name: str,
    llm_config: LLMConfig,
    retriever: str = "bm25",
    config: AnswerConfig = AnswerConfig(),
    *,
    retriever_options: dict | None = None,
    **extra,
) -> BuiltMethod:
    """Build the generator and the retriever from settings, then the method; ``extra`` goes
    to ``make_method`` (``pool``, ``seed``, ``planner_adapter``, ``planner_llm``, ``policy_adapter``,
    ``reflection_adapter``, ``reflection_llm``, ``summarizer_adapter``, ``summarizer_llm``)."""
    if name not in METHODS:
        raise TailorError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    llm = make_llm(llm_config)
    chosen = None
    if uses_retriever(name):
        ranking_cache = RankingCache(llm_config.cache_path or default_cache_path()) if llm_config.cache else None
        chosen = make_retriever(retriever, ranking_cache, **(retriever_options or {}))
    return BuiltMethod(make_method(name, llm, chosen, config, **extra), llm)


@dataclass
class AnswerRun:
    answers: dict[str, Answer]


def answer_examples(method: Method, examples: list[Example], out: str | Path) -> AnswerRun:
    """Answer every example and write ``responses.json`` (benchmark format) and
    ``traces.jsonl`` under ``out``."""
    answers = dict(zip((e.id for e in examples), method.answer_batch(examples)))
    out = Path(out)
    write_responses({qid: a.text for qid, a in answers.items()}, out / "responses.json")
    atomic_write_text(out / "traces.jsonl", "".join(json.dumps({"id": qid, "answer": a.text, "trace": a.trace}) + "\n" for qid, a in answers.items()))
    return AnswerRun(answers)
