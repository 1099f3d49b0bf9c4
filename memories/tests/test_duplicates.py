"""Deduplication never loses a memory: only text equal after normalisation folds (when saved),
similar text is linked, and an id merged away by earlier versions still answers."""

import random
import string
import unicodedata

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from memories import services
from memories.models import HistoryEvent, IndexStatus, Memory, MemoryHistory, UserVectorIndex
from memories.search.vectors import vector_index_forget
from memories.services import MemoryDraft
from providers.embeddings import get_embedder

pytestmark = pytest.mark.django_db
MEMORIES = "/api/v1/memories"

# Pairs that sentence embeddings put close together although they say different things.
DIFFERENT_FACTS = [
    pytest.param("I am allergic to penicillin", "I am not allergic to penicillin", id="negation"),
    pytest.param(
        "Meeting with Anna 2026-03-04 10:00", "Meeting with Anna 2026-05-09 15:30", id="date"
    ),
    pytest.param("My PIN length is 15 digits", "My PIN length is 1.5 digits", id="number"),
    pytest.param("Dinner with Anna on Friday", "Dinner with Hanna on Friday", id="name"),
]


@pytest.fixture
def similar_is_near(settings):
    # The hashing embedder of the tests scores these pairs lower than a sentence model does;
    # a low threshold makes every pair "near", as the local model made them in production.
    settings.MEMORY_DEDUP_THRESHOLD = 0.3


@pytest.mark.parametrize(("first", "second"), DIFFERENT_FACTS)
def test_different_facts_that_embed_alike_are_kept_and_linked(
    auth_client, user, embed_now, similar_is_near, first, second
):
    kept = auth_client.post(MEMORIES, {"content": first}).json()
    embed_now(Memory.objects.get(pk=kept["id"]))
    answer = auth_client.post(MEMORIES, {"content": second})
    assert (answer.status_code, answer.json()["folded"]) == (201, False)

    embed_now(Memory.objects.get(pk=answer.json()["id"]))

    later = auth_client.get(f"{MEMORIES}/{answer.json()['id']}")
    assert later.status_code == 200
    assert later.json()["content"] == second
    assert later.json()["near_duplicate_of"] == kept["id"]
    assert auth_client.get(f"{MEMORIES}/{kept['id']}").json()["content"] == first
    assert not MemoryHistory.objects.filter(event=HistoryEvent.MERGE).exists()


def test_500_distinct_templated_notes_all_survive(auth_client, user, similar_is_near):
    notes = [
        {"content": f"Bulk note {n}: I spent time on chess today, session number {n}."}
        for n in range(500)
    ]
    answer = auth_client.post(f"{MEMORIES}/bulk", {"memories": notes}, format="json").json()
    assert (answer["created"], answer["duplicates"], answer["folded_into"]) == (500, 0, [])

    ids = [item["id"] for item in answer["results"]]
    # All 500 go through the linking that once merged them away (about 2 minutes on a busy
    # 2-core machine: each first embedding searches the user's vectors for a near duplicate).
    services.memories_embed(memory_ids=ids)

    listed, cursor = {}, ""
    while cursor is not None:
        page = auth_client.get(f"{MEMORIES}?limit=100&cursor={cursor}").json()
        listed |= {item["id"]: item["near_duplicate_of"] for item in page["results"]}
        cursor = page["next_cursor"]
    # Every note still answers, and at this threshold each is "near" another one: linked is
    # all that happens to them (the first one embedded may be linked to a later one).
    assert sorted(listed) == sorted(ids)
    assert sum(near is not None for near in listed.values()) >= 499


@pytest.mark.parametrize(
    "again",
    ["I like green tea", "  i LIKE green \n tea ", "I LIKE GREEN TEA", "\uff49 like green\ttea"],
)
def test_an_exact_repost_folds_and_says_so(auth_client, user, again):
    first = auth_client.post(MEMORIES, {"content": "I like green tea"}).json()

    answer = auth_client.post(MEMORIES, {"content": again})

    assert answer.status_code == 200
    assert (answer.json()["id"], answer.json()["folded"]) == (first["id"], True)
    assert first["folded"] is False
    assert Memory.objects.filter(user=user).count() == 1


