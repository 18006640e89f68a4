"""A planted-preference task: synthetic users with four stable, checkable facts (the city
they live in, their pet, the units they measure in, their diet) that show in their post
history.

Each question names none of them, but its narrative and rubric aspects say which matter
for it (each aspect's ``fact`` names the kind). Every record (data v2) carries the user's
``planted_facts``: for each kind the value, the phrasings that state it (``accept``) and
those of every competing value of the vocabulary (``rivals``), which the
``planted-strict`` metric needs; a ``#`` in a phrasing stands for a number ("# km": "5 km",
"5km"), so units are stated only by an amount with its unit. A correct training loop must
learn to carry the facts from the retrieved history into the answer, so its trained policy
beats its starting point on held-out users: the check a loop must pass before anyone
spends GPU-hours on it.

Records are in LaMP-QA's format (one category folder, one file per split), with a gold
``reference`` answer that states every fact the question needs and no other. Train,
validation and test users are disjoint, and so are their cities and pets: each split
draws them from its own third of the vocabulary, so a held-out user's city or pet never
occurred in training. Every value of a split's pool, and every unit system and diet, is
given to as equal a number of users as the counts allow. Each profile holds one post per
fact among more unrelated ones than a retriever's usual k reads, so retrieval matters.

Facts are stated directly by default ("Moved to Lisbon..."). ``indirect`` states them so
that reciting a post states none (a landmark for the city, a hashtag for the pet's name,
bare amounts for the units, what the user does not eat for the diet): a harder task, which
needs world knowledge SmolLM2-135M lacks (which city has the Belém Tower), so a loop could
fail it for the model's sake rather than its own; the strict metric already gives no
credit for a fact stated by quoting a post. The same seed gives the same files. Data v1
(``version=1``, tailor.data.planted_v1) stays available as it was.

>>> splits = generate(PlantedSpec(seed=0))
>>> write(splits, "data/planted")  # data/planted/Planted_Preferences/{train,validation,test}.json
"""

import json
import random
from dataclasses import dataclass
from pathlib import Path

from tailor.data import planted_v1
from tailor.data.planted_text import FACT_POSTS, FILLER_POSTS, INDIRECT_POSTS, QUESTIONS, Question
from tailor.io import atomic_write_text

CATEGORY = "Planted_Preferences"
KINDS = ("city", "pet", "units", "diet")

