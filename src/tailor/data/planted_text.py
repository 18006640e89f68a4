"""The planted-preference task's texts (data v2): the posts that state each fact, directly
or indirectly, the unrelated posts, and the question templates with their gold answers.

A fact post shares words with every question that needs its fact (the city post speaks of
weekends, walks and eating out; the units post of runs, hikes and cold mornings), so BM25
finds it among more unrelated posts than a retriever's k reads. Placeholders are filled
from a user of tailor.data.planted: ``{city}``, ``{pet}``, ``{species}``, ``{diet}``, the
amounts of their units (``{distance}``, ``{weight}``, ``{cold}``, bare ``{frost}`` and
``{speed}``), ``{landmark}``, ``{hashtag}`` and ``{abstain}``."""

from typing import NamedTuple


class Question(NamedTuple):
    facts: tuple[str, ...]  # the kinds of fact it needs
    phrasings: tuple[str, ...]  # naming none of them
    answer: str  # the gold answer: every needed fact, no other


FACT_POSTS = {
    "city": (
        "Love a free weekend day at home in {city}: a long walk, then out to eat with friends.",
        "On a free Saturday in {city} I take visitors out to eat close to home, or on a long walk with friends.",
    ),
    "pet": (
        "{pet}, my {species}, gets bored at home while I work, so a long weekend walk or outing keeps my pet busy.",
        "Took {pet} to the vet today, my {species} is a healthy, spoiled pet who gets bored by day and wants a weekend walk.",
    ),
    "units": (
        "Ran {distance} on a cold winter morning, my longest training run before the race, then packed {weight} of food for a weekend hike.",
        "Packed {weight} of food for a two day camping trip, and on the cold morning I still ran {distance}, my usual weekend training run.",
    ),
    "diet": (
        "Being {diet} makes eating out with friends tricky, so I cook a quick, easy dinner most nights and plan my meals for the week.",
        "Found a great {diet} cookbook: quick dinner ideas, food to pack for a hike, and easy meals to make when friends come to eat.",
    ),
}
# The same posts with the fact left for the reader to infer: reciting one states nothing.
INDIRECT_POSTS = {
    "city": (
        "Love a free weekend day at home near {landmark}: a long walk, then out to eat with friends.",
        "On a free Saturday I take visitors past {landmark}, close to home, then out to eat or on a long walk with friends.",
    ),
    "pet": (
        "My {species} gets bored at home while I work, so a long weekend walk or outing keeps my pet busy. {hashtag}",
        "Took my {species} to the vet today, a healthy, spoiled pet who gets bored by day and wants a weekend walk. {hashtag}",
    ),
    "units": (
        "It was {frost} degrees on my cold winter morning run, my longest training run before the race, and every puddle froze.",
        "Drove at {speed} the whole way to a weekend camping trip, packed food for a two day hike, and the morning was {frost} degrees.",
    ),
    "diet": (
        "I eat {abstain}, which makes eating out with friends tricky, so I cook a quick, easy dinner most nights and plan my meals.",
        "Cooking for myself means {abstain}: quick dinner ideas, food to pack for a hike, and easy meals to make when friends come to eat.",
    ),
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
    "Spent the whole morning sorting old photos from my childhood.",
    "My friends talked me into joining a pub quiz team and we came last.",
    "The new phone arrived today and I already miss the old one.",
    "Rearranged the bookshelves by colour instead of by author.",
    "Our team at work finally shipped the project we started last year.",
    "Called my grandmother for an hour, she tells the best stories.",
    "Bought a secondhand record player and a stack of old jazz albums.",
    "Tried to fix the leaking tap myself and only made it worse.",
)

QUESTIONS = (
    Question(("city",), ("What is a good way to spend a free Saturday close to home?", "Any ideas for a day out this weekend without travelling far?"),
             "Stay local and explore {city}: start at a market in {city}, walk one of its parks, and end with a view over the city at sunset."),
    Question(("city", "pet"), ("I want a long weekend walk and to bring my pet along. Where should we go?", "Where can I take my pet for a nice outing this weekend?"),
             "Take {pet} to one of the big parks in {city}: go early while it is quiet, bring water for {pet}, and finish at a pet-friendly cafe in {city}."),
    Question(("diet",), ("What should I cook for a quick weeknight dinner?", "Can you suggest an easy dinner I can make in under thirty minutes?"),
             "Make a {diet} stir-fry: fry vegetables and rice with garlic and ginger; it is quick, filling and fully {diet}."),
    Question(("city", "diet"), ("Where should I take my friends out for dinner?", "I'm hosting visitors next week. Where should we eat out?"),
             "Book a {diet} restaurant in {city}: {city} has several, and a {diet} menu means you can share every dish."),
    Question(("units",), ("How far should my training runs be to prepare for my first race?", "How long should my weekend run be when I'm starting out?"),
             "Build up slowly: run about {distance} twice a week, and add a little each week until {distance} feels easy."),
    Question(("units", "diet"), ("What food should I pack for a two-day hike?", "How should I plan meals for a weekend camping trip?"),
             "Pack about {weight} of {diet} food: oats, nuts, dried fruit and {diet} wraps keep well and are light to carry."),
    Question(("pet",), ("How can I keep my pet busy while I work from home?", "My pet gets bored during the day. What can I do?"),
             "Give {pet} a puzzle feeder and a few short play breaks; {pet} will be calmer if your {species} gets attention every couple of hours."),
    Question(("units",), ("What should I wear for a run on a cold morning?", "How do I dress for a winter run outdoors?"),
             "Below {cold}, wear a thin base layer, gloves and a hat; above {cold}, a long-sleeved shirt is usually enough."),
)
