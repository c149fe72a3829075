"""Core data path: epoch throughput through LongCycler vs a plain gather, and peak memory of building loaders.

Each scenario runs in its own subprocess so its peak RSS is its own. Prints one JSON document.

    python benchmarks/bench_core_throughput.py            # both realistic scenarios (needs ~5 GB RAM)
    python benchmarks/bench_core_throughput.py --small    # a quick run with reduced sizes

Targets (issue "Core data path"): >= 80% of the plain-gather rate; no movie copied while building loaders;
peak RSS <= 1.3x the float32 data plus the import baseline.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

SCENARIOS = {
    "maheswaranathan_sized": {
        "channels": 1,
        "frames": 359_802,
        "h": 50,
        "w": 50,
        "sessions": 1,
        "neurons": [9],
    },
    "hoefling_sized": {"channels": 2, "frames": 16_200, "h": 18, "w": 16, "sessions": 67, "neurons": None},
}
SMALL = {
    "maheswaranathan_sized": {"frames": 40_000},
    "hoefling_sized": {"sessions": 12},
}


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_scenario(name: str, small: bool) -> dict:
    import numpy as np
    import torch

    from openretina_core import (
        LongCycler,
        MoviesTrainTestSplit,
        ResponsesTrainTestSplit,
        multiple_movies_dataloaders,
    )

    torch.set_num_threads(1)
    cfg = {**SCENARIOS[name], **(SMALL[name] if small else {})}
    c, t, h, w, n_sessions = cfg["channels"], cfg["frames"], cfg["h"], cfg["w"], cfg["sessions"]
    neurons = cfg["neurons"] or [
        3700 // n_sessions + (1 if i < 3700 % n_sessions else 0) for i in range(n_sessions)
    ]
    baseline = rss_mb()
    buffer = np.empty((t, c, h, w), dtype=np.float32)
    for start in range(0, t, 20_000):  # touch every page, cheaply
        buffer[start : start + 20_000] = np.float32(start % 7)
    movie = MoviesTrainTestSplit(train=buffer.transpose(1, 0, 2, 3), norm_mean=0.0, norm_std=1.0)
    rng = np.random.default_rng(0)
    responses = {
        f"s{i:02d}": ResponsesTrainTestSplit(train=rng.random((n, t), dtype=np.float32))
        for i, n in enumerate(neurons)
    }
    data_mb = (buffer.nbytes + sum(r.train.nbytes for r in responses.values())) / 2**20
    after_data = rss_mb()
    clip = 90 if name.startswith("mahes") else 150
    build_start = time.perf_counter()
    loaders = multiple_movies_dataloaders(
        responses,
        movie,
        train_chunk_size=50,
        batch_size=64,
        clip_length=clip,
        num_val_clips=20 if clip == 90 else 15,
    )
    build_s = time.perf_counter() - build_start
    after_build = rss_mb()
    cycler = LongCycler(loaders["train"], shuffle=True, seed=0)
    # (a) one epoch through the cycler
    n_samples, n_bytes = 0, 0
    start = time.perf_counter()
    for _session, (inputs, _targets) in cycler:
        n_samples += inputs.shape[0]
        n_bytes += inputs.numel() * 4
    epoch_s = time.perf_counter() - start
    # (b) the same number of chunk gathers as plain index_select into one preallocated batch
    movie_t = torch.from_numpy(buffer)
    batch = torch.empty((64 * 50, c, h, w))
    n_batches = n_samples // 64
    gen = torch.Generator().manual_seed(0)
    index_sets = [
        (torch.randint(0, t - 50, (64,), generator=gen)[:, None] + torch.arange(50)).reshape(-1)
        for _ in range(n_batches)
    ]
    start = time.perf_counter()
    for idx in index_sets:
        torch.index_select(movie_t, 0, idx, out=batch)
    gather_s = time.perf_counter() - start
    peak = rss_mb()
    return {
        "scenario": name,
        "movie_shape": [c, t, h, w],
        "sessions": n_sessions,
        "neurons_total": sum(neurons),
        "data_float32_mb": round(data_mb, 1),
        "build_loaders_s": round(build_s, 3),
        "movie_copies_made": loaders.data_info["movie_copies_made"],
        "epoch_batches": len(cycler),
        "epoch_samples_per_s": round(n_samples / epoch_s, 1),
        "epoch_input_mb_per_s": round(n_bytes / epoch_s / 2**20, 1),
        "plain_gather_mb_per_s": round(n_batches * batch.numel() * 4 / gather_s / 2**20, 1),
        "ratio_to_plain_gather": round((n_bytes / epoch_s) / (n_batches * batch.numel() * 4 / gather_s), 3),
        "import_baseline_rss_mb": round(baseline, 1),
        "rss_after_data_mb": round(after_data, 1),
        "rss_after_build_mb": round(after_build, 1),
        "peak_rss_mb": round(peak, 1),
        "build_peak_over_data": round((after_build - baseline) / data_mb, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="reduced sizes for a quick run")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), help="run one scenario in this process")
    args = parser.parse_args()
    if args.scenario:
        print(json.dumps(run_scenario(args.scenario, args.small)))
        return
    results = []
    for name in SCENARIOS:
        cmd = [sys.executable, __file__, "--scenario", name] + (["--small"] if args.small else [])
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    targets = {"ratio_to_plain_gather_min": 0.8, "movie_copies_made": 0, "build_peak_over_data_max": 1.3}
    print(
        json.dumps(
            {"benchmark": "core_throughput", "small": args.small, "targets": targets, "results": results},
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
