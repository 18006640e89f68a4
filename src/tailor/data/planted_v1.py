"""Data v1 of the planted-preference task, kept byte for byte as it was first generated
(``PlantedSpec(version=1)``, ``tailor data planted OUT --version 1``) so that runs made on
it can be read and redone. Its records carry no ``planted_facts``, so only the lenient
``planted`` metric scores them; v2 (tailor.data.planted) is the default. Its limits, which
v2 removes: test users share cities and pets with training users, units and diets are
drawn at random per user, pet names include ordinary words (Tofu, Pepper), and a profile
of six posts is read whole by a retriever with k=6. It shares no code with v2 on purpose:
editing v2 must not change a byte of v1."""

import random

CITIES = ("Lisbon", "Osaka", "Denver", "Nairobi", "Oslo", "Montreal", "Perth", "Lyon", "Krakow", "Valparaiso", "Hanoi", "Glasgow", "Tucson", "Bergen", "Seville", "Halifax")
PETS = ("Biscuit", "Miso", "Pepper", "Juniper", "Waffles", "Tofu", "Ziggy", "Clementine", "Noodle", "Basil", "Pickles", "Mabel", "Otis", "Saffron", "Rocket", "Hazel")
SPECIES = ("dog", "cat", "rabbit")
# The units a user measures in: the phrasings that state them, and the amounts posts and answers use.
UNITS = {
    "metric": {
        "accept": ("km", "kilometre", "kilometres", "kilometer", "kilometers", "kg", "kilogram", "kilograms", "celsius", "°c", "metre", "metres", "meter", "meters", "litre", "litres", "liter", "liters", "gram", "grams"),
        "distance": "8 km", "weight": "2 kg", "cold": "5 °C",
    },
    "imperial": {
        "accept": ("mile", "miles", "lb", "lbs", "pound", "pounds", "fahrenheit", "°f", "feet", "foot", "ounce", "ounces", "gallon", "gallons", "inch", "inches"),
        "distance": "5 miles", "weight": "4 pounds", "cold": "40 °F",
    },
}
DIETS = {
    "vegetarian": ("vegetarian", "meat-free", "meatless"),
    "vegan": ("vegan", "plant-based"),
    "pescatarian": ("pescatarian",),
    "gluten-free": ("gluten-free", "gluten free", "coeliac", "celiac"),
}

FACT_POSTS = {
    "city": ("Moved to {city} last spring and I still get lost in the old town.", "Rainy week here in {city}, the whole neighbourhood stayed indoors."),
    "pet": ("{pet}, my {species}, chewed through another charging cable this morning.", "Took {pet} to the vet for a check-up, my {species} is healthy and spoiled."),
    "units": ("Ran {distance} along the river before work today, new personal best.", "My scale says I lost {weight} this month, so the cycling is paying off."),
    "diet": ("Being {diet} makes team lunches tricky, the canteen has one option for me.", "Found a great {diet} cookbook at the library, trying a recipe tonight."),
}
FILLER_POSTS = (
    "Finally finished the jigsaw puzzle my sister gave me, all 1000 pieces.",
    "Does anyone else find spreadsheets weirdly relaxing?",
    "Started learning the guitar again after ten years away from it.",
    "My houseplants are thriving since I moved them to the east window.",
    "Work has been hectic, looking forward to a quiet weekend.",
    "Watched an old documentary about lighthouses and loved it.",
    "Trying to read one book a month this year, on track so far.",
    "Repainted the hallway a pale green, it looks much brighter.",
)

