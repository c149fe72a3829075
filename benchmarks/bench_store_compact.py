"""Benchmark: an epoch from the prepared store with the movie stored compact (uint8) vs stored as float32.

The same synthetic multi-session uint8 movie (published values, each session z-scored by its own map) is
prepared twice in a scratch cache folder: once compact (``as_compact``: 1 byte per value, decoded per batch) and
once as the float32 values (4 bytes). One epoch of train batches through ``LongCycler`` is timed for each,
reading the chunks from the files (``movie_reads="file"``):

* **disk**: before each epoch every file of both stores is evicted from the page cache
  (``posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED)``, no root needed); the epoch's ``read_bytes`` from
  ``/proc/self/io`` (bytes this process caused to be fetched from the block device) shows that it really read
  the disk;
* **cached**: the same epochs with every page resident (one warm-up epoch first).

Rounds alternate uint8 and float32 so a busy machine affects both alike; medians are reported, with the ratio
``float32 seconds / uint8 seconds``. The batches of both are checked to be equal. Target (issue 13, 5c): >= 2x
when reading from disk. Prints one JSON object.

    python benchmarks/bench_store_compact.py [--sessions 4] [--frames 30000] [--rounds 3] [--small]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

H, W, NEURONS = 50, 50, 20
OPTIONS = {"train_chunk_size": 50, "batch_size": 64, "clip_length": 100, "num_val_clips": 2}


def read_bytes() -> int:
    """Bytes this process has caused to be read from storage (not the page cache)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("read_bytes:"):
            return int(line.split()[1])
    return -1


def evict(folders: list[Path]) -> int:
    """Drop every store file's pages from the page cache; returns the bytes of the files."""
    total = 0
    for folder in folders:
        for path in folder.rglob("*.npy"):
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)  # freshly written pages are dirty, and dirty pages are not dropped
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
            total += path.stat().st_size
    return total


def sessions(n: int, frames: int) -> dict[str, tuple[Any, Any, Any]]:
    """``{name: (compact movies, float32 movies, responses)}``."""
    from openretina_core import MoviesTrainTestSplit, ResponsesTrainTestSplit
    from openretina_core.data import StimulusMap, as_compact

    out = {}
    for i in range(n):
        rng = np.random.default_rng(i)
        raw = rng.integers(0, 256, size=(frames, 1, H, W), dtype=np.uint8)  # time-major, as a reader fills it
        stimulus_map = StimulusMap(127.5 + i, 73.9)
        compact = MoviesTrainTestSplit(train=as_compact(raw.transpose(1, 0, 2, 3), stimulus_map))
        values = np.ascontiguousarray(compact.train.decoded().transpose(1, 0, 2, 3))
        floats = MoviesTrainTestSplit(train=values.transpose(1, 0, 2, 3))
        responses = ResponsesTrainTestSplit(train=rng.random((NEURONS, frames), dtype=np.float32))
        out[f"s{i}"] = (compact, floats, responses)
    return out


def epoch(loaders: Any) -> tuple[float, int, int, float]:
    """Seconds, storage bytes read and float32 bytes delivered by one train epoch; and a checksum."""
    from openretina_core import LongCycler

    before, delivered, checksum = read_bytes(), 0, 0.0
    start = time.perf_counter()
    for _, (inputs, targets) in LongCycler(loaders["train"], seed=1):
        delivered += inputs.numel() * 4 + targets.numel() * 4
        checksum += float(inputs[:, 0, 0, 0, 0].sum())
    return time.perf_counter() - start, read_bytes() - before, delivered, checksum


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--frames", type=int, default=30_000, help="frames per session (50 x 50 each)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="2 sessions of 6,000 frames (a quick check)")
    args = parser.parse_args()
    if args.small:
        args.sessions, args.frames = 2, 6_000
    scratch = Path(tempfile.mkdtemp(prefix="bench_store_compact_", dir=os.environ.get("BENCH_SCRATCH")))
    os.environ["OPENRETINA_CACHE_DIR"] = str(scratch / "cache")
    os.environ["OPENRETINA_NO_PROGRESS"] = "1"
    try:
        report = run(args, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(report, indent=2))


def run(args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    import torch

    from openretina_core import multiple_movies_dataloaders
    from openretina_core.store import prepared_session, store_root

    torch.set_num_threads(1)
    data = sessions(args.sessions, args.frames)
    source = scratch / "published.src"
    source.write_text("synthetic")
    stores: dict[str, Any] = {}
    for kind, slot in (("uint8", 0), ("float32", 1)):
        movies, responses = {}, {}
        for name, triple in data.items():
            pair = (triple[slot], triple[2])
            movie, response = prepared_session(
                f"bench_{kind}", name, params={}, sources=[source], read=lambda pair=pair: pair
            )
            movies[name], responses[name] = movie, response
        stores[kind] = (movies, responses)
    del data
    folders = [store_root(f"bench_{kind}") for kind in stores]
    loaders = {
        kind: multiple_movies_dataloaders(responses, movies, movie_reads="file", **OPTIONS)
        for kind, (movies, responses) in stores.items()
    }
    results: dict[str, dict[str, list[Any]]] = {
        case: {kind: [] for kind in loaders} for case in ("disk", "cached")
    }
    checks: dict[str, float] = {}
    store_bytes = {
        kind: sum(p.stat().st_size for p in store_root(f"bench_{kind}").rglob("*.npy")) for kind in stores
    }
    for _ in range(args.rounds):
        for kind in loaders:
            evict(folders)
            seconds, read, delivered, checksum = epoch(loaders[kind])
            results["disk"][kind].append((seconds, read, delivered))
            checks[kind] = checksum
    for kind in loaders:
        epoch(loaders[kind])  # warm-up: every page resident
    for _ in range(args.rounds):
        for kind in loaders:
            seconds, read, delivered, _ = epoch(loaders[kind])
            results["cached"][kind].append((seconds, read, delivered))
    report: dict[str, Any] = {
        "sessions": args.sessions,
        "frames_per_session": args.frames,
        "store_mb": {kind: round(b / 1e6, 1) for kind, b in store_bytes.items()},
        "same_batches": bool(np.isclose(checks["uint8"], checks["float32"], rtol=0, atol=0)),
        "load_average": os.getloadavg()[0],
    }
    for case, by_kind in results.items():
        medians = {kind: statistics.median(s for s, _, _ in rows) for kind, rows in by_kind.items()}
        report[case] = {
            "epoch_s": {kind: round(value, 3) for kind, value in medians.items()},
            "epoch_s_range": {
                k: [round(min(s for s, _, _ in r), 3), round(max(s for s, _, _ in r), 3)]
                for k, r in by_kind.items()
            },
            "read_mb_per_epoch": {
                k: round(statistics.median(b for _, b, _ in r) / 1e6, 1) for k, r in by_kind.items()
            },
            "delivered_gb_per_s": {
                k: round(statistics.median(d / s for s, _, d in r) / 1e9, 3) for k, r in by_kind.items()
            },
            "float32_over_uint8": round(medians["float32"] / medians["uint8"], 2),
        }
    report["target_disk_ge_2x"] = report["disk"]["float32_over_uint8"] >= 2.0
    return report


if __name__ == "__main__":
    main()
