"""The embedders: the real local model, the OpenAI-compatible client against a fake server on
loopback, and the hashing embedder."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from providers.embeddings import (
    EmbeddingRejected,
    EmbeddingUnavailable,
    build_embedder,
    get_embedder,
)
from providers.embeddings import local as local_module
from providers.embeddings.hashing import HashingEmbedder


@pytest.fixture(scope="module")
def local_embedder():
    return build_embedder("local", dimensions=384)


def test_local_model_loads_from_installed_files_and_embeds(local_embedder):
    vectors = local_embedder.embed(["The cat sat on the mat.", "Un chat est assis."])

    assert vectors.shape == (2, 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert local_embedder.name == "local:all-MiniLM-L6-v2-int8"


def test_local_model_ranks_by_meaning(local_embedder):
    memories = [
        "I wrote a Python script that parses CSV files with pandas.",
        "My grandmother's lasagna recipe uses fresh spinach and ricotta.",
        "We booked a hotel in Lisbon for the first week of May.",
    ]
    vectors = local_embedder.embed(memories)
    query = local_embedder.embed(["Python code"])[0]

    similarities = vectors @ query

    assert int(np.argmax(similarities)) == 0
    assert similarities[0] > similarities[1] + 0.2


def test_local_vector_does_not_depend_on_the_batch(local_embedder):
    text = "Padding is masked out, so a text's vector is the same alone or in a batch."
    alone = local_embedder.embed([text])[0]
    batched = local_embedder.embed([text, "short", "x " * 300])[0]

    assert float(alone @ batched) > 0.9999


def test_local_tokenizer_truncates_at_256_not_128(local_embedder):
    # Two texts that share their first 150 tokens differ only past token 128: with the shipped
    # tokenizer settings (128) they would embed identically.
    head = "word " * 150
    first, second = local_embedder.embed([head + "cats " * 80, head + "finance " * 80])

    assert float(first @ second) < 0.999


def test_local_token_spans_count_subwords(local_embedder):
    spans = local_embedder.token_spans("Tokenization matters")

    assert len(spans) >= 3  # "token", "##ization", "matters"
    assert spans[0][0] == 0 and spans[-1][1] == len("Tokenization matters")


def test_a_model_file_with_the_wrong_checksum_is_refused(monkeypatch):
    monkeypatch.setattr(local_module, "MODEL_SHA256", "0" * 64)

    with pytest.raises(EmbeddingRejected, match="sha256"):
        local_module.LocalEmbedder()


def test_local_backend_refuses_another_dimension():
    with pytest.raises(ImproperlyConfigured):
        build_embedder("local", dimensions=768)


def test_unknown_backend_is_a_configuration_error():
    with pytest.raises(ImproperlyConfigured):
        build_embedder("magic", dimensions=384)


def test_hashing_is_deterministic_and_lexical():
    embedder = HashingEmbedder(dimensions=64)

    first, second, other = embedder.embed(["Python code", "python CODE", "lasagna recipe"])

    np.testing.assert_array_equal(first, second)
    assert float(first @ other) < 0.5


def test_get_embedder_follows_settings(settings):
    settings.EMBEDDING_BACKEND = "hashing"
    settings.EMBEDDING_DIMENSIONS = 32

    assert get_embedder().dimensions == 32
    assert get_embedder() is get_embedder()


class FakeEmbeddingsServer:
    """An OpenAI-compatible /v1/embeddings on loopback; ``status`` and ``dims`` steer it."""

    def __init__(self) -> None:
        self.status = 200
        self.dims = 8
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                if fake.status != 200:
                    payload = {"error": {"message": "nope", "type": "server_error"}}
                else:
                    payload = {
                        "object": "list",
                        "model": body["model"],
                        "data": [
                            {
                                "object": "embedding",
                                "index": i,
                                "embedding": [float(i + 1)] * fake.dims,
                            }
                            for i, _ in enumerate(body["input"])
                        ][::-1],  # out of order on purpose: the client must sort by index
                        "usage": {"prompt_tokens": 1, "total_tokens": 1},
                    }
                raw = json.dumps(payload).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fake_server():
    server = FakeEmbeddingsServer()
    yield server
    server.close()


def openai_embedder(fake_server, model="nomic-embed-text", dims=8):
    return build_embedder(
        "openai", dimensions=dims, model=model, api_base=fake_server.url, api_key="k", timeout=5
    )


def test_openai_compatible_embeds_in_input_order(fake_server):
    vectors = openai_embedder(fake_server).embed(["a", "b"])

    assert vectors.shape == (2, 8)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert fake_server.requests[0]["input"] == ["a", "b"]
    assert "dimensions" not in fake_server.requests[0]


def test_openai_text_embedding_3_is_asked_for_the_configured_dimensions(fake_server):
    openai_embedder(fake_server, model="text-embedding-3-small").embed(["a"])

    assert fake_server.requests[0]["dimensions"] == 8


def test_openai_server_errors_are_transient(fake_server):
    fake_server.status = 503

    with pytest.raises(EmbeddingUnavailable):
        openai_embedder(fake_server).embed(["a"])


def test_openai_client_errors_are_permanent(fake_server):
    fake_server.status = 400

    with pytest.raises(EmbeddingRejected):
        openai_embedder(fake_server).embed(["a"])


def test_openai_unreachable_is_transient():
    embedder = build_embedder(
        "openai", dimensions=8, model="m", api_base="http://127.0.0.1:9/v1", timeout=2
    )

    with pytest.raises(EmbeddingUnavailable):
        embedder.embed(["a"])


def test_openai_wrong_dimension_is_refused(fake_server):
    fake_server.dims = 5

    with pytest.raises(EmbeddingRejected, match="dimensions"):
        openai_embedder(fake_server).embed(["a"])
