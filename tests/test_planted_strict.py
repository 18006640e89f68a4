"""The planted-strict metric on hand cases built from the bundled data v2: what reads
nothing scores 0, the gold answer 1, and each loose match of the lenient metric the issue
listed is settled both ways. The lenient metric's numbers on the same cases show the contrast."""

import json

import pytest
from typer.testing import CliRunner

from tailor.cli import app
from tailor.data import SAMPLE_PLANTED, load_examples, planted_v1
from tailor.data.planted import CITIES, DIETS, PETS, UNITS, PlantedSpec, accepted, generate, write
from tailor.errors import DataError
from tailor.metrics.planted import PlantedFacts, PlantedStrict, affirms, states
from tailor.metrics.registry import make_metric

STRICT, LENIENT = PlantedStrict(), PlantedFacts()
EVERY_VALUE = f"Try {', '.join(CITIES)} with {', '.join(PETS)}; aim for 5 km or 3 miles; eat {', '.join(DIETS)}."
AIM = "Aim for 5 km (3 miles); vegetarian, vegan, pescatarian or gluten-free options all work."
CONTRADICTION = " Or in miles/km; vegan or vegetarian."


@pytest.fixture(scope="module")
def test_split():
    return load_examples(SAMPLE_PLANTED, split="test")


def strict(examples, responses) -> list[float]:
    return [s.value for s in STRICT.score_batch(examples, responses).scores]


def lenient(examples, responses) -> float:
    return LENIENT.score_batch(examples, responses).mean


def facts(example) -> dict[str, str]:
    return {fact.kind: fact.value for fact in example.planted_facts}


def needs(example) -> tuple[str, ...]:
    return tuple(aspect.fact for aspect in example.rubric_aspects)


def record(needed: tuple[str, ...], **values):
    """The first bundled example (any split) whose question needs exactly ``needed`` and whose user has ``values``."""
    return next(e for e in load_examples(SAMPLE_PLANTED) if needs(e) == needed and values.items() <= facts(e).items())


def test_the_gold_answer_scores_one_and_what_reads_nothing_scores_zero(test_split):
    posts = ["\n".join(item.text for item in e.profile) for e in test_split]
    assert strict(test_split, [e.reference for e in test_split]) == [1.0] * 48
    assert strict(test_split, [EVERY_VALUE] * 48) == [0.0] * 48  # every value stated, so every rival too
    assert strict(test_split, [AIM] * 48) == [0.0] * 48
    assert strict(test_split, posts) == [0.0] * 48  # each fact only inside a recited post
    assert strict(test_split, [e.question for e in test_split]) == [0.0] * 48
    # the lenient metric on the same answers (the issue's gaps, on data v2)
    assert (lenient(test_split, [EVERY_VALUE] * 48), lenient(test_split, posts)) == (1.0, 1.0)
    units_or_diet = [sum(fact in ("units", "diet") for fact in needs(e)) / len(needs(e)) for e in test_split]
    assert lenient(test_split, [AIM] * 48) == pytest.approx(sum(units_or_diet) / 48)  # it meets every units or diet aspect
    assert STRICT.score(test_split[0], posts[0]).details["quoted_posts"] == [item.id for item in test_split[0].profile]


def test_the_gold_answer_with_a_contradiction_loses_what_it_contradicts(test_split):
    """"Or in miles/km" names no amount, so it states no units; "vegan or vegetarian" states a
    rival of every diet (and, unneeded, the diet of a vegan or vegetarian user: -0.25)."""
    scores = strict(test_split, [e.reference + CONTRADICTION for e in test_split])
    for example, score in zip(test_split, scores):
        kept = sum(fact != "diet" for fact in needs(example)) / len(needs(example))
        cost = 0.25 if "diet" not in needs(example) and facts(example)["diet"] in ("vegan", "vegetarian") else 0.0
        assert score == kept - cost, example.id
    assert 0.5 < sum(scores) / 48 < 0.8 and lenient(test_split, [e.reference + CONTRADICTION for e in test_split]) == 1.0


