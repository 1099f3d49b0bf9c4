import pytest

from memories.chunking import chunk_spans
from providers.embeddings.hashing import HashingEmbedder


def spans_of(text: str) -> list[tuple[int, int]]:
    return HashingEmbedder(dimensions=8).token_spans(text)


def test_short_text_is_one_chunk_covering_everything():
    text = "  a short note  "

    assert chunk_spans(spans_of(text), len(text), max_tokens=10, overlap=2) == [(0, len(text))]


def test_long_text_is_cut_on_token_boundaries_with_overlap():
    words = [f"w{i}" for i in range(25)]
    text = " ".join(words)

    chunks = chunk_spans(spans_of(text), len(text), max_tokens=10, overlap=3)

    pieces = [text[start:end].split() for start, end in chunks]
    assert pieces[0] == words[0:10]
    assert pieces[1] == words[7:17]
    assert pieces[2] == words[14:24]
    assert pieces[3] == words[21:25]
    assert chunks[-1][1] == len(text)
    assert all(len(piece) <= 10 for piece in pieces)


def test_bad_window_is_refused():
    with pytest.raises(ValueError):
        chunk_spans([], 0, max_tokens=4, overlap=4)
