"""An oracle in place of the model that writes a loop's reasoning targets, to show what a
loop's own machinery does where a small model cannot write them (REST-PG's reasoner, RPO's
teacher; ``reasoner: oracle``, ``teacher: oracle``).

It reads hidden data: the planted-preference task's ``planted_facts`` (data v2), of which it
states, one bullet each, the facts the question needs (those its rubric aspects name). Its
bullets are training targets only, never part of a prompt, and they take the path a model's
reasoning takes (the same quotation filter and checks). A run that uses it is no result of
its method: its config says ``oracle``, and its history names the parts the oracle wrote
(``History.oracle``), which its report shows.
"""

from typing import Literal

from tailor.data.schema import Example, PlantedFact
from tailor.errors import TailorError

ORACLE = "oracle"
Oracle = Literal["oracle"]
WROTE = "written from the example's planted facts, the data the metric checks: an oracle, not a model"

_STATES = {
    "city": "The user lives in {value}, so the answer should be set there.",
    "pet": "The user's {species} is called {value}, so the answer should name {value}.",
    "units": "The user measures in {value} units, so amounts should be given in them.",
    "diet": "The user eats {value} food, so the food should be {value}.",
}


def needed_facts(example: Example) -> list[PlantedFact]:
    """The user's planted facts the question asks for, in the order of its rubric aspects;
    an error naming the example when its data has none to give (data v1) or lacks one."""
    if not example.planted_facts:
        raise TailorError(f"{example.id}: the oracle writes from planted_facts, which this data lacks (regenerate it with `tailor data planted`, data v2)")
    kinds = [a.fact for a in example.rubric_aspects if a.fact]
    if not kinds:
        raise TailorError(f"{example.id}: no rubric aspect names the fact it asks for (Aspect.fact), so the oracle cannot tell which facts the question needs")
    facts = {f.kind: f for f in example.planted_facts}
    missing = [kind for kind in kinds if kind not in facts]
    if missing:
        raise TailorError(f"{example.id}: an aspect asks for the user's {missing[0]}, which its planted_facts do not hold")
    return [facts[kind] for kind in dict.fromkeys(kinds)]


def oracle_reasoning(example: Example) -> str:
    """One bullet per fact the question needs: what it is and what it asks of the answer."""
    lines = []
    for fact in needed_facts(example):
        template = _STATES.get(fact.kind, f"The user's {fact.kind} is {{value}}, so the answer should fit it.")
        lines.append("- " + template.format(value=fact.value, species=(fact.model_extra or {}).get("species", "pet")))
    return "\n".join(lines)


def oracle_settings(value, path: str = "") -> list[str]:
    """The dotted names of the settings an oracle fills in ``value``, a config's JSON dump (a
    recipe's ``variants`` are other runs' settings, not its own)."""
    if isinstance(value, dict):
        return [found for key, inner in value.items() if key != "variants" for found in oracle_settings(inner, f"{path}{key}.")]
    return [path[:-1]] if value == ORACLE else []


def oracle_parts(config) -> dict[str, str]:
    """The settings of ``config`` (a loop's config) that an oracle fills, each with what it writes."""
    return {name: WROTE for name in oracle_settings(config.model_dump(mode="json"))}
