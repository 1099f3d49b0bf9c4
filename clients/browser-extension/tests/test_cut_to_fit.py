"""A capture longer than the server keeps (src/lib/api.js's cutToFit, run in Node.js against
the server's own 413): the extension sends it again cut to fit, instead of dropping it."""

import json
import shutil
import subprocess

import pytest

from memories.models import Memory
from testing.live import REPO

API = REPO / "clients" / "browser-extension" / "src" / "lib" / "api.js"
NODE = shutil.which("node")
PROMPTS = "/api/v1/memories/prompts"

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(NODE is None, reason="Node.js is not installed"),
]


def cut_to_fit(text: str, details: dict) -> tuple[str | None, str]:
    script = (
        f"const api = await import({json.dumps(API.as_uri())});"
        "const [text, details] = JSON.parse(process.argv[1]);"
        "console.log(JSON.stringify([api.cutToFit(text, details), api.CUT_NOTE]));"
    )
    run = subprocess.run(
        [NODE, "--input-type=module", "-e", script, json.dumps([text, details])],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    cut, note = json.loads(run.stdout)
    return cut, note


def test_a_long_answer_refused_as_too_long_fits_once_cut(auth_client, settings):
    settings.MEMORY_MAX_CONTENT_CHARS = 2_000
    prompt = "Summarise this thread " * 40  # 880 characters
    memory_id = auth_client.post(
        PROMPTS, {"prompt": prompt, "provider": "chatgpt"}, format="json"
    ).json()["id"]
    answer = "Point 🧭 one, and the rest. " * 100  # 2,700 characters, astral ones among them
    url = f"/api/v1/memories/{memory_id}/response"

    refused = auth_client.post(url, {"response": answer}, format="json")
    assert refused.status_code == 413
    cut, note = cut_to_fit(answer, refused.json()["error"]["details"])
    saved = auth_client.post(url, {"response": cut}, format="json")

    assert saved.status_code == 200
    content = Memory.objects.get(pk=memory_id).content
    assert len(content) == 2_000  # as much of the answer as fits
    assert content == f"{prompt}\n\n{cut}"
    assert cut.endswith(note) and answer.startswith(cut.removesuffix(note))


def test_a_prompt_too_long_on_its_own_is_cut_and_one_that_cannot_fit_is_not(auth_client, settings):
    settings.MEMORY_MAX_CONTENT_CHARS = 500
    prompt = "word " * 300
    refused = auth_client.post(PROMPTS, {"prompt": prompt, "provider": "claude"}, format="json")
    assert refused.status_code == 413
    cut, _ = cut_to_fit(prompt, refused.json()["error"]["details"])

    stored = auth_client.post(PROMPTS, {"prompt": cut, "provider": "claude"}, format="json")

    assert stored.status_code == 201
    assert len(Memory.objects.get(pk=stored.json()["id"]).content) == 500
    # Nothing of a text fits when the rest of the memory already fills it.
    assert cut_to_fit("answer", {"limit_chars": 500, "length": 1_000})[0] is None
