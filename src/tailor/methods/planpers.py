"""Plan-RAG Personalization (PlanPers): retrieve the top-k profile items, let a planner
(usually a LoRA-trained one) list the aspects this user expects, then answer with that
plan in the prompt. Both prompts keep as many retrieved items as fit their model's context;
an example whose planner prompt does not fit even without items is skipped."""

from functools import partial

from tailor.data.schema import Example
from tailor.errors import PromptTooLong
from tailor.llm.base import LLM
from tailor.llm.types import SamplingParams
from tailor.methods.base import Answer, Method, context_size, skipped_answer
from tailor.methods.rag import AnswerConfig
from tailor.prompts.answer import parse_answer
from tailor.prompts.fit import fit_items
from tailor.prompts.plan import parse_plan, plan_answer_request, planner_request
from tailor.prompts.retry import generate_parsed
from tailor.retrieval.base import Retriever


class PlanPers(Method):
    """``planner_llm`` defaults to ``llm``; the adapter applies to planning only, and a
    plan is at most ``plan_tokens`` long."""

    name = "planpers"

    def __init__(
        self,
        llm: LLM,
        retriever: Retriever,
        config: AnswerConfig = AnswerConfig(),
        planner_adapter: str | None = None,
        planner_llm: LLM | None = None,
        plan_tokens: int = 128,
    ):
        self.llm, self.retriever, self.config = llm, retriever, config
        self.planner_adapter, self.planner_llm, self.plan_tokens = planner_adapter, planner_llm or llm, plan_tokens

    def answer_batch(self, examples: list[Example]) -> list[Answer]:
        retrieved = [self.retriever.retrieve(e, self.config.k) for e in examples]
        plan_params = SamplingParams(temperature=self.config.temperature, max_tokens=self.plan_tokens, seed=self.config.seed)
        planner_prompts = [fit_items(self.planner_llm, self.plan_tokens, items, partial(planner_request, e.question)) for e, items in zip(examples, retrieved)]
        planned = self.planner_llm.generate_each(
            [f.request for f in planner_prompts], plan_params, adapter=self.planner_adapter, description="planpers plans",
        )
        answers: list[Answer | None] = [skipped_answer(self.name, c) if isinstance(c, PromptTooLong) else None for c in planned]
        todo = [i for i, answer in enumerate(answers) if answer is None]
        plans = {i: parse_plan(planned[i].text) for i in todo}
        fitted = {
            i: fit_items(self.llm, self.config.max_tokens, retrieved[i], partial(plan_answer_request, examples[i].question, plan=plans[i])) for i in todo
        }
        params = SamplingParams(temperature=self.config.temperature, max_tokens=self.config.max_tokens, seed=self.config.seed)
        batch = generate_parsed(self.llm, [fitted[i].request for i in todo], params, parse_answer, self.config.max_attempts, description="planpers answers")
        for i, parsed in zip(todo, batch.items):
            items = fitted[i].items
            trace = {
                "method": self.name,
                "retrieved": [item.id for item in items],
                "trimmed": fitted[i].trimmed,
                "planner_trimmed": planner_prompts[i].trimmed,
                "plan": plans[i],
                "plan_raw": planned[i].text,
                **parsed.trace(),
                **context_size(self.llm, [item.text for item in items] + plans[i], examples[i]),
            }
            answers[i] = Answer(parsed.value if parsed.ok else parsed.raw, trace)
        return answers  # type: ignore[return-value]
