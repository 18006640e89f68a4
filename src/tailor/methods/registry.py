"""The one list of methods. Each entry says what the method needs (a retriever, a second
model, a trained adapter, other users' profiles), whether the service serves it, and how
to build it from a ``MethodConfig``. The CLI, the eval runner and the service catalog
read this table; adding a method is its module plus one ``register`` call."""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.llm.base import LLM
from tailor.methods.base import Method
from tailor.methods.rag import AnswerConfig, RetrievalAugmented
from tailor.retrieval.base import Retriever

# The roles a trained adapter plays: the generator's own ("policy"), or a method's second
# model's (PlanPers' planner, RPO's reflection model, POPI's preference summarizer).
ADAPTER_ROLES = ("policy", "planner", "reflection", "summarizer")


@dataclass
class MethodConfig:
    """What a method is built from. Models and the retriever are built elsewhere, so that
    several methods share them. ``adapters``: role -> trained adapter (a path, or a served
    adapter's name; None: the base model); ``helper``: the second model (default: the
    generator); ``pool``: the examples whose profiles ``rag_random`` draws from;
    ``summary_store``: where POPI keeps summaries (default: beside the response cache)."""

    name: str
    llm: LLM
    retriever: Retriever | None = None
    answer: AnswerConfig = field(default_factory=AnswerConfig)
    adapters: dict[str, str | None] = field(default_factory=dict)
    helper: LLM | None = None
    pool: list[Example] | None = None
    seed: int = 0
    summary_store: Any = None

    def adapter(self, role: str) -> str | None:
        return self.adapters.get(role)


@dataclass(frozen=True)
class MethodInfo:
    """``helper``: the role of the method's second model, if it has one; ``adapter``: the
    trained model that ``METHOD:ADAPTER`` (and a training run's folder) swaps in, trained
    by ``tailor train <trainer>``; ``needs_policy``: it is nothing without that adapter."""

    name: str
    build: Callable[[MethodConfig], Method]
    summary: str
    retriever: bool = True
    helper: str | None = None
    adapter: str = "policy"
    trainer: str | None = None
    needs_policy: bool = False
    needs_pool: bool = False
    served: bool = True


METHODS: dict[str, MethodInfo] = {}


def register(info: MethodInfo) -> MethodInfo:
    if info.helper not in (None, *ADAPTER_ROLES[1:]) or info.adapter not in ADAPTER_ROLES:
        raise ValueError(f"method {info.name!r}: roles are {', '.join(ADAPTER_ROLES)}")
    METHODS[info.name] = info
    return info


def method_info(name: str) -> MethodInfo:
    if name not in METHODS:
        raise TailorError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def make_method(config: MethodConfig) -> Method:
    info = method_info(config.name)
    if info.retriever and config.retriever is None:
        raise TailorError(f"method {config.name!r} needs a retriever")
    if info.needs_pool and not config.pool:
        raise TailorError(f"{config.name} needs a pool of examples to draw other users' profiles from")
    return info.build(config)


def _nopers(c: MethodConfig) -> Method:
    return RetrievalAugmented(c.llm, None, c.answer, adapter=c.adapter("policy"))


def _rag(c: MethodConfig) -> Method:
    return RetrievalAugmented(c.llm, c.retriever, c.answer, adapter=c.adapter("policy"))


def _rag_random(c: MethodConfig) -> Method:
    from tailor.retrieval import RandomProfileRetriever

    return RetrievalAugmented(c.llm, RandomProfileRetriever(c.retriever, c.pool, c.seed), c.answer, adapter=c.adapter("policy"))


def _planpers(c: MethodConfig) -> Method:
    from tailor.methods.planpers import PlanPers

    return PlanPers(c.llm, c.retriever, c.answer, c.adapter("planner"), c.helper)


def _vac(c: MethodConfig) -> Method:
    from tailor.methods.vac import vac_policy

    return vac_policy(c.llm, c.retriever, c.answer, c.adapter("policy"))


def _rpo(c: MethodConfig) -> Method:
    from tailor.methods.rpo import ReflectivePersonalization

    return ReflectivePersonalization(c.llm, c.retriever, c.answer, c.helper, c.adapter("reflection"))


def _popi(c: MethodConfig) -> Method:
    from tailor.methods.popi import PreferenceInference, PreferencePersonalization, SummaryStore
    from tailor.paths import default_cache_path

    store = c.summary_store or SummaryStore(default_cache_path())
    inference = PreferenceInference(c.helper or c.llm, store, c.adapter("summarizer"), seed=c.seed)
    return PreferencePersonalization(c.llm, inference, c.answer, c.adapter("policy"))


# The LaMP-QA baselines, then the trained methods.
register(MethodInfo("nopers", _nopers, "no personalization: the question alone", retriever=False))
register(MethodInfo("rag", _rag, "RAG over the asker's profile (k items)"))
register(MethodInfo("rag_random", _rag_random, "RAG over a random other user's profile (the control)", needs_pool=True, served=False))
register(MethodInfo("planpers", _planpers, "a trained planner predicts the aspects; RAG answers with that plan", helper="planner", adapter="planner", trainer="planner"))
register(MethodInfo("vac", _vac, "the policy VAC trained, answering alone from its prompt", trainer="vac", needs_policy=True))
register(MethodInfo("rpo", _rpo, "a reflection model rewrites a base model's generic answer with retrieved history", helper="reflection", adapter="reflection", trainer="rpo"))
register(MethodInfo("popi", _popi, "the generator answers from a stored preference summary of the user", retriever=False, helper="summarizer", trainer="popi"))
