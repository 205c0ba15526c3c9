"""Measure what 10,000 dashboard login attempts from one client cost: how many keys are checked, how long.

Usage: ``python -m bench.login [--attempts 10000] [--json]`` (from the repository's root).

A fresh workspace with one analyst key, served by a real uvicorn on a free loopback port. One client
posts the login form ``--attempts`` times with wrong keys, fetching the form's CSRF token first when
the login page has one. A 200 is an evaluated attempt ("not valid"); a 429 was refused before any key
was checked. Then the right key logs in from another loopback address (``other_client``: 303), to show
that the guesser held up only itself.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from bench.dashboard import served

from cvm.engine import Engine

TOKEN = re.compile(r'name="csrf" value="([^"]+)"')


def _token(client: httpx.Client) -> dict[str, str]:
    found = TOKEN.search(client.get("/ui/login").text)
    return {"csrf": found.group(1)} if found else {}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attempts", type=int, default=10_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine.init(Path(tmp) / "ws")
        _, secret = engine.access.create_key("analyst", "bench")
        with served(engine) as url, httpx.Client(base_url=url, timeout=30) as client:
            token = _token(client)
            began = time.perf_counter()
            statuses = Counter(
                client.post("/ui/login", data={"key": f"cvm_{n:012x}_guess", **token}).status_code
                for n in range(args.attempts)
            )
            seconds = time.perf_counter() - began
            other = httpx.Client(base_url=url, transport=httpx.HTTPTransport(local_address="127.0.0.2"))
            with other:
                right = other.post("/ui/login", data={"key": secret, **_token(other)}).status_code
        engine.close()
    result = {
        "attempts": args.attempts,
        "evaluated": statuses.get(200, 0),
        "refused_429": statuses.get(429, 0),
        "statuses": dict(sorted(statuses.items())),
        "seconds": round(seconds, 2),
        "attempts_per_s": round(args.attempts / seconds),
        "other_client": right,
    }
    print(json.dumps(result) if args.json else "\n".join(f"{k}: {v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
