"""Plan-RAG Personalization (PlanPers): retrieve the top-k profile items, let a planner
(usually a LoRA-trained one) list the aspects this user expects, then answer with that
plan in the prompt."""

from tailor.data.schema import Example
from tailor.llm.base import LLM
from tailor.llm.types import SamplingParams
from tailor.methods.base import Answer, Method, context_size
from tailor.methods.rag import AnswerConfig
from tailor.prompts.answer import parse_answer
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
        planned = self.planner_llm.generate(
            [planner_request(e.question, items) for e, items in zip(examples, retrieved)],
            plan_params,
            adapter=self.planner_adapter,
            description="planpers plans",
        )
        plans = [parse_plan(c.text) for c in planned]
        requests = [plan_answer_request(e.question, items, plan) for e, items, plan in zip(examples, retrieved, plans)]
        params = SamplingParams(temperature=self.config.temperature, max_tokens=self.config.max_tokens, seed=self.config.seed)
        batch = generate_parsed(self.llm, requests, params, parse_answer, self.config.max_attempts, description="planpers answers")
        answers = []
        for example, items, plan, completion, parsed in zip(examples, retrieved, plans, planned, batch.items):
            trace = {
                "method": self.name,
                "retrieved": [item.id for item in items],
                "plan": plan,
                "plan_raw": completion.text,
                "attempts": parsed.attempts,
                "parsed": parsed.ok,
                "raw": parsed.raw,
                **context_size(self.llm, [item.text for item in items] + plan, example),
            }
            answers.append(Answer(parsed.value if parsed.ok else parsed.raw, trace))
        return answers
