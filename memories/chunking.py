"""Token-aware splitting of long content into overlapping chunks.

Chunks are character spans of the content, cut on token boundaries as the embedder counts them,
so each chunk fits the model's window and neighbouring chunks share ``overlap`` tokens (a fact
that straddles a cut is whole in at least one chunk).
"""


def chunk_spans(
    token_spans: list[tuple[int, int]], text_length: int, *, max_tokens: int, overlap: int
) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the chunks of a text whose tokens are ``token_spans``.

    Text that fits in ``max_tokens`` is one chunk covering all of it; otherwise windows of
    ``max_tokens`` tokens start every ``max_tokens - overlap`` tokens, the last one reaching the
    end of the text.
    """
    if max_tokens < 1 or not 0 <= overlap < max_tokens:
        raise ValueError("need max_tokens >= 1 and 0 <= overlap < max_tokens")
    if len(token_spans) <= max_tokens:
        return [(0, text_length)]
    step = max_tokens - overlap
    spans: list[tuple[int, int]] = []
    first = 0
    while True:
        last = min(first + max_tokens, len(token_spans)) - 1
        start = 0 if first == 0 else token_spans[first][0]
        end = text_length if last == len(token_spans) - 1 else token_spans[last][1]
        spans.append((start, end))
        if last == len(token_spans) - 1:
            return spans
        first += step