# Each city, with a landmark that names it to a reader who knows the city (indirect posts).
CITIES = {
    "Lisbon": "the Belém Tower", "Osaka": "the Dotonbori canal", "Denver": "Coors Field", "Nairobi": "Uhuru Park",
    "Oslo": "the Vigeland sculpture park", "Montreal": "Mount Royal", "Perth": "Kings Park", "Lyon": "the Fourvière basilica",
    "Krakow": "Wawel Castle", "Valparaiso": "the funiculars of Cerro Alegre", "Hanoi": "Hoan Kiem Lake", "Glasgow": "Kelvingrove Park",
    "Tucson": "Saguaro National Park", "Bergen": "the Bryggen wharf", "Seville": "the Giralda", "Halifax": "Citadel Hill",
    "Porto": "the Dom Luís I bridge", "Kyoto": "the Fushimi Inari shrine", "Helsinki": "the Suomenlinna fortress", "Reykjavik": "Hallgrímskirkja",
    "Tallinn": "Toompea hill", "Dublin": "the Ha'penny Bridge", "Edinburgh": "Arthur's Seat", "Prague": "the Charles Bridge",
    "Budapest": "the Széchenyi baths", "Copenhagen": "Nyhavn", "Amsterdam": "the Vondelpark", "Barcelona": "the Sagrada Família",
    "Vancouver": "Stanley Park", "Seattle": "Pike Place Market", "Chicago": "Navy Pier", "Toronto": "the CN Tower",
    "Istanbul": "the Grand Bazaar", "Marrakech": "Jemaa el-Fnaa", "Cape Town": "Table Mountain", "Granada": "the Alhambra",
}
CITY_SPELLINGS = {"Krakow": ("Kraków",), "Montreal": ("Montréal",), "Valparaiso": ("Valparaíso",), "Reykjavik": ("Reykjavík",), "Marrakech": ("Marrakesh",)}
# Names that read only as names: no food, plant or common word (v1's Tofu or Pepper are gone).
PETS = (
    "Mabel", "Otis", "Ziggy", "Winston", "Archibald", "Bartholomew", "Percival", "Mortimer", "Ophelia", "Rosalind", "Thaddeus", "Ignatius",
    "Cornelius", "Beatrix", "Agatha", "Wilbur", "Horace", "Ezekiel", "Leopold", "Matilda", "Winifred", "Gertrude", "Humphrey", "Reginald",
    "Barnaby", "Ferdinand", "Gideon", "Hector", "Ingrid", "Rufus", "Sybil", "Tobias", "Ursula", "Wendell", "Zelda", "Octavia",
)
SPECIES = ("dog", "cat", "rabbit")
# The unit systems: the phrasings that state one (an amount with its unit), the amounts
# posts and answers use, and the bare amounts that hint at it (indirect posts).
UNITS = {
    "metric": {
        "accept": (
            "# km", "# k", "# kms", "# kilometre", "# kilometres", "# kilometer", "# kilometers", "# m", "# metre", "# metres", "# meter", "# meters",
            "# cm", "# kg", "# kgs", "# kilo", "# kilos", "# kilogram", "# kilograms", "# g", "# gram", "# grams", "# °c", "# c", "# celsius",
            "# degrees c", "# degrees celsius", "# centigrade", "# litre", "# litres", "# liter", "# liters", "# ml", "# km/h",
        ),
        "distance": "8 km", "weight": "2 kg", "cold": "5 °C", "frost": "minus 4", "speed": "100",
    },
    "imperial": {
        "accept": (
            "# mi", "# mile", "# miles", "# mph", "# ft", "# foot", "# feet", "# inch", "# inches", "# yard", "# yards", "# lb", "# lbs",
            "# pound", "# pounds", "# oz", "# ounce", "# ounces", "# °f", "# f", "# fahrenheit", "# degrees f", "# degrees fahrenheit",
            "# gallon", "# gallons",
        ),
        "distance": "5 miles", "weight": "4 pounds", "cold": "40 °F", "frost": "25", "speed": "65",
    },
}
# Each diet's phrasings: names that pick out that diet alone ("meat-free" or "plant-based"
# would fit several, so they name none), inflections and short forms included (they are the
# vocabulary, not rules of the metric); and what a user on it does not eat (indirect posts).
DIETS = {
    "vegetarian": ("vegetarian", "vegetarians", "veggie"),
    "vegan": ("vegan", "vegans"),
    "pescatarian": ("pescatarian", "pescatarians", "pescetarian", "pescetarians"),
    "gluten-free": ("gluten-free", "coeliac", "coeliacs", "celiac", "celiacs"),
}
ABSTAINS = {
    "vegetarian": "no meat or fish on my plate, though eggs and cheese are fine",
    "vegan": "nothing from an animal on my plate: no meat, fish, eggs, dairy or honey",
    "pescatarian": "no meat on my plate, though fish and seafood are fine",
    "gluten-free": "no wheat, barley or rye on my plate, so bread and most pasta are out",
}
VERSIONS = {1: {"validation_users": 6, "filler_posts": 2}, 2: {"validation_users": 24, "filler_posts": 6}}


