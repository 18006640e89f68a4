"""PlanPers prompts (our wording): a planner lists the points this user will expect an
answer to cover, then the generator answers with that plan in view.

Both prompts take only the question, retrieved profile items and (for the generator) the
predicted plan. The rubric aspect titles appear solely in ``planner_target``, the
planner's training target; no prompt ever contains them or the narrative.
"""

import re

from tailor.data.schema import Example, ProfileItem
from tailor.errors import TailorError
from tailor.llm.types import ChatRequest
from tailor.prompts.answer import REPLY_SHAPE, ANSWER_PREFILL, format_profile

MAX_PLAN_ITEMS = 8

# Leading list markers, possibly stacked: bullets, "1." / "1)" / "(1)", "Aspect 2:" / "Topic 3 -".
_MARKER = re.compile(r"^(?:\s*(?:[-*•·>#]+|\(?\d{1,2}[.):]|(?:aspect|point|topic)\s*\d{1,2}\s*[:.)-]))+\s*", re.IGNORECASE)


def _posts(items: list[ProfileItem]) -> str:
    return f"Posts I have written before:\n{format_profile(items) if items else '(none)'}"


def planner_request(question: str, items: list[ProfileItem]) -> ChatRequest:
    return ChatRequest.of(
        f"{_posts(items)}\n\n"
        f"My new question: {question}\n\n"
        "Do not answer it yet. Judging from the question and from what my posts reveal about me, "
        "name the topics that an answer would have to address to be really useful to me. "
        "Write each topic as a short title on its own line, with nothing else."
    )


def planner_target(example: Example) -> str:
    """The planner's training target: the example's rubric aspect titles, one a line."""
    if not example.rubric_aspects:
        raise TailorError(f"example {example.id!r} has no rubric aspects to train a planner on")
    return "\n".join(aspect.aspect.strip() for aspect in example.rubric_aspects)


def parse_plan(text: str) -> list[str]:
    """Aspect titles from planner output: list markers, emphasis and quotes stripped,
    header lines (ending in a colon) and repeats dropped, at most ``MAX_PLAN_ITEMS``."""
    plan: list[str] = []
    seen: set[str] = set()
    for line in text.splitlines():
        title = _MARKER.sub("", line).strip().strip("*_`\"'").strip()
        if not title or title.endswith(":") or title.casefold() in seen:
            continue
        seen.add(title.casefold())
        plan.append(title)
        if len(plan) == MAX_PLAN_ITEMS:
            break
    return plan


def plan_answer_request(question: str, items: list[ProfileItem], plan: list[str]) -> ChatRequest:
    """The generator's request; an empty plan leaves the planning section out."""
    points = "".join(f"- {point}\n" for point in plan)
    guide = f"Points to cover for me:\n{points}\n" if plan else ""
    return ChatRequest.of(
        f"{_posts(items)}\n\n"
        f"My question: {question}\n\n"
        f"{guide}"
        "Answer my question for me specifically: work through the points listed, and lean on what "
        "my posts say about my circumstances and preferences without repeating them back to me. "
        f"{REPLY_SHAPE}",
        prefill=ANSWER_PREFILL,
    )
