"""Batch assembly under contention: epochs through LongCycler beside the best plain gather, with and without a
competing process that keeps one core busy. Prints one JSON document.

    python benchmarks/bench_contention.py                 # both scenarios, ~2 min, ~4.5 GB RAM
    python benchmarks/bench_contention.py --small         # reduced sizes, quick
    python benchmarks/bench_contention.py --ours-threads 1  # ours with the caller's torch threads set to 1

The competing load is one ``python -c "while True: pass"`` process started by the benchmark and paused
(SIGSTOP) or resumed (SIGCONT) between measurements, so loaded and unloaded rounds interleave and see the same
drift. In each round, each variant runs one epoch's bytes: ours (a LongCycler epoch, batch 32, chunk 50, with
the caller's torch thread setting), and a plain ``index_select`` of the same movie frames and response rows
into two alternating preallocated buffers with 1 and with 2 intra-op threads (indices computed before timing).
The ratio of a round is ours over the faster plain gather of that round and load. Medians and ranges.

Target (issue 18): ours >= 0.8 of the best plain gather, loaded and unloaded, for both scenarios.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
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
SMALL = {"maheswaranathan_sized": {"frames": 60_000}, "hoefling_sized": {"sessions": 12}}
BATCH, CHUNK = 32, 50


def summary(values: list[float], digits: int = 3) -> dict:
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def busy_jiffies(pid: int | None = None) -> int:
    """CPU time in clock ticks: of the whole machine (``pid`` None) or of one process."""
    if pid is None:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return sum(fields) - fields[3] - fields[4]  # all but idle and iowait
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def foreign_cores(measure, busy_pid: int) -> tuple[float, float]:
    """Run ``measure()``; return its result and the cores other processes (not this one, not the competing
    load) kept busy meanwhile (another job on the machine)."""
    tick = os.sysconf("SC_CLK_TCK")
    before = (busy_jiffies(), busy_jiffies(os.getpid()), busy_jiffies(busy_pid), time.perf_counter())
    result = measure()
    after = (busy_jiffies(), busy_jiffies(os.getpid()), busy_jiffies(busy_pid), time.perf_counter())
    others = (after[0] - before[0]) - (after[1] - before[1]) - (after[2] - before[2])
    return result, max(0.0, others / tick / (after[3] - before[3]))


def run_scenario(name: str, small: bool, rounds: int, ours_threads: int | None) -> dict:
    import numpy as np
    import torch

    from openretina_core import (
        LongCycler,
        MoviesTrainTestSplit,
        ResponsesTrainTestSplit,
        multiple_movies_dataloaders,
    )

    default_threads = torch.get_num_threads()
    load_before = os.getloadavg()[0]
    cfg = {**SCENARIOS[name], **(SMALL[name] if small else {})}
    c, t, h, w, n_sessions = cfg["channels"], cfg["frames"], cfg["h"], cfg["w"], cfg["sessions"]
    neurons = cfg["neurons"] or [
        3700 // n_sessions + (1 if i < 3700 % n_sessions else 0) for i in range(n_sessions)
    ]
    buffer = np.empty((t, c, h, w), dtype=np.float32)
    for start in range(0, t, 20_000):  # touch every page
        buffer[start : start + 20_000] = np.float32(start % 7)
    movie = MoviesTrainTestSplit(train=buffer.transpose(1, 0, 2, 3), norm_mean=0.0, norm_std=1.0)
    rng = np.random.default_rng(0)
    responses = {
        f"s{i:02d}": ResponsesTrainTestSplit(train=rng.random((t, n), dtype=np.float32).T)
        for i, n in enumerate(neurons)
    }
    clip = 90 if name.startswith("mahes") else 150
    loaders = multiple_movies_dataloaders(
        responses,
        movie,
        train_chunk_size=CHUNK,
        batch_size=BATCH,
        clip_length=clip,
        num_val_clips=20 if clip == 90 else 15,
    )
    cycler = LongCycler(loaders["train"], shuffle=True, seed=0)
    steps: list[str] = []
    total_bytes = 0
    for session, (inputs, targets) in cycler:
        steps.append(session)
        total_bytes += (inputs.numel() + targets.numel()) * 4

    def ours() -> float:
        if ours_threads is not None:
            torch.set_num_threads(ours_threads)
        start = time.perf_counter()
        for _session, _batch in cycler:
            pass
        elapsed = time.perf_counter() - start
        torch.set_num_threads(default_threads)
        return elapsed

    movie_t = torch.from_numpy(buffer)
    resp_t = {key: torch.from_numpy(np.ascontiguousarray(r.train.T)) for key, r in responses.items()}
    batches = [torch.zeros((BATCH * CHUNK, c, h, w)) for _ in range(2)]
    targets2 = {
        key: [torch.zeros((BATCH * CHUNK, r.shape[1])) for _ in range(2)] for key, r in resp_t.items()
    }
    gen = torch.Generator().manual_seed(0)
    index_sets = [
        (torch.randint(0, t - CHUNK, (BATCH,), generator=gen)[:, None] + torch.arange(CHUNK)).reshape(-1)
        for _ in steps
    ]

    def plain(threads: int) -> float:
        torch.set_num_threads(threads)
        start = time.perf_counter()
        for step, (session, idx) in enumerate(zip(steps, index_sets)):
            torch.index_select(movie_t, 0, idx, out=batches[step % 2])
            torch.index_select(resp_t[session], 0, idx, out=targets2[session][step % 2])
        elapsed = time.perf_counter() - start
        torch.set_num_threads(default_threads)
        return elapsed

    variants = {"ours": ours, "plain_1_thread": lambda: plain(1), "plain_2_threads": lambda: plain(2)}
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    os.kill(busy.pid, signal.SIGSTOP)
    rates: dict[str, dict[str, list[float]]] = {"unloaded": {}, "loaded": {}}
    ratios: dict[str, list[float]] = {"unloaded": [], "loaded": []}
    foreign: dict[str, list[float]] = {"unloaded": [], "loaded": []}
    try:
        for r in range(rounds):
            for load in ("unloaded", "loaded") if r % 2 == 0 else ("loaded", "unloaded"):
                os.kill(busy.pid, signal.SIGCONT if load == "loaded" else signal.SIGSTOP)
                time.sleep(0.2)
                names = list(variants)
                names = names[r % 3 :] + names[: r % 3]  # rotate the order within the round
                got, others = foreign_cores(
                    lambda names=names: {key: total_bytes / variants[key]() / 1e9 for key in names}, busy.pid
                )
                foreign[load].append(others)
                for key, value in got.items():
                    rates[load].setdefault(key, []).append(value)
                ratios[load].append(got["ours"] / max(got["plain_1_thread"], got["plain_2_threads"]))
    finally:
        os.kill(busy.pid, signal.SIGCONT)
        busy.kill()
        busy.wait()
    result: dict = {
        "scenario": name,
        "load_average_1min_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "movie_shape": [c, t, h, w],
        "sessions": n_sessions,
        "epoch_batches": len(steps),
        "epoch_gb": round(total_bytes / 1e9, 3),
        "torch_threads_default": default_threads,
        "ours_caller_threads": ours_threads if ours_threads is not None else default_threads,
    }
    for load in ("unloaded", "loaded"):
        result[load] = {
            **{f"{key}_gb_per_s": summary(values, 2) for key, values in rates[load].items()},
            "ratio_to_best_plain": summary(ratios[load]),
            "ratio_per_round": [round(v, 3) for v in ratios[load]],
            "foreign_cores_busy_per_round": [round(v, 2) for v in foreign[load]],
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="reduced sizes for a quick run")
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), help="run one scenario in this process")
    parser.add_argument("--rounds", type=int, default=9, help="interleaved rounds (medians reported)")
    parser.add_argument("--ours-threads", type=int, help="torch threads the caller sets for our epochs")
    args = parser.parse_args()
    extra = ["--rounds", str(args.rounds)] + (["--small"] if args.small else [])
    extra += ["--ours-threads", str(args.ours_threads)] if args.ours_threads else []
    if args.scenario:
        print(json.dumps(run_scenario(args.scenario, args.small, args.rounds, args.ours_threads)))
        return
    results = []
    for name in SCENARIOS:
        cmd = [sys.executable, __file__, "--scenario", name, *extra]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    document = {
        "benchmark": "contention",
        "small": args.small,
        "cores": os.cpu_count(),
        "competing_load": "one `python -c 'while True: pass'` process, SIGSTOP/SIGCONT between measurements",
        "targets": {"ratio_to_best_plain_min": 0.8},
        "results": results,
    }
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