@dataclass(frozen=True)
class PlantedSpec:
    """How many users each split gets, questions per user, unrelated posts per profile, the
    seed, the data version, and (v2) whether posts state the facts indirectly. Left out,
    ``validation_users`` and ``filler_posts`` are the version's (v2: 24 and 6; v1: 6 and 2)."""

    seed: int = 0
    train_users: int = 24
    validation_users: int | None = None
    test_users: int = 24
    questions_per_user: int = 2
    filler_posts: int | None = None
    version: int = 2
    indirect: bool = False

    def __post_init__(self):
        if self.version not in VERSIONS:
            raise ValueError(f"version: {self.version} is not a data version; choose one of {', '.join(map(str, VERSIONS))}")
        for name, default in VERSIONS[self.version].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, default)
        if min(self.train_users, self.validation_users, self.test_users, self.questions_per_user) < 1:
            raise ValueError("every split needs at least one user, and each user at least one question")
        templates, fillers = (len(planted_v1.QUESTIONS), len(planted_v1.FILLER_POSTS)) if self.version == 1 else (len(QUESTIONS), len(FILLER_POSTS))
        if self.questions_per_user > templates:
            raise ValueError(f"questions_per_user: at most {templates} (the number of question templates)")
        if not 0 <= self.filler_posts <= fillers:
            raise ValueError(f"filler_posts: between 0 and {fillers}")
        if self.indirect and self.version == 1:
            raise ValueError("indirect: data v1 states every fact directly; use version 2")


def accepted(kind: str, value: str) -> list[str]:
    """The phrasings that state ``value`` of ``kind``."""
    if kind == "city":
        return [value, *CITY_SPELLINGS.get(value, ())]
    if kind == "pet":
        return [value]
    return list(UNITS[value]["accept"] if kind == "units" else DIETS[value])


def values(kind: str) -> list[str]:
    """Every value of ``kind`` in the vocabulary."""
    return list({"city": CITIES, "pet": PETS, "units": UNITS, "diet": DIETS}[kind])


def planted_facts(user: dict) -> list[dict]:
    """The user's four facts, each with the phrasings of every competing value of its kind."""
    facts = []
    for kind in KINDS:
        rivals = [phrasing for other in values(kind) if other != user[kind] for phrasing in accepted(kind, other)]
        facts.append({"kind": kind, "value": user[kind], "accept": accepted(kind, user[kind]), "rivals": rivals}
                     | ({"species": user["species"]} if kind == "pet" else {}))
    return facts


def _balanced(rng: random.Random, pool: list[str], count: int) -> list[str]:
    """``count`` draws from ``pool`` in a random order, each value as often as the count allows."""
    order = rng.sample(pool, len(pool))
    drawn = [order[i % len(order)] for i in range(count)]
    rng.shuffle(drawn)
    return drawn


def _users(rng: random.Random, count: int, cities: list[str], pets: list[str]) -> list[dict]:
    """``count`` users' facts, balanced over the split's cities and pets, the unit systems,
    the diets and the species; and what each user's posts and answers write from them."""
    drawn = {"city": _balanced(rng, cities, count), "pet": _balanced(rng, pets, count), "units": _balanced(rng, sorted(UNITS), count),
             "diet": _balanced(rng, sorted(DIETS), count), "species": _balanced(rng, list(SPECIES), count)}
    users = []
    for i in range(count):
        user = {key: column[i] for key, column in drawn.items()}
        amounts = {key: UNITS[user["units"]][key] for key in ("distance", "weight", "cold", "frost", "speed")}
        hashtag = f"#{user['pet']}The{user['species'].capitalize()}"
        users.append(user | amounts | {"landmark": CITIES[user["city"]], "abstain": ABSTAINS[user["diet"]], "hashtag": hashtag})
    return users


def _question_sets(rng: random.Random, users: int, per_user: int) -> list[list[Question]]:
    """Each user's question templates: distinct, needing no fact twice where the templates
    allow, and every template used as evenly as the counts allow (dealt from shuffled decks)."""
    deck: list[Question] = []
    sets = []
    for _ in range(users):
        chosen: list[Question] = []
        refilled = False
        while len(chosen) < per_user:
            needed = {fact for question in chosen for fact in question.facts}
            fresh = [q for q in deck if q not in chosen and not needed & set(q.facts)]
            if not fresh and not refilled:
                deck += rng.sample(QUESTIONS, len(QUESTIONS))
                refilled = True
                continue
            pick = fresh[0] if fresh else next(q for q in deck if q not in chosen)
            deck.remove(pick)
            chosen.append(pick)
            refilled = False
        sets.append(chosen)
    return sets


