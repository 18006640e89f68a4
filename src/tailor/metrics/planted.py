"""The planted-preference task's metrics; they are this task's own, not any benchmark's,
deterministic, and need no judge. Each aspect is reported as the judges report it (grade
0 or 2 of 2), so reports and the run browser read them alike.

A phrasing is stated when the response holds it as a whole word or phrase: matched
without case, with any run of spaces and hyphens as one separator, and not inside a
longer word ("5km" states "# km", "Lisbonne" does not state "Lisbon"). A ``#`` in a
phrasing stands for a number, in digits or words ("# km": "5 km", "5km", "five km").

``planted`` (lenient, data v1 or v2): an aspect is met when the response holds one of its
``accept`` phrasings; the score is the share of aspects met.

``planted-strict`` (data v2, the headline of the learning tables): an aspect is met when
its fact is stated and no competing value of its kind is (another city, pet or diet, the
other unit system), where a phrasing right after a negation ("not", "non-", "without",
"isn't", "free of"...) states nothing; a fact stated only inside a quotation of the
user's posts (eight words in a row, tailor.prompts.quotes) earns nothing, and neither does
a fact whose post the response recites, wherever else it names it, since reciting a post
is not carrying its fact; and each fact of the user the question does not need,
when stated, costs ``UNNEEDED_COST``. The score is the share of aspects met less those
costs, floored at 0."""

import re
import unicodedata
from functools import lru_cache

from tailor.data.schema import Example, PlantedFact, ProfileItem
from tailor.errors import DataError
from tailor.metrics.base import Metric, MetricRun, Score
from tailor.prompts.quotes import quoted_spans

UNNEEDED_COST = 0.25  # per fact of the user that the question does not need, when the answer states it
NUMBER = r"(?:\d+(?:[.,]\d+)?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|hundred)"
# A negation right before a phrasing, with at most one small word between ("not a vegan").
NEGATED = re.compile(
    r"(?:\b(?:not|non|no|never|neither|nor|without|free of|instead of|rather than|except)|n't) "
    r"(?:(?:a|an|the|any|very|really|strictly|fully|entirely|in|at|from|for|of) )?$"
)
QUOTE_BREAK = " | "  # what stands for a quoted span: no phrasing spans it


