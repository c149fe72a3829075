"""Benchmark: epoch throughput from the prepared store (pages cached) beside the same data in memory.

The same sessions are written to a prepared store in a scratch cache folder and loaded three ways: in memory
(plain float32 arrays), mapped (``movie_reads="memory"``: gathered from the page-cache-backed mapping) and read
from the files (``movie_reads="file"``: one read per chunk). After a warm-up pass, rounds are interleaved
(memory, mapped, file, memory, ...) so a busy machine affects every mode alike; medians of GB/s through
``LongCycler`` are reported with the ratio to in memory. Target (issue 13): >= 0.8 of the in-memory rate when
the pages are cached. Prints one JSON object.

    python benchmarks/bench_store_throughput.py [--small] [--rounds 7]
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

SCENARIOS = {  # as in bench_core_throughput.py
    "maheswaranathan_sized": {"c": 1, "frames": 359_802, "h": 50, "w": 50, "sessions": 1, "neurons": 9},
    "hoefling_sized": {"c": 2, "frames": 16_200, "h": 18, "w": 16, "sessions": 67, "neurons": 55},
}
SMALL = {"maheswaranathan_sized": {"frames": 40_000}, "hoefling_sized": {"sessions": 12}}
TARGET = 0.8


def sessions(cfg: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    from openretina_core import MoviesTrainTestSplit, ResponsesTrainTestSplit

    rng = np.random.default_rng(0)
    shared = rng.standard_normal((cfg["frames"], cfg["c"], cfg["h"], cfg["w"]), dtype=np.float32)
    movie = MoviesTrainTestSplit(train=shared.transpose(1, 0, 2, 3), norm_mean=0.0, norm_std=1.0)
    return {
        f"s{i:02d}": (
            movie,
            ResponsesTrainTestSplit(train=rng.random((cfg["frames"], cfg["neurons"]), np.float32).T),
        )
        for i in range(cfg["sessions"])
    }


def epoch_gb_per_s(loaders: Any) -> float:
    from openretina_core import LongCycler

    delivered, start = 0, time.perf_counter()
    for _, (inputs, targets) in LongCycler(loaders["train"], seed=1):
        delivered += inputs.numel() * 4 + targets.numel() * 4
    return delivered / 1e9 / (time.perf_counter() - start)


def run(name: str, small: bool, rounds: int, scratch: Path) -> dict[str, Any]:
    import torch

    from openretina_core import multiple_movies_dataloaders
    from openretina_core.store import prepared_session

    torch.set_num_threads(1)
    cfg = {**SCENARIOS[name], **(SMALL[name] if small else {})}
    memory = sessions(cfg)
    source = scratch / f"{name}.src"
    source.write_text(name)
    # one shared movie entry (as Höfling's), responses per session
    movie, _ = prepared_session(
        name, "_movie", params={}, sources=[source], read=lambda: (next(iter(memory.values()))[0], None)
    )
    mapped = {
        key: prepared_session(name, key, params={}, sources=[source], read=lambda pair=pair: (None, pair[1]))[
            1
        ]
        for key, pair in memory.items()
    }
    options = {
        "train_chunk_size": 50,
        "batch_size": 64,
        "clip_length": 90 if name.startswith("mahes") else 150,
        "num_val_clips": 2,
    }
    builds = {
        "memory": lambda: multiple_movies_dataloaders(
            {k: p[1] for k, p in memory.items()}, next(iter(memory.values()))[0], **options
        ),
        "mapped": lambda: multiple_movies_dataloaders(mapped, movie, movie_reads="memory", **options),
        "file": lambda: multiple_movies_dataloaders(mapped, movie, movie_reads="file", **options),
    }
    loaders = {mode: build() for mode, build in builds.items()}
    for mode in loaders:  # warm-up: pages resident, buffers pooled
        epoch_gb_per_s(loaders[mode])
    rates: dict[str, list[float]] = {mode: [] for mode in loaders}
    for _ in range(rounds):
        for mode in loaders:
            rates[mode].append(epoch_gb_per_s(loaders[mode]))
    medians = {mode: statistics.median(values) for mode, values in rates.items()}
    return {
        "gb_per_s": {mode: round(value, 3) for mode, value in medians.items()},
        "ranges": {mode: [round(min(v), 3), round(max(v), 3)] for mode, v in rates.items()},
        "mapped_vs_memory": round(medians["mapped"] / medians["memory"], 3),
        "file_vs_memory": round(medians["file"] / medians["memory"], 3),
        "target_mapped_ge_0.8": medians["mapped"] / medians["memory"] >= TARGET,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", nargs="*", default=sorted(SCENARIOS), choices=sorted(SCENARIOS))
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench_store_tp_"))
    os.environ["OPENRETINA_CACHE_DIR"] = str(scratch / "cache")
    os.environ["OPENRETINA_NO_PROGRESS"] = "1"
    try:
        report = {name: run(name, args.small, args.rounds, scratch) for name in args.only}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
