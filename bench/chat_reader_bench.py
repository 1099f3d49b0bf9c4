"""The upstream reader alone: CPU per relayed token of the gateway's two ways of reading a
streamed answer, in this process, against the fake OpenAI-compatible server in its own process.

    python -m bench.chat_reader_bench --streams 100 --tokens 500

``ours``: providers.llm.sse_client (an asyncio Protocol with httptools); ``sdk``: the SDK's
httpx stream (httpcore, anyio), which the gateway keeps for hosts behind a proxy and which read
every stream before. Both run on uvloop, as the server does, one after the other in one run, so
the machine's load weighs on both alike. CPU is this process's (time.process_time) over the
tokens the streams delivered. Nothing of Django's request handling or the client framing is in
it: chat_bench measures the whole server.
"""

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
MESSAGES = [{"role": "user", "content": "Tell me a story."}]


async def relay(streams: int, path: str, base_url: str) -> dict:
    from providers.llm import gateway as gateway_module
    from providers.llm.types import LLMCredentials

    credentials = LLMCredentials(provider="openai", base_url=base_url, api_key="sk-bench")
    delivered = [0]

    async def one(gateway: gateway_module.LLMGateway) -> None:
        stream = gateway.stream(credentials=credentials, model="gpt-4o-mini", messages=MESSAGES)
        async with stream as chunks:
            async for chunk in chunks:
                delivered[0] += chunk.delta.count(" tok")

    with mock.patch.object(gateway_module, "_proxied", return_value=path == "sdk"):
        async with gateway_module.LLMGateway(max_retries=0) as gateway:
            await one(gateway)  # connections, imports
            delivered[0] = 0
            cpu, wall = time.process_time(), time.perf_counter()
            await asyncio.gather(*(one(gateway) for _ in range(streams)))
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {
        "path": path,
        "streams": streams,
        "tokens": delivered[0],
        "cpu_us_per_token": round(cpu * 1e6 / max(1, delivered[0]), 1),
        "cpu_share": round(cpu / wall, 3),
        "load_average": round(os.getloadavg()[0], 2),
    }


def run(args: argparse.Namespace, base_url: str) -> list[dict]:
    import uvloop

    return [
        uvloop.run(relay(args.streams, path, base_url)) for path in ("sdk", "ours", "sdk", "ours")
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--tokens", type=int, default=500)
    parser.add_argument("--delay", type=float, default=0.02, help="seconds between tokens")
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from bench.chat_bench import upstream

    with upstream(argparse.Namespace(tokens=args.tokens, delay=args.delay,
                                     first_token_delay=0.2)) as base_url:  # fmt: skip
        rows = run(args, base_url)
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