# Question templates: the facts each needs, its phrasings (naming none of them), and a gold answer.
QUESTIONS = (
    (("city",), ("What is a good way to spend a free Saturday close to home?", "Any ideas for a day out this weekend without travelling far?"),
     "Stay local and explore {city}: start at a market in {city}, walk one of its parks, and end with a view over the city at sunset."),
    (("city", "pet"), ("I want a long weekend walk and to bring my pet along. Where should we go?", "Where can I take my pet for a nice outing this weekend?"),
     "Take {pet} to one of the big parks in {city}: go early while it is quiet, bring water for {pet}, and finish at a pet-friendly cafe in {city}."),
    (("diet",), ("What should I cook for a quick weeknight dinner?", "Can you suggest an easy dinner I can make in under thirty minutes?"),
     "Make a {diet} stir-fry: fry vegetables and noodles with garlic and soy sauce; it is quick, filling and fully {diet}."),
    (("city", "diet"), ("Where should I take my friends out for dinner?", "I'm hosting visitors next week. Where should we eat out?"),
     "Book a {diet} restaurant in {city}: {city} has several, and a {diet} menu means you can share every dish."),
    (("units",), ("How far should my training runs be to prepare for my first race?", "How long should my weekend run be when I'm starting out?"),
     "Build up slowly: run about {distance} twice a week, and add a little each week until {distance} feels easy."),
    (("units", "diet"), ("What food should I pack for a two-day hike?", "How should I plan meals for a weekend camping trip?"),
     "Pack about {weight} of {diet} food: oats, nuts, dried fruit and {diet} wraps keep well and are light to carry."),
    (("pet",), ("How can I keep my pet busy while I work from home?", "My pet gets bored during the day. What can I do?"),
     "Give {pet} a puzzle feeder and a few short play breaks; {pet} will be calmer if your {species} gets attention every couple of hours."),
    (("units",), ("What should I wear for a run on a cold morning?", "How do I dress for outdoor exercise in winter?"),
     "Below {cold}, wear a thin base layer, gloves and a hat; above {cold}, a long-sleeved shirt is usually enough."),
)


def _user(rng: random.Random) -> dict:
    """A user's facts, and the amounts their units give posts and answers."""
    units = rng.choice(sorted(UNITS))
    user = {"city": rng.choice(CITIES), "pet": rng.choice(PETS), "species": rng.choice(SPECIES), "units": units, "diet": rng.choice(sorted(DIETS))}
    return user | {key: UNITS[units][key] for key in ("distance", "weight", "cold")}


def _profile(rng: random.Random, user: dict, uid: str, filler: int) -> list[dict]:
    """One post stating each fact, in one of its phrasings, and ``filler`` unrelated posts, shuffled."""
    posts = [(fact, rng.choice(templates)) for fact, templates in FACT_POSTS.items()]
    posts += [("other", text) for text in rng.sample(FILLER_POSTS, filler)]
    rng.shuffle(posts)
    return [{"id": f"{uid}-p{i:02d}", "text": template.format(**user), "category": fact} for i, (fact, template) in enumerate(posts, 1)]


def _aspect(fact: str, user: dict, profile: list[dict]) -> dict:
    evidence = next(item["text"] for item in profile if item["category"] == fact)
    if fact == "city":
        return {"aspect": f"Fits the asker's city, {user['city']}", "reason": f"They live in {user['city']}, so the suggestions should be there.",
                "evidence": evidence, "accept": [user["city"]]}
    if fact == "pet":
        return {"aspect": f"Mentions the asker's {user['species']}, {user['pet']}", "reason": f"Their {user['species']} {user['pet']} is part of the plan.",
                "evidence": evidence, "accept": [user["pet"]]}
    if fact == "units":
        return {"aspect": f"Uses {user['units']} units", "reason": f"They measure in {user['units']} units, so amounts should be given in them.",
                "evidence": evidence, "accept": list(UNITS[user["units"]]["accept"])}
    return {"aspect": f"Respects the asker's {user['diet']} diet", "reason": f"They eat {user['diet']}, so the food must be {user['diet']}.",
            "evidence": evidence, "accept": list(DIETS[user["diet"]])}


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


def _split(rng: random.Random, spec, split: str, users: int) -> list[dict]:
    records = []
    for u in range(1, users + 1):
        user, uid = _user(rng), f"planted-{split}-u{u:03d}"
        profile = _profile(rng, user, uid, spec.filler_posts)
        for q, (facts, phrasings, answer) in enumerate(rng.sample(QUESTIONS, spec.questions_per_user), 1):
            records.append({
                "id": f"{uid}-q{q}", "user_id": uid, "question": rng.choice(phrasings), "profile": profile,
                "narrative": _narrative(facts, user), "rubric_aspects": [_aspect(f, user, profile) for f in facts],
                "reference": answer.format(**user),
            })
    return records


def generate(spec) -> dict[str, list[dict]]:
    """The three splits' records (``spec``: a ``PlantedSpec``); users are drawn per split, so
    no user is in two splits, though their cities and pets may repeat across splits."""
    rng = random.Random(spec.seed)
    return {split: _split(rng, spec, split, users) for split, users in
            (("train", spec.train_users), ("validation", spec.validation_users), ("test", spec.test_users))}