def test_another_users_gold_answer_scores_zero(test_split):
    pairs = [(e, other) for e in test_split for other in test_split
             if other.user_id != e.user_id and needs(other) == needs(e) and all(facts(other)[k] != facts(e)[k] for k in needs(e))]
    assert len({e.id for e, _ in pairs}) > 40  # nearly every question has such a pair
    assert strict([e for e, _ in pairs], [other.reference for _, other in pairs]) == [0.0] * len(pairs)
    shifted = strict(test_split, [test_split[(i + 2) % 48].reference for i in range(48)])  # whatever question the other user had
    assert sum(shifted) / 48 <= 0.25


# The matches the issue found loose: (text, kind, value, stated by planted-strict, stated by the lenient metric on v1's vocabulary).
MATCHES = [
    ("Keep your feet warm.", "units", "imperial", False, True),
    ("Pound the pavement before work.", "units", "imperial", False, True),
    ("Wear a heart-rate meter.", "units", "metric", False, True),
    ("This one is not vegetarian.", "diet", "vegetarian", False, True),
    ("A non-vegan cake.", "diet", "vegan", False, True),
    ("Run a 5K on Sunday.", "units", "metric", True, False),
    ("A veggie burger.", "diet", "vegetarian", True, False),
    ("Good for vegetarians.", "diet", "vegetarian", True, False),
    ("Below 20F, wear gloves.", "units", "imperial", True, False),
    # the correct statements, and near misses
    ("Keep your feet warm below 40 °F.", "units", "imperial", True, True),
    ("Carry 4 pounds of food.", "units", "imperial", True, True),
    ("Run five miles.", "units", "imperial", True, True),
    ("Run 400 meters fast.", "units", "metric", True, True),
    ("Run about 8km.", "units", "metric", True, True),
    ("A vegetarian dinner, not a vegan one.", "diet", "vegetarian", True, True),
    ("A vegan cake.", "diet", "vegan", True, True),
    ("It isn't a veggie burger.", "diet", "vegetarian", False, False),
    ("Listen to K-pop on the way.", "units", "metric", False, False),
    ("Twenty friends came.", "units", "imperial", False, False),
    ("A menu free of vegan dishes.", "diet", "vegan", False, True),
    ("Neither vegan nor vegetarian.", "diet", "vegetarian", False, True),
    ("A meat-free dinner.", "diet", "vegetarian", False, True),  # a vegan or pescatarian one is meat-free too: it names no diet
]


@pytest.mark.parametrize(("text", "kind", "value", "stated", "lenient_v1"), MATCHES)
def test_a_fact_is_stated_only_as_the_issue_asks(text, kind, value, stated, lenient_v1):
    assert any(affirms(text, phrasing) for phrasing in accepted(kind, value)) is stated
    v1 = planted_v1.UNITS[value]["accept"] if kind == "units" else planted_v1.DIETS[value]
    assert any(states(text, phrasing) for phrasing in v1) is lenient_v1


@pytest.mark.parametrize(("needed", "value", "wrong", "right"), [
    ("units", "imperial", "Keep your feet warm and pound the pavement.", "Keep your feet warm: below 20F wear gloves."),
    ("units", "metric", "Wear a heart-rate meter.", "Run a 5K twice a week."),
    ("diet", "vegetarian", "Cook something that is not vegetarian.", "Cook a veggie curry."),
    ("diet", "vegan", "Bake a non-vegan cake.", "Bake a meat-free cake for vegans."),
])
def test_the_metric_settles_each_match_on_a_real_record(needed, value, wrong, right):
    example = record((needed,), **{needed: value})
    assert strict([example, example], [wrong, right]) == [0.0, 1.0]


def test_a_tofu_or_pepper_is_no_pet_and_pet_names_are_only_names():
    assert not set(PETS) & {"Tofu", "Pepper", "Basil", "Miso", "Biscuit", "Noodle", "Waffles", "Pickles", "Saffron", "Rocket", "Hazel", "Juniper", "Clementine"}
    assert not set(PETS) & set(CITIES) and len(PETS) == len(set(PETS)) >= 36
    assert any(states("A tofu stir-fry.", pet) for pet in planted_v1.PETS)  # v1 had a pet named Tofu


