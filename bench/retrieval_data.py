"""A conversational-memory retrieval set, written for Engram and generated deterministically.

Each conversation is one user's memories: two friends chatting over many sessions, every turn a
memory that starts with who said it ("Maya: ..."), as memories captured from a chat read. Each
speaker tells about a dozen facts (a tattoo, a pet, a trip, a new job, ...), each with a rare
word of its own (a city, a pet's name, a project's code name); the other speaker mentions the
same topics without the facts (near misses); most turns are small talk that names both people.

Questions with known evidence, four types (issue 18):
- ``wrong_person``: asks about a fact naming the other speaker ("Why did Leo choose an otter
  for the tattoo?" when Maya has the tattoo): the name pulls the embedding to the wrong turns.
- ``spread``: needs two of one speaker's facts, its words spread over both memories.
- ``paraphrase``: says the fact in other words (no shared word but the name).
- ``rare_word``: names the fact's rare word and little else.
Off-topic questions (``unrelated``) have no evidence: they calibrate the relevance floor.
"""

import random
from dataclasses import dataclass, field

NAMES = [
    "Maya", "Leo", "Priya", "Tom", "Aisha", "Jonas", "Elena", "Marcus", "Sofia", "Daniel",
    "Hana", "Oscar", "Nadia", "Felix", "Grace", "Ivan",
]  # fmt: skip

# kind -> (fact, near miss said by the other speaker, paraphrase question, rare-word question,
# wrong-person question, slot values). {s}: the speaker; {o}: the other one; {x}: the rare word.
FACTS: dict[str, tuple[str, str, str, str, str, list[str]]] = {
    "tattoo": (
        "I finally got a tattoo of a {x} on my forearm, it reminds me of my grandmother.",
        "I keep thinking about getting a tattoo one day, but needles scare me.",
        "What design did {s} have inked into the skin?",
        "Who mentioned the {x}?",
        "Why did {o} choose a {x} for the tattoo?",
        ["otter", "lighthouse", "hummingbird", "compass", "octopus", "fern", "sparrow", "anchor",
         "hedgehog", "moth", "lotus", "whale"],
    ),
    "pet": (
        "We adopted a rescue greyhound and named her {x}, she sleeps all day.",
        "Our neighbours have a dog that barks every morning at six.",
        "What is the name of the animal {s}'s household took in from a shelter?",
        "Who is {x}?",
        "What did {o} call the greyhound?",
        ["Biscuit", "Pepper", "Mochi", "Juniper", "Waffles", "Clementine", "Noodle", "Pistachio",
         "Gizmo", "Marzipan", "Tofu", "Sprocket"],
    ),
    "trip": (
        "Just got back from {x}, the street food there was unbelievable.",
        "I need a vacation so badly, work has been crazy.",
        "Where did {s} travel recently and enjoy eating from stalls?",
        "What happened in {x}?",
        "What did {o} eat in {x}?",
        ["Lisbon", "Hanoi", "Oaxaca", "Marrakech", "Tbilisi", "Penang", "Palermo", "Kyoto",
         "Cartagena", "Istanbul", "Valparaiso", "Zanzibar"],
    ),
    "job": (
        "I accepted the offer to work as a {x} at the hospital downtown.",
        "My job is fine, nothing new to report really.",
        "What new position did {s} take at the medical centre?",
        "Who works as a {x}?",
        "Where will {o} work as a {x}?",
        ["radiographer", "pharmacist", "phlebotomist", "paramedic", "sonographer", "dietitian",
         "audiologist", "orthoptist", "perfusionist", "midwife", "chaplain", "podiatrist"],
    ),
    "instrument": (
        "I've started learning the {x} on Sunday mornings with a retired teacher.",
        "I used to play music in school but I gave it up.",
        "Which musical instrument has {s} been practising at the weekend?",
        "Who plays the {x}?",
        "How long has {o} been taking {x} lessons?",
        ["cello", "banjo", "accordion", "harp", "oboe", "mandolin", "bassoon", "ukulele",
         "sitar", "theremin", "clarinet", "didgeridoo"],
    ),
    "allergy": (
        "The doctor told me I'm allergic to {x}, so no more of that for me.",
        "I had a check-up last week, everything looked normal.",
        "Which food must {s} avoid now according to the physician?",
        "Is anyone allergic to {x}?",
        "Since when is {o} allergic to {x}?",
        ["sesame", "shellfish", "kiwi", "mustard", "lupin", "celery", "buckwheat", "mango",
         "cashews", "avocado", "chickpeas", "strawberries"],
    ),
    "project": (
        "At work we're migrating everything to the {x} platform, it's a huge project.",
        "Work has been busy, lots of meetings and emails this week.",
        "What system is {s}'s company moving its software onto?",
        "What is {x}?",
        "Why is {o}'s team moving to {x}?",
        ["Zephyrine", "Quokka", "Halcyon", "Borealis", "Tessellate", "Cobaltine", "Meridian",
         "Vortexa", "Lumenfold", "Arcadia", "Nimbulus", "Obsidia"],
    ),
    "sport": (
        "Our {x} team won the regional final on Saturday, I scored twice!",
        "I watched a bit of sport on TV over the weekend.",
        "Which game did {s}'s side win a championship match in?",
        "Who plays {x}?",
        "How many goals did {o} score in the {x} final?",
        ["hurling", "netball", "lacrosse", "curling", "korfball", "handball", "water polo",
         "futsal", "rugby", "hockey", "volleyball", "ultimate frisbee"],
    ),
    "garden": (
        "My {x} finally bloomed after three years of waiting.",
        "I should really water the plants on the balcony more often.",
        "Which flower in {s}'s garden opened at last?",
        "What about the {x}?",
        "How long did {o} wait for the {x} to flower?",
        ["wisteria", "agapanthus", "camellia", "peony", "magnolia", "clematis", "hellebore",
         "bougainvillea", "gardenia", "protea", "frangipani", "jasmine"],
    ),
    "car": (
        "I sold the old hatchback and bought a used {x}, it drives like a dream.",
        "Traffic was terrible today, it took an hour to get home.",
        "What vehicle did {s} purchase second-hand?",
        "Who bought the {x}?",
        "Why did {o} buy a {x}?",
        ["Volvo", "Subaru", "Skoda", "Citroen", "Mazda", "Peugeot", "Fiat", "Saab", "Lancia",
         "Dacia", "Alfa", "Renault"],
    ),
    "book": (
        "I'm halfway through a novel about {x}, I can't put it down.",
        "I haven't had time to read anything lately.",
        "What is the story {s} is reading about?",
        "Who is reading about {x}?",
        "What does {o} think of the book about {x}?",
        ["lighthouse keepers", "glassblowers", "cartographers", "beekeepers", "falconers",
         "clockmakers", "shipwrights", "perfumers", "astronomers", "puppeteers",
         "tightrope walkers", "cheesemakers"],
    ),
    "volunteer": (
        "I volunteer at the {x} every other Wednesday now.",
        "I've been meaning to do some charity work but never find the time.",
        "Where does {s} help out for free twice a month?",
        "Who goes to the {x}?",
        "What does {o} do at the {x}?",
        ["food bank", "animal sanctuary", "hospice", "soup kitchen", "library", "refugee centre",
         "community garden", "museum", "youth club", "repair cafe", "planetarium", "aquarium"],
    ),
}  # fmt: skip

