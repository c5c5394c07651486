"""A bounded load test of `deepstart serve`: latency and throughput of POST /predict on loopback.

Starts `deepstart serve RUN --port 0` (a free loopback port; with no --run it first trains a quick
digits run, 2 epochs, into a temporary folder), then sends --requests valid predictions (the run's
own test inputs: pixels for images, features by name for built-in tables, windows for series)
from --clients concurrent keep-alive clients, with --malformed bad requests interleaved (bad JSON,
NaN, a wrong shape, bad base64, a non-PNG, a body over the 2 MB limit). Prints one table:

    valid requests    answered 200 (an error is any other answer or a dropped connection)
    malformed         answered 400/413/415/422 (never 5xx, never a dropped server)
    p50/p99/max       latency of the valid requests, from send to the whole answer read
    requests/s        all requests (valid and malformed) over the wall time of the run

and ends by checking that /health still answers. Loopback only: nothing leaves the machine.

    .venv/bin/python benchmarks/serve_load.py [--run RUN] [--requests 500] [--clients 8]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from common import cpu_name  # noqa: E402


def quick_digits_run(out: Path) -> Path:
    subprocess.run([sys.executable, "-m", "deepstart", "run", "digits", "--epochs", "2", "--quiet",
                    "--out", str(out)], check=True, capture_output=True)
    return next(out.iterdir())


def valid_bodies(folder: Path, n: int) -> list[dict]:
    """`n` request bodies from the run's test inputs, in the units the API takes."""
    from deepstart.errors import DeepstartError
    from deepstart.record import load_data, read_run

    record = read_run(folder)
    raw, data = load_data(record)
    spec = record.spec
    if len(spec["input_shape"]) == 3:
        bodies = [{"pixels": x.tolist()} for x in raw.x_test[:n]]
    elif spec["task"] == "forecast":
        lookback = data.lookback
        bodies = [{"window": raw.series[t - lookback - data.horizon + 1:t - data.horizon + 1].tolist()}
                  for t in raw.test_targets]
    elif "columns" not in spec:
        bodies = [{"features": dict(zip(raw.feature_names, map(float, x)))} for x in raw.x_test[:n]]
    else:
        raise DeepstartError("this load test takes runs on images, built-in tables or series; a run "
                             "on your own CSV has no raw test rows in its folder.")
    return list(itertools.islice(itertools.cycle(bodies), n))


# (content, content type, the statuses that are a correct refusal)
MALFORMED = [
    (b'{"pixels": [[1, 2', "application/json", {400}),
    (b'{"pixels": [[NaN]]}', "application/json", {400}),
    (b'{"pixels": [[0, 0], [0, 0]]}', "application/json", {422}),
    (b'{"image": "%%% not base64"}', "application/json", {422}),
    (b"GIF89a not a png", "image/png", {422}),
    (b" " * 2_100_000, "application/json", {413}),
]


def start_server(folder: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "deepstart", "serve", str(folder), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
    if not match:
        proc.kill()
        raise SystemExit(f"the server did not start: {line}{proc.stderr.read()}")
    return proc, match.group(1)


async def load(url: str, bodies: list[dict], malformed: int, clients: int):
    import httpx

    # the malformed requests spread evenly through the valid ones
    jobs: list[tuple] = [("valid", body) for body in bodies]
    step = max(1, len(jobs) // max(1, malformed))
    for k in range(malformed):
        jobs.insert(min(len(jobs), (k + 1) * step + k), ("bad", MALFORMED[k % len(MALFORMED)]))
    queue = iter(jobs)
    latencies: list[float] = []
    errors: list[str] = []
    refused = 0

    async def client():
        nonlocal refused
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for kind, job in queue:
                started = time.perf_counter()
                try:
                    if kind == "valid":
                        response = await http.post("/predict", json=job)
                        latencies.append(time.perf_counter() - started)
                        if response.status_code != 200:
                            errors.append(f"valid: {response.status_code} {response.text[:80]}")
                    else:
                        content, content_type, expected = job
                        response = await http.post("/predict", content=content,
                                                   headers={"Content-Type": content_type})
                        if response.status_code in expected:
                            refused += 1
                        else:
                            errors.append(f"malformed: {response.status_code} {response.text[:80]}")
                except httpx.HTTPError as e:
                    errors.append(f"{kind}: {type(e).__name__} {e}")

    async with httpx.AsyncClient(base_url=url, timeout=30) as http:  # warm-up: first calls
        for body in bodies[:20]:
            await http.post("/predict", json=body)
    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - started
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        health = (await http.get("/health")).json()["status"]
    return latencies, errors, refused, len(jobs), wall, health


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, help="a finished run (default: a quick digits run)")
    parser.add_argument("--requests", type=int, default=500, help="valid requests (default 500)")
    parser.add_argument("--malformed", type=int, default=50,
                        help="malformed requests interleaved (default 50)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.run or quick_digits_run(Path(tmp))
        bodies = valid_bodies(folder, args.requests)
        proc, url = start_server(folder)
        try:
            latencies, errors, refused, sent, wall, health = asyncio.run(
                load(url, bodies, args.malformed, args.clients))
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    ms = np.asarray(latencies) * 1000
    import torch

    print(f"deepstart serve {folder.name}: {args.clients} clients on loopback, "
          f"{cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"torch {torch.__version__}; the server runs 1 torch thread")
    print()
    print("| valid requests | errors | malformed (refused 4xx) | p50 ms | p99 ms | max ms | requests/s |")
    print("|---|---|---|---|---|---|---|")
    print(f"| {len(latencies)} | {len(errors)} | {args.malformed} ({refused}) | "
          f"{np.percentile(ms, 50):.1f} | {np.percentile(ms, 99):.1f} | {ms.max():.1f} | "
          f"{sent / wall:.0f} |")
    print()
    print(f"/health afterwards: {health}")
    for error in errors[:10]:
        print(f"error: {error}")
    if errors or health != "ok" or refused != args.malformed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