def normalize(text: str) -> str:
    """Case-folded, accents kept, curly apostrophes straight, every run of whitespace or
    hyphens one space."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("\u2019", "'")
    return re.sub(r"[\s\-‐-―]+", " ", text).strip()


@lru_cache(maxsize=4096)
def _pattern(phrasing: str) -> re.Pattern:
    first, *after_numbers = normalize(phrasing).split("#")
    body = re.escape(first) + "".join(NUMBER + " ?" + re.escape(part.lstrip()) for part in after_numbers)
    return re.compile(r"(?<![^\W\d_])" + body + r"(?![^\W\d_])")


def states(response: str, phrasing: str) -> bool:
    """Whether ``response`` holds ``phrasing`` as a whole word or phrase (letters on either side break it)."""
    return _pattern(phrasing).search(normalize(response)) is not None


def affirms(response: str, phrasing: str) -> bool:
    """Whether ``response`` holds ``phrasing`` somewhere not right after a negation."""
    return _affirmed(normalize(response), phrasing)


def _affirmed(text: str, phrasing: str) -> bool:
    """``affirms`` on a normalized text."""
    return any(not NEGATED.search(text[: match.start()]) for match in _pattern(phrasing).finditer(text))


class PlantedFacts(Metric):
    name = "planted-facts"

    def score_batch(self, examples: list[Example], responses: list[str]) -> MetricRun:
        scores, judgments = [], 0
        for example, response in zip(examples, responses, strict=True):
            if not example.rubric_aspects:
                raise DataError("<dataset>", example.id, "rubric_aspects", "the planted metric needs at least one aspect")
            graded = []
            for position, aspect in enumerate(example.rubric_aspects):
                if not aspect.accept:
                    raise DataError("<dataset>", example.id, f"rubric_aspects[{position}].accept", "the planted metric needs the phrasings that state the fact")
                met = any(states(response, phrasing) for phrasing in aspect.accept)
                graded.append({"aspect": aspect.aspect, "score": 2 if met else 0})
            judgments += len(graded)
            value = sum(g["score"] for g in graded) / (2 * len(graded))
            scores.append(Score(value, {"aspects": graded, "failed_aspects": 0, "graded_only": value}))
        return MetricRun(self.name, [e.id for e in examples], scores, judgments=judgments)


def _facts(example: Example) -> dict[str, PlantedFact]:
    """The user's facts by kind; a DataError naming the record when the data (v1) has none,
    or an aspect asks for a fact the user lacks."""
    if not example.planted_facts:
        raise DataError("<dataset>", example.id, "planted_facts",
                        "the planted-strict metric needs the user's planted facts and their rivals, which data v1 lacks; "
                        "regenerate the data with `tailor data planted OUT` (data v2), or score v1 with the lenient `planted` metric")
    facts = {fact.kind: fact for fact in example.planted_facts}
    for position, aspect in enumerate(example.rubric_aspects):
        if aspect.fact not in facts:
            raise DataError("<dataset>", example.id, f"rubric_aspects[{position}].fact",
                            f"names {aspect.fact!r}, none of the user's planted facts ({', '.join(facts)})")
    return facts


def _unquoted(example: Example, response: str) -> tuple[str, list[ProfileItem]]:
    """The response with every span that quotes one of the user's posts cut out, and the
    posts it quotes."""
    spans, quoted = [], []
    for item in example.profile:
        if found := quoted_spans(response, item.text):
            spans += found
            quoted.append(item)
    pieces, at = [], 0
    for start, end in sorted(spans):
        if start >= at:
            pieces.append(response[at:start])
        at = max(at, end)
    return QUOTE_BREAK.join([*pieces, response[at:]]), quoted


def _strict_score(example: Example, response: str) -> Score:
    facts = _facts(example)
    if not example.rubric_aspects:
        raise DataError("<dataset>", example.id, "rubric_aspects", "the planted-strict metric needs at least one aspect")
    own, quoted = _unquoted(example, response)
    own, text = normalize(own), normalize(response)
    posts = [normalize(post.text) for post in quoted]
    recited = [kind for kind, fact in facts.items() if any(_affirmed(post, p) for post in posts for p in fact.accept)]
    graded, rivals_stated = [], {}
    for aspect in example.rubric_aspects:
        fact = facts[aspect.fact]
        rivals = [phrasing for phrasing in fact.rivals if _affirmed(text, phrasing)]
        if rivals:
            rivals_stated[fact.kind] = rivals
        met = not rivals and fact.kind not in recited and any(_affirmed(own, phrasing) for phrasing in fact.accept)
        graded.append({"aspect": aspect.aspect, "score": 2 if met else 0})
    needed = {aspect.fact for aspect in example.rubric_aspects}
    unneeded = [kind for kind, fact in facts.items() if kind not in needed and any(_affirmed(text, p) for p in fact.accept)]
    recall = sum(g["score"] for g in graded) / (2 * len(graded))
    value = max(0.0, recall - UNNEEDED_COST * len(unneeded))
    details = {"aspects": graded, "failed_aspects": 0, "graded_only": value, "recall": recall,
               "rivals_stated": rivals_stated, "unneeded_stated": unneeded, "quoted_posts": [post.id for post in quoted], "recited_facts": recited}
    return Score(value, details)


class PlantedStrict(Metric):
    name = "planted-strict"

    def score_batch(self, examples: list[Example], responses: list[str]) -> MetricRun:
        scores = [_strict_score(example, response) for example, response in zip(examples, responses, strict=True)]
        return MetricRun(self.name, [e.id for e in examples], scores, judgments=sum(len(e.rubric_aspects) for e in examples))
