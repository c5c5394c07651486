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

and ends by checking that /health still answers. Then the slow-client phase: --slow connections
each send half a request (headers without their end) and hold it open, opening another when the
server closes one (it gives a request 10 s to arrive), while the same clients send the valid
requests again; a second table gives their p50/p99/max and errors, and the slowest of a few /health
calls on fresh connections meanwhile. Loopback only: nothing leaves the machine; every loop is
bounded in count and time.

    .venv/bin/python benchmarks/serve_load.py [--run RUN] [--requests 500] [--clients 8] [--slow 300]
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


HALF_SENT = b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"


async def hold_half_sent(port: int, n: int, stop: asyncio.Event, seconds: float) -> int:
    """`n` connections that each send half a request and wait; one closed by the server is
    replaced, until `stop` or `seconds`. Returns how many were opened (at most 50 per holder)."""
    deadline = time.perf_counter() + seconds
    opened = 0

    async def holder():
        nonlocal opened
        for _ in range(50):
            if stop.is_set() or time.perf_counter() > deadline:
                return
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.2)
                continue
            opened += 1
            writer.write(HALF_SENT)
            try:
                while not stop.is_set() and time.perf_counter() < deadline:
                    try:
                        if not await asyncio.wait_for(reader.read(4096), 0.5):
                            break  # the server closed it
                    except asyncio.TimeoutError:
                        continue
            except OSError:
                pass
            finally:
                writer.close()

    await asyncio.gather(*(holder() for _ in range(n)))
    return opened


async def health_seconds(url: str, calls: int = 5) -> tuple[float, bool]:
    """The slowest of `calls` GET /health on fresh connections, and whether all answered ok."""
    import httpx

    slowest, ok = 0.0, True
    for _ in range(calls):
        started = time.perf_counter()
        try:
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                ok = ok and (await http.get("/health")).json().get("status") == "ok"
        except (httpx.HTTPError, ValueError):
            ok = False
        slowest = max(slowest, time.perf_counter() - started)
        await asyncio.sleep(0.2)
    return slowest, ok


async def slow_phase(url: str, bodies: list[dict], clients: int, slow: int, seconds: float):
    port = int(url.rsplit(":", 1)[1])
    stop = asyncio.Event()
    holders = asyncio.ensure_future(hold_half_sent(port, slow, stop, seconds))
    await asyncio.sleep(1.0)  # let them connect and send their half
    health = await health_seconds(url)
    latencies, errors, _, sent, wall, _ = await load(url, bodies, 0, clients)
    stop.set()
    opened = await holders
    return latencies, errors, sent, wall, health, opened


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, help="a finished run (default: a quick digits run)")
    parser.add_argument("--requests", type=int, default=500, help="valid requests (default 500)")
    parser.add_argument("--malformed", type=int, default=50,
                        help="malformed requests interleaved (default 50)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument("--slow", type=int, default=300,
                        help="half-sent requests held open in the slow-client phase (default 300; "
                             "0: no such phase)")
    parser.add_argument("--slow-seconds", type=float, default=120,
                        help="the slow-client phase stops after this at the latest (default 120)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.run or quick_digits_run(Path(tmp))
        bodies = valid_bodies(folder, args.requests)
        proc, url = start_server(folder)
        try:
            latencies, errors, refused, sent, wall, health = asyncio.run(
                load(url, bodies, args.malformed, args.clients))
            slow = asyncio.run(slow_phase(url, bodies, args.clients, args.slow, args.slow_seconds)) \
                if args.slow else None
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
    failed = bool(errors) or health != "ok" or refused != args.malformed
    if slow is not None:
        slow_latencies, slow_errors, slow_sent, slow_wall, (health_s, health_ok), opened = slow
        ms = np.asarray(slow_latencies) * 1000
        print()
        print(f"with {args.slow} half-sent requests held open ({opened} opened in all: the server "
              "closes one after 10 s and the holder opens another)")
        print()
        print("| valid requests | errors | p50 ms | p99 ms | max ms | requests/s | slowest /health ms |")
        print("|---|---|---|---|---|---|---|")
        print(f"| {len(slow_latencies)} | {len(slow_errors)} | {np.percentile(ms, 50):.1f} | "
              f"{np.percentile(ms, 99):.1f} | {ms.max():.1f} | {slow_sent / slow_wall:.0f} | "
              f"{health_s * 1000:.0f}{'' if health_ok else ' (not ok)'} |")
        for error in slow_errors[:10]:
            print(f"error: {error}")
        failed = failed or bool(slow_errors) or not health_ok
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