# Two facts of one speaker, asked about together (words of each in the question).
SPREAD = [
    ("trip", "tattoo", "Did {s} get the {x2} tattoo before or after the trip to {x1}?"),
    ("pet", "garden", "Does {x1} dig up the {x2} in {s}'s garden?"),
    ("job", "car", "Does {s} drive the {x2} to the hospital to work as a {x1}?"),
    ("instrument", "book", "Does {s} play the {x1} while reading the novel about {x2}?"),
    ("project", "sport", "Does the {x1} project leave {s} time to play {x2}?"),
    ("allergy", "volunteer", "Can {s} avoid {x1} while working at the {x2}?"),
]

SMALL_TALK = [
    "Hey {o}, how was your day?",
    "Haha {o}, that's so funny, you always make me laugh.",
    "Good morning {o}! Did you sleep well?",
    "I'm so tired today, {o}, work was exhausting.",
    "Thanks {o}, that means a lot to me.",
    "Sounds great {o}, let's catch up this weekend.",
    "Oh no, {o}, I hope everything is okay.",
    "I totally agree with you {o}.",
    "What are you up to this weekend, {o}?",
    "It's been raining all day here, {o}.",
    "I made pasta for dinner tonight, nothing special.",
    "Did you watch the game last night, {o}?",
    "I can't believe it's already the end of the month.",
    "Let me know when you're free to talk, {o}.",
    "That's amazing news, {o}, congratulations!",
    "I'm going to bed early tonight, talk tomorrow {o}.",
    "My phone battery died again, sorry for the late reply {o}.",
    "We should plan a trip together sometime, {o}.",
    "Coffee this afternoon, {o}?",
    "I spent the whole day cleaning the apartment.",
    "How is your family doing, {o}?",
    "The new cafe near my place has great cake.",
    "I'm trying to drink more water and sleep more.",
    "Long week, {o}. So glad it's Friday.",
]