def test_a_fact_whose_post_the_answer_recites_earns_nothing_wherever_it_is_named():
    """Reciting eight words of the post that states a fact recites that fact: naming it again
    outside the quotation, or reciting only the post's other words around the name, earns
    nothing. A recited post that states no fact costs no fact its credit."""
    example = record(("city",))
    city, post = facts(example)["city"], next(item for item in example.profile if item.category == "city")
    filler = next(item for item in example.profile if item.category == "other" and len(item.text.split()) >= 8)
    recited = STRICT.score(example, post.text)
    assert recited.value == 0.0 and recited.details["quoted_posts"] == [post.id] and recited.details["recited_facts"] == ["city"]
    assert STRICT.score(example, f"{post.text} So spend Saturday somewhere in {city}.").value == 0.0
    around = post.text.split(city)[1].strip(" :,.")  # the post's words after the city's name, eight or more
    assert len(around.split()) >= 8 and STRICT.score(example, f"A weekend in {city}, {around}.").value == 0.0
    kept = STRICT.score(example, f"{filler.text} So spend Saturday somewhere in {city}.")
    assert kept.value == 1.0 and kept.details["quoted_posts"] == [filler.id] and kept.details["recited_facts"] == []
    assert STRICT.score(example, f"Spend Saturday somewhere in {city}.").details["recited_facts"] == []


def test_unneeded_facts_cost_a_quarter_each_and_rivals_count_unless_negated():
    example = record(("city",))
    user, rival = facts(example), next(c for c in CITIES if c != facts(example)["city"])
    weight = UNITS[user["units"]]["weight"]
    got = strict([example] * 5, [
        f"{example.reference} Bring {user['pet']}.", f"{example.reference} Bring {user['pet']} and {weight} of {user['diet']} snacks.",
        f"{example.reference} Not {rival}, though.", f"{example.reference} Or {rival}.", f"{user['city']}, {user['pet']}, {user['diet']}, {weight}.",
    ])
    assert got == [0.75, 0.25, 1.0, 0.0, 0.25]
    both = record(("units", "diet"))
    assert STRICT.score(both, f"{UNITS[facts(both)['units']]['weight']}, in {facts(both)['city']} with {facts(both)['pet']}.").value == 0.0  # 0.5 - 0.5
    details = STRICT.score(example, f"{example.reference} Or {rival}, with {user['pet']}.").details
    assert details["rivals_stated"] == {"city": [rival]} and details["unneeded_stated"] == ["pet"] and details["recall"] == 0.0
    assert details["aspects"] == [{"aspect": example.rubric_aspects[0].aspect, "score": 0}]


def test_data_v1_is_refused_with_the_reason(tmp_path):
    v1 = write(generate(PlantedSpec(train_users=1, validation_users=1, test_users=1, questions_per_user=1, version=1)), tmp_path)
    example = load_examples(v1, split="test")[0]
    with pytest.raises(DataError, match=r"record 'planted-test-u001-q1'.*planted_facts.*data v1 lacks.*tailor data planted OUT` \(data v2\)"):
        STRICT.score(example, example.reference)
    assert LENIENT.score(example, example.reference).value == 1.0  # the lenient metric still reads v1


def test_tailor_score_json_with_planted_strict(tmp_path, test_split):
    chosen = test_split[:4]
    responses = tmp_path / "responses.json"
    outputs = [chosen[0].reference, "\n".join(p.text for p in chosen[1].profile), chosen[2].reference, AIM]
    responses.write_text(json.dumps({e.id: [{"output": text}] for e, text in zip(chosen, outputs)}))
    env = {"TAILOR_PROGRESS": "0"}
    result = CliRunner().invoke(app, ["score", str(responses), "--data", str(SAMPLE_PLANTED), "--split", "test", "--metric", "planted-strict", "--json"], env=env)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    assert (printed["metric"], printed["score"], printed["examples"]) == ("planted-strict", 0.5, 4)
    assert printed["judgments"] == sum(len(e.rubric_aspects) for e in chosen) and printed["failed_examples"] == 0
    saved = json.loads((tmp_path / "scores.json").read_text())
    assert "planted-strict" in json.dumps(saved)
    v1 = write(generate(PlantedSpec(train_users=1, validation_users=1, test_users=1, questions_per_user=1, version=1)), tmp_path / "v1")
    (tmp_path / "v1r.json").write_text(json.dumps({"planted-test-u001-q1": [{"output": "x"}]}))
    refused = CliRunner().invoke(app, ["score", str(tmp_path / "v1r.json"), "--data", str(v1), "--metric", "planted-strict"], env=env)
    assert refused.exit_code != 0 and "data v2" in refused.output
    assert make_metric("planted-strict", None).name == "planted-strict"