def _profile(rng: random.Random, user: dict, uid: str, spec: PlantedSpec) -> list[dict]:
    """One post stating each fact, in one of its phrasings, and ``filler_posts`` unrelated
    ones, shuffled."""
    templates = INDIRECT_POSTS if spec.indirect else FACT_POSTS
    posts = [(kind, rng.choice(templates[kind])) for kind in KINDS]
    posts += [("other", text) for text in rng.sample(FILLER_POSTS, spec.filler_posts)]
    rng.shuffle(posts)
    return [{"id": f"{uid}-p{i:02d}", "text": template.format(**user), "category": kind} for i, (kind, template) in enumerate(posts, 1)]


def _aspect(kind: str, user: dict, profile: list[dict]) -> dict:
    evidence = next(item["text"] for item in profile if item["category"] == kind)
    said = {
        "city": (f"Fits the asker's city, {user['city']}", f"They live in {user['city']}, so the suggestions should be there."),
        "pet": (f"Mentions the asker's {user['species']}, {user['pet']}", f"Their {user['species']} {user['pet']} is part of the plan."),
        "units": (f"Uses {user['units']} units", f"They measure in {user['units']} units, so amounts should be given in them."),
        "diet": (f"Respects the asker's {user['diet']} diet", f"They eat {user['diet']}, so the food must be {user['diet']}."),
    }[kind]
    return {"aspect": said[0], "reason": said[1], "evidence": evidence, "accept": accepted(kind, user[kind]), "fact": kind}


def _narrative(facts: tuple[str, ...], user: dict) -> str:
    """What the asker wants, in the first person as LaMP-QA narratives are written: the
    facts, then what an answer that fits them says."""
    said = {
        "city": f"I live in {user['city']}", "pet": f"I have a {user['species']} called {user['pet']}",
        "units": f"I measure everything in {user['units']} units", "diet": f"I eat a {user['diet']} diet",
    }
    wanted = {
        "city": f"name {user['city']}", "pet": f"include {user['pet']}",
        "units": f"give amounts in {user['units']} units", "diet": f"keep the food {user['diet']}",
    }
    return f"{'; '.join(said[f] for f in facts)}. An answer that fits me should {' and '.join(wanted[f] for f in facts)}."


def _split(rng: random.Random, spec: PlantedSpec, split: str, users: list[dict]) -> list[dict]:
    records = []
    for u, (user, questions) in enumerate(zip(users, _question_sets(rng, len(users), spec.questions_per_user)), 1):
        uid = f"planted-{split}-u{u:03d}"
        profile, facts = _profile(rng, user, uid, spec), planted_facts(user)
        for q, question in enumerate(questions, 1):
            records.append({
                "id": f"{uid}-q{q}", "user_id": uid, "question": rng.choice(question.phrasings), "profile": profile,
                "narrative": _narrative(question.facts, user), "rubric_aspects": [_aspect(f, user, profile) for f in question.facts],
                "reference": question.answer.format(**user), "planted_facts": facts,
            })
    return records


def generate(spec: PlantedSpec = PlantedSpec()) -> dict[str, list[dict]]:
    """The three splits' records. v2: each split's users take their cities and pets from
    the split's own third of the vocabulary (shuffled by the seed)."""
    if spec.version == 1:
        return planted_v1.generate(spec)
    rng = random.Random(spec.seed)
    pools = {kind: rng.sample(values(kind), len(values(kind))) for kind in ("city", "pet")}
    splits = {}
    for part, (split, count) in enumerate((("train", spec.train_users), ("validation", spec.validation_users), ("test", spec.test_users))):
        third = {kind: pool[part * len(pool) // 3 : (part + 1) * len(pool) // 3] for kind, pool in pools.items()}
        splits[split] = _split(rng, spec, split, _users(rng, count, third["city"], third["pet"]))
    return splits


def write(splits: dict[str, list[dict]], out: str | Path) -> Path:
    """Write each split as ``out/Planted_Preferences/<split>.json``; ``out``, which
    ``load_examples`` reads."""
    for split, records in splits.items():
        atomic_write_text(Path(out) / CATEGORY / f"{split}.json", json.dumps(records, indent=1, ensure_ascii=False) + "\n")
    return Path(out)