def test_bulk_and_import_say_how_many_folded_and_into_what(auth_client, user):
    stored = auth_client.post(MEMORIES, {"content": "Paris is the capital of France."}).json()
    bulk = auth_client.post(
        f"{MEMORIES}/bulk",
        {
            "memories": [
                {"content": "paris is the capital of france."},
                {"content": "Rome is the capital of Italy."},
                {"content": "ROME  is the capital of Italy."},
            ]
        },
        format="json",
    ).json()
    rome = bulk["results"][1]["id"]
    assert (bulk["created"], bulk["duplicates"]) == (1, 2)
    assert bulk["folded_into"] == [stored["id"], rome]

    imported = auth_client.post(
        f"{MEMORIES}/import",
        b'{"content": "PARIS is the capital of France."}\n{"content": "Oslo is in Norway."}\n',
        content_type="application/x-ndjson",
    ).json()
    assert imported == {"created": 1, "duplicates": 1, "folded_into": [stored["id"]]}


@pytest.mark.parametrize(
    ("a", "b"),
    [("1.5", "15"), ("-3 degrees", "3 degrees"), ("at 15:30", "at 1530"), ("a b", "ab")],
)
def test_normalisation_keeps_numbers_dates_and_words_apart(a, b):
    assert services.content_hash(a) != services.content_hash(b)


# Texts that differ in a character that carries meaning, once folded as one memory.
MEANINGFUL_CHARACTERS = [
    ("I program in C", "I program in C#"),
    ("I program in F", "I program in F#"),
    ("see example.com/a/b", "see example.com/a-b"),
    ("run it with --force", "run it with force"),
    ("the foo_bar setting", "the foo bar setting"),
    ("ask @alice", "ask alice"),
]


@pytest.mark.parametrize(("first", "second"), MEANINGFUL_CHARACTERS)
def test_a_note_that_differs_in_a_meaningful_character_is_saved(auth_client, user, first, second):
    kept = auth_client.post(MEMORIES, {"content": first}).json()

    answer = auth_client.post(MEMORIES, {"content": second})

    assert answer.status_code == 201
    assert answer.json()["folded"] is False
    assert answer.json()["content"] == second
    assert auth_client.get(f"{MEMORIES}/{kept['id']}").json()["content"] == first


# Characters a text is made of in the generated pairs: ASCII letters, digits, punctuation and
# symbols, and some beyond ASCII; each one its own NFKC form and case-folded to one character,
# so that a pair differing in one of them says something different.
ALPHABET = [
    char
    for char in string.ascii_letters + string.digits + string.punctuation + "éüßñøπж中€—\u2019…"
    if unicodedata.normalize("NFKC", char) == char and len(char.casefold()) == 1
]
SPACES = [" ", "  ", "\t", "\n", "\u00a0"]


def _generated_text(rng: random.Random) -> list[str]:
    return [
        rng.choice(SPACES) if rng.random() < 0.2 else rng.choice(ALPHABET)
        for _ in range(rng.randint(1, 24))
    ]


def _differing_pair(rng: random.Random) -> tuple[str, str]:
    """Two texts that differ in one non-space character other than its case: one replaced,
    added or left out; the spacing and case of the rest may differ too."""
    chars = _generated_text(rng)
    changed = list(chars)
    where = rng.randrange(len(chars) + 1)
    edit = rng.choice(["replace", "add", "remove"])
    if edit == "add" or where == len(chars) or chars[where] in SPACES:
        changed.insert(where, rng.choice(ALPHABET))
    elif edit == "remove":
        del changed[where]
    else:
        other = chars[where]
        while other.casefold() == chars[where].casefold():
            other = rng.choice(ALPHABET)
        changed[where] = other
    restyled = [
        rng.choice(SPACES) if char in SPACES else rng.choice([char.upper(), char.lower()])
        for char in changed
    ]
    return "".join(chars), "".join(restyled)


def test_texts_that_differ_in_a_non_space_character_never_fold():
    rng = random.Random(33)
    for _ in range(20_000):
        first, second = _differing_pair(rng)
        assert services.content_hash(first) != services.content_hash(second), (first, second)


def test_texts_that_differ_only_in_case_and_spacing_fold():
    rng = random.Random(34)
    for _ in range(2_000):
        chars = _generated_text(rng)
        restyled = [
            rng.choice(SPACES) if char in SPACES else rng.choice([char.upper(), char.lower()])
            for char in chars
        ]
        padded = rng.choice(SPACES) + "".join(restyled) + rng.choice(SPACES)
        assert services.content_hash("".join(chars)) == services.content_hash(padded)


