"""What the decoded-array cache's checksums cost: Fashion-MNIST's second load, with and without them.

In a fresh DEEPSTART_HOME: the first `get_problem("fashion-mnist").load()` decodes Debian's IDX files
and writes the .npy cache with its CRC-32s; then each round times, in this process,

  second load       get_problem("fashion-mnist").load(): the cache read and checked, as a run does
  np.load only      the four .npy files read, no check (what loads cost before the checksums)
  CRC-32            the check alone, over the loaded arrays (what the cache uses)
  SHA-256           the same bytes through SHA-256, for comparison (not used: about 3x the CRC's time)

Medians and minima over the rounds (the page cache is warm after the first; a user's second run is
in that state too). Goal (issue 15): the second load under 0.1 s.

    .venv/bin/python benchmarks/cache_load.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["DEEPSTART_HOME"] = home
        from common import cpu_name

        from deepstart import get_problem
        from deepstart.problems.arrays_cache import _crc32

        problem = get_problem("fashion-mnist")
        started = time.perf_counter()
        problem.load()
        first = time.perf_counter() - started
        folder = Path(home) / "fashion-mnist" / "arrays-idx-v1"
        files = sorted(folder.glob("*.npy"))
        size = sum(f.stat().st_size for f in files)
        times: dict[str, list[float]] = {"second load": [], "np.load only": [], "CRC-32": [], "SHA-256": []}
        for _ in range(args.rounds):
            t = time.perf_counter()
            problem.load()
            times["second load"].append(time.perf_counter() - t)
            t = time.perf_counter()
            arrays = [np.load(f, allow_pickle=False) for f in files]
            times["np.load only"].append(time.perf_counter() - t)
            t = time.perf_counter()
            for a in arrays:
                _crc32(a)
            times["CRC-32"].append(time.perf_counter() - t)
            t = time.perf_counter()
            for a in arrays:
                hashlib.sha256(np.ascontiguousarray(a).reshape(-1).view(np.uint8)).digest()
            times["SHA-256"].append(time.perf_counter() - t)
    load = os.getloadavg()[0]
    print(f"Fashion-MNIST arrays cache: {len(files)} files, {size / 1e6:.1f} MB; {cpu_name()}, "
          f"{os.cpu_count()} cores, 1-min load average {load:.1f}")
    print(f"first load (decode Debian's IDX files, write the cache): {first:.2f} s")
    print(f"{'step':<14} {'median s':>9} {'min s':>8}   ({args.rounds} rounds)")
    for name, values in times.items():
        print(f"{name:<14} {statistics.median(values):>9.4f} {min(values):>8.4f}")


if __name__ == "__main__":
    main()
