"""The one list of methods. Each entry says what the method needs (a retriever, a second
model, a trained adapter, other users' profiles), its own options, whether the service
serves it, and how to build it from a ``MethodConfig``. The CLI, the eval runner, the
service catalog and the training loops read this table; adding a method is its module
plus one ``register`` call. The roles a trained adapter plays are those the entries name
(``adapter_roles``): a method whose second model plays a new role just names it."""

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from pydantic import BaseModel, ConfigDict, ValidationError

from tailor.data.schema import Example
from tailor.errors import TailorError
from tailor.llm.base import LLM
from tailor.methods.base import Method
from tailor.methods.popi import POPIOptions, PreferenceInference, PreferencePersonalization, SummaryCache, SummaryStore
from tailor.methods.rag import AnswerConfig, RetrievalAugmented
from tailor.methods.rpo import ReflectivePersonalization, RPOOptions
from tailor.retrieval.base import Retriever

POLICY = "policy"  # the role of the generator's own adapter


class NoOptions(BaseModel):
    """The options of a method that has none of its own."""

    model_config = ConfigDict(extra="forbid")


@dataclass
class MethodConfig:
    """What a method is built from. Models and the retriever are built elsewhere, so that
    several methods share them. ``adapters``: role -> trained adapter (a path, or a served
    adapter's name; None: the base model); ``helper``: the second model (default: the
    generator); ``options``: the method's own settings (``MethodInfo.options``, or a dict
    of them; None: their defaults); ``pool``: the examples whose profiles ``rag_random``
    draws from; ``summary_store``: where POPI keeps summaries (default: in the summarizer's
    response cache file; none when it keeps none)."""

    name: str
    llm: LLM
    retriever: Retriever | None = None
    answer: AnswerConfig = field(default_factory=AnswerConfig)
    adapters: dict[str, str | None] = field(default_factory=dict)
    helper: LLM | None = None
    options: BaseModel | dict | None = None
    pool: list[Example] | None = None
    seed: int = 0
    summary_store: SummaryCache | None = None

    def adapter(self, role: str) -> str | None:
        return self.adapters.get(role)


@dataclass(frozen=True)
class MethodInfo:
    """``helper``: the role of the method's second model, if it has one; ``adapter``: the
    role of the trained model that ``METHOD:ADAPTER`` (and a training run's folder) swaps
    in, trained by ``tailor train <trainer>``; ``needs_policy``: it is nothing without that
    adapter; ``options``: its own settings, whose defaults are the only ones there are."""

    name: str
    build: Callable[[MethodConfig], Method]
    summary: str
    retriever: bool = True
    helper: str | None = None
    adapter: str = POLICY
    trainer: str | None = None
    needs_policy: bool = False
    needs_pool: bool = False
    served: bool = True
    options: type[BaseModel] = NoOptions

    @property
    def roles(self) -> tuple[str, ...]:
        """The roles of the adapters the method reads: its trained model's, then its helper's."""
        return tuple(dict.fromkeys(role for role in (self.adapter, self.helper) if role))


METHODS: dict[str, MethodInfo] = {}


def register(info: MethodInfo) -> MethodInfo:
    METHODS[info.name] = info
    return info


def method_info(name: str) -> MethodInfo:
    if name not in METHODS:
        raise TailorError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}")
    return METHODS[name]


def adapter_roles() -> list[str]:
    """Every role a trained adapter plays in some method: the generator's first."""
    return list(dict.fromkeys([POLICY, *(role for info in METHODS.values() for role in info.roles)]))


def method_options(name: str, values: BaseModel | dict | None = None) -> BaseModel:
    """``values`` as method ``name``'s own options, its defaults where not given."""
    options = method_info(name).options
    if isinstance(values, options):
        return values
    try:
        return options.model_validate(values.model_dump() if isinstance(values, BaseModel) else values or {})
    except ValidationError as err:
        raise TailorError(f"method {name!r} options: {err}") from err


def make_method(config: MethodConfig) -> Method:
    info = method_info(config.name)
    if info.retriever and config.retriever is None:
        raise TailorError(f"method {config.name!r} needs a retriever")
    if info.needs_pool and not config.pool:
        raise TailorError(f"{config.name} needs a pool of examples to draw other users' profiles from")
    return info.build(replace(config, options=method_options(config.name, config.options)))


def _nopers(c: MethodConfig) -> Method:
    return RetrievalAugmented(c.llm, None, c.answer, adapter=c.adapter(POLICY))


def _rag(c: MethodConfig) -> Method:
    return RetrievalAugmented(c.llm, c.retriever, c.answer, adapter=c.adapter(POLICY))


def _rag_random(c: MethodConfig) -> Method:
    from tailor.retrieval import RandomProfileRetriever

    return RetrievalAugmented(c.llm, RandomProfileRetriever(c.retriever, c.pool, c.seed), c.answer, adapter=c.adapter(POLICY))


def _planpers(c: MethodConfig) -> Method:
    from tailor.methods.planpers import PlanPers

    return PlanPers(c.llm, c.retriever, c.answer, c.adapter("planner"), c.helper)


def _vac(c: MethodConfig) -> Method:
    from tailor.methods.vac import vac_policy

    return vac_policy(c.llm, c.retriever, c.answer, c.adapter(POLICY))


def _rpo(c: MethodConfig) -> Method:
    return ReflectivePersonalization(c.llm, c.retriever, c.answer, c.helper, c.adapter("reflection"), c.options)


def _popi(c: MethodConfig) -> Method:
    summarizer = c.helper or c.llm
    store = SummaryStore.beside(summarizer) if c.summary_store is None else c.summary_store
    inference = PreferenceInference(summarizer, store, c.adapter("summarizer"), c.options, c.answer.max_attempts, c.seed)
    return PreferencePersonalization(c.llm, inference, c.answer, c.adapter(POLICY))


# The LaMP-QA baselines, then the trained methods.
register(MethodInfo("nopers", _nopers, "no personalization: the question alone", retriever=False))
register(MethodInfo("rag", _rag, "RAG over the asker's profile (k items)"))
register(MethodInfo("rag_random", _rag_random, "RAG over a random other user's profile (the control)", needs_pool=True, served=False))
register(MethodInfo("planpers", _planpers, "a trained planner predicts the aspects; RAG answers with that plan", helper="planner", adapter="planner", trainer="planner"))
register(MethodInfo("vac", _vac, "the policy VAC trained, answering alone from its prompt", trainer="vac", needs_policy=True))
register(MethodInfo("rpo", _rpo, "a reflection model rewrites a base model's generic answer with retrieved history", helper="reflection", adapter="reflection",
                    trainer="rpo", options=RPOOptions))
register(MethodInfo("popi", _popi, "the generator answers from a stored preference summary of the user", retriever=False, helper="summarizer",
                    trainer="popi", options=POPIOptions))