def _merged_away(user) -> tuple[Memory, Memory]:
    """A memory folded into another as earlier versions did: a merge entry on each, one deleted."""
    survivor, _ = services.memory_create(user=user, draft=MemoryDraft(content="I like tea"))
    folded, _ = services.memory_create(
        user=user, draft=MemoryDraft(content="I enjoy tea", tags=["drinks"])
    )
    MemoryHistory.objects.create(
        memory_id=survivor.pk,
        user=user,
        event=HistoryEvent.MERGE,
        old_content=survivor.content,
        new_content=survivor.content,
        related_memory_id=folded.pk,
    )
    MemoryHistory.objects.create(
        memory_id=folded.pk,
        user=user,
        event=HistoryEvent.MERGE,
        old_content=folded.content,
        related_memory_id=survivor.pk,
        snapshot={
            **{name: getattr(folded, name) for name in services.drafts.SNAPSHOT_FIELDS},
            "created_at": folded.created_at.isoformat(),
        },
    )
    Memory.objects.filter(pk=folded.pk).delete()  # the instance keeps its id for the test
    return survivor, folded


def test_a_merged_away_id_answers_with_the_survivor_and_a_revert_brings_it_back(
    auth_client, other_client, user
):
    survivor, folded = _merged_away(user)

    answer = auth_client.get(f"{MEMORIES}/{folded.pk}")
    history = auth_client.get(f"{MEMORIES}/{folded.pk}/history").json()["results"]

    assert answer.status_code == 200
    assert (answer.json()["id"], answer.json()["merged_into"]) == (str(survivor.pk),) * 2
    assert auth_client.get(f"{MEMORIES}/{survivor.pk}").json()["merged_into"] is None
    assert [(e["event"], e["related_memory_id"]) for e in history] == [
        ("create", None),
        ("merge", str(survivor.pk)),
    ]
    assert other_client.get(f"{MEMORIES}/{folded.pk}").status_code == 404
    assert auth_client.patch(f"{MEMORIES}/{folded.pk}", {"title": "x"}).status_code == 404

    reverted = auth_client.post(
        f"{MEMORIES}/{folded.pk}/revert", {"history_id": history[0]["id"]}, format="json"
    )

    assert reverted.status_code == 200
    back = auth_client.get(f"{MEMORIES}/{folded.pk}").json()
    assert (back["id"], back["content"], back["tags"], back["merged_into"]) == (
        str(folded.pk),
        "I enjoy tea",
        ["drinks"],
        None,
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param({}, {"agent_id": "other-agent"}, id="another scope"),
        pytest.param({"prompt": "I like green tea"}, {"prompt": "I like black tea"}, id="pending"),
    ],
)
def test_what_is_not_in_reach_is_not_linked(user, embed_now, similar_is_near, first, second):
    a, _ = services.memory_create(
        user=user, draft=MemoryDraft(**({"content": "I like green tea"} | first))
    )
    embed_now(a)
    b, _ = services.memory_create(
        user=user, draft=MemoryDraft(**({"content": "I like black tea"} | second))
    )

    embed_now(b)

    assert b.near_duplicate_of_id is None


def test_another_users_memory_is_never_linked(user, other_user, embed_now, similar_is_near):
    theirs, _ = services.memory_create(user=other_user, draft=MemoryDraft(content="I like tea"))
    embed_now(theirs)
    mine, _ = services.memory_create(user=user, draft=MemoryDraft(content="I like tea a lot"))

    embed_now(mine)

    assert mine.near_duplicate_of_id is None


def test_linking_can_be_turned_off(user, embed_now, settings):
    settings.MEMORY_DEDUP_THRESHOLD = 1.01
    a, _ = services.memory_create(user=user, draft=MemoryDraft(content="I like green tea"))
    b, _ = services.memory_create(user=user, draft=MemoryDraft(content="I like green tea a lot"))

    embed_now(a, b)

    assert (a.near_duplicate_of_id, b.near_duplicate_of_id) == (None, None)


@pytest.mark.django_db(transaction=True)
def test_a_user_with_their_own_index_gets_links_through_it(user, settings, similar_is_near):
    settings.MEMORY_HNSW_USER_THRESHOLD = 20
    first = [MemoryDraft(content=f"Chess opening number {n} studied today") for n in range(30)]
    services.memories_bulk_create(user=user, drafts=first)  # embedded, then indexed
    assert UserVectorIndex.objects.get(user=user).status == IndexStatus.READY
    vector_index_forget(user_id=user.pk, model=get_embedder().name)

    with CaptureQueriesContext(connection) as queries:  # the embedding task runs inline
        (later,) = services.memories_bulk_create(
            user=user, drafts=[MemoryDraft(content="Chess opening number 7 studied again")]
        )

    later.memory.refresh_from_db()
    assert later.memory.near_duplicate_of_id is not None
    assert any("ORDER BY c.embedding::vector(" in q["sql"] for q in queries)