OPENERS = ["", "Haha, ", "Oh, ", "Honestly, ", "Well, ", "Yeah, ", "Hmm, "]
CLOSERS = ["", " What about you?", " Talk soon!", " :)", " Anyway.", " Ugh."]

UNRELATED = [
    "How do I reset the BIOS password on a laptop?",
    "What is the capital of Australia?",
    "Explain the difference between TCP and UDP.",
    "How many moons does Jupiter have?",
    "What is a good recipe for sourdough starter?",
    "How do I configure a VPN on a router?",
    "Who wrote the theory of general relativity?",
    "What is the boiling point of nitrogen?",
    "How do I fix a leaking kitchen tap?",
    "What are the rules of cricket?",
    "How does compound interest work on a mortgage?",
    "What is the best way to learn Rust programming?",
    "How tall is Mount Kilimanjaro?",
    "What causes the northern lights?",
    "How do I unclog a bathroom drain?",
    "What is the population of Canada?",
    "How do vaccines train the immune system?",
    "What is the syntax of a SQL window function?",
    "How do I change a bicycle tyre?",
    "Why is the sky blue?",
]


@dataclass
class Question:
    text: str
    kind: str  # wrong_person, spread, paraphrase, rare_word, unrelated
    evidence: list[int] = field(default_factory=list)  # indexes into the conversation's turns


@dataclass
class Conversation:
    speakers: tuple[str, str]
    turns: list[str]
    questions: list[Question]


def conversation(seed: int, turns: int = 400) -> Conversation:
    """One user's memories and questions, the same for the same seed."""
    rng = random.Random(seed)
    first, second = rng.sample(NAMES, 2)
    lines: list[tuple[str, str | None, str | None]] = []  # (text, speaker of a fact, its kind)
    facts: dict[tuple[str, str], str] = {}  # (speaker, kind) -> rare word
    for speaker in (first, second):
        for kind, (fact, *_, values) in FACTS.items():
            taken = {value for (_, k), value in facts.items() if k == kind}
            value = rng.choice([v for v in values if v not in taken])
            facts[(speaker, kind)] = value
            lines.append((f"{speaker}: {fact.format(x=value)}", speaker, kind))
    for speaker in (first, second):
        for _, near, *_rest in FACTS.values():
            lines.append((f"{speaker}: {near}", None, None))
    said = {text for text, _, _ in lines}
    while len(lines) < turns:  # small talk, each line once (a memory is stored once)
        speaker, other = rng.sample([first, second], 2)
        talk = rng.choice(OPENERS) + rng.choice(SMALL_TALK).format(o=other) + rng.choice(CLOSERS)
        text = f"{speaker}: {talk}"
        if text not in said:
            said.add(text)
            lines.append((text, None, None))
    rng.shuffle(lines)
    where = {(speaker, kind): i for i, (_, speaker, kind) in enumerate(lines) if speaker}

    questions = []
    for (speaker, kind), value in sorted(facts.items()):
        other = second if speaker == first else first
        _, _, paraphrase, rare, wrong, _ = FACTS[kind]
        evidence = [where[(speaker, kind)]]
        questions.append(Question(paraphrase.format(s=speaker), "paraphrase", evidence))
        questions.append(Question(rare.format(x=value), "rare_word", evidence))
        questions.append(Question(wrong.format(o=other, x=value), "wrong_person", evidence))
    for speaker in (first, second):
        for kind1, kind2, template in SPREAD:
            text = template.format(
                s=speaker, x1=facts[(speaker, kind1)], x2=facts[(speaker, kind2)]
            )
            evidence = [where[(speaker, kind1)], where[(speaker, kind2)]]
            questions.append(Question(text, "spread", evidence))
    for text in rng.sample(UNRELATED, 5):
        questions.append(Question(text, "unrelated"))
    return Conversation((first, second), [text for text, _, _ in lines], questions)
