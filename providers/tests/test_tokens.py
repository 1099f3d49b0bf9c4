"""Token counts: exact for OpenAI models from the bundled tables, estimated for the others."""

import pytest
import tiktoken.load

from providers.llm import tokens

# The example from OpenAI's cookbook "How to count tokens with tiktoken", whose counts match
# what the API reports: 129 prompt tokens for gpt-4 and gpt-3.5-turbo, 124 for gpt-4o.
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate "
        "jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities "
        "for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client "
        "deliverable.",
    },
]


@pytest.mark.parametrize(
    ("model", "expected"),
    [("gpt-4", 129), ("gpt-3.5-turbo", 129), ("gpt-4o", 124), ("gpt-4o-mini", 124)],
)
def test_message_counts_match_openais(model, expected):
    assert tokens.count_message_tokens(COOKBOOK_MESSAGES, model) == expected


def test_the_tables_are_the_published_ones_and_never_downloaded(monkeypatch):
    def no_download(*args, **kwargs):
        raise AssertionError("tiktoken tried to fetch its tables")

    monkeypatch.setattr(tiktoken.load, "read_file", no_download)
    tokens.get_encoding.cache_clear()

    assert tokens.get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert tokens.get_encoding("o200k_base").encode("hello world") == [24912, 2375]


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("openai/gpt-4o-mini", "o200k_base"),  # OpenRouter's name
        ("gpt-oss-20b", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("claude-sonnet-4-5", None),
        ("llama3.1:8b", None),
    ],
)
def test_openai_models_are_counted_exactly_and_others_estimated(model, encoding):
    assert tokens.encoding_name_for(model) == encoding
    assert tokens.is_exact(model) == (encoding is not None)


def test_the_estimate_leaves_room_over_cl100k():
    text = "The quick brown fox jumps over the lazy dog. " * 20
    exact = len(tokens.get_encoding("cl100k_base").encode(text))

    estimate = tokens.count_tokens(text, "claude-haiku-4-5")

    assert estimate == -(-exact * 6 // 5)  # ceil(exact x 1.2)


def test_special_token_text_is_counted_as_text():
    assert tokens.count_tokens("<|endoftext|>", "gpt-4o") > 1


def test_content_parts_and_tool_calls_are_counted():
    parts = [{"role": "user", "content": [{"type": "text", "text": "hello world"}]}]
    plain = [{"role": "user", "content": "hello world"}]
    call = [
        {"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]}
    ]

    assert tokens.count_message_tokens(parts, "gpt-4o") == tokens.count_message_tokens(
        plain, "gpt-4o"
    )
    assert tokens.count_message_tokens(call, "gpt-4o") > tokens.count_message_tokens([], "gpt-4o")
    assert tokens.count_tokens("", "gpt-4o") == 0
