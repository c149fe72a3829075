"""Benchmark: one epoch of a dataset larger than this machine's memory, through the prepared store.

Writes a synthetic multi-session dataset of about 1.25x the machine's RAM straight into the prepared store of a
scratch cache folder (removed afterwards; skipped with a message when the disk lacks room), then, each in a
fresh interpreter:

* ``ours``: ``multiple_movies_dataloaders`` over the mapped sessions (``movie_reads="auto"``, which reads chunks
  from the files at this size) and one epoch through ``LongCycler``;
* ``plain_memmap``: the same chunks, in the same order, read with plain ``np.memmap`` slices into one batch
  array (what a hand-written loader does).

Reported: seconds, GB/s of movie bytes delivered, and peak RSS. Targets (issue 13): peak RSS <= 2 GiB and
throughput >= 0.7 of the plain memmap reading. Prints one JSON object. Usage::

    python benchmarks/bench_store_larger_than_memory.py [--fraction 1.25] [--sessions 10] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FRAME = (1, 50, 50)
CELLS = 16
CHUNK, BATCH, CLIP = 50, 32, 100
TARGET_RSS_GIB = 2.0
TARGET_RATIO = 0.7
PARAMS = {"benchmark": "larger_than_memory", "frame": list(FRAME)}


def write_dataset(cache: Path, sessions: int, frames: int) -> float:
    """Prepared entries written block by block (a repeating noise block: generating 30 GB of random numbers
    would dominate the run); returns the seconds taken."""
    import numpy as np

    from openretina_core.store import prepare_entry

    source = cache / "source.txt"
    source.write_text("synthetic")
    block = np.random.default_rng(0).standard_normal((4096, *FRAME)).astype(np.float32)
    started = time.perf_counter()
    for number in range(sessions):

        def build(writer: Any, number: int = number) -> None:
            movie = writer.allocate("movie_train", (frames, *FRAME), np.float32)
            for start in range(0, frames, len(block)):
                stop = min(frames, start + len(block))
                movie[start:stop] = block[: stop - start] + np.float32(number)
            writer.put("movie_test__test", block[:500])
            writer.put("responses_train", np.ones((frames, CELLS), np.float32))
            writer.put("responses_test__test", np.ones((500, CELLS), np.float32))
            writer.user_meta["session"] = {
                "movies": {
                    "tests": ["test"],
                    "stim_id": None,
                    "norm_mean": 0.0,
                    "norm_std": 1.0,
                    "random_sequences": False,
                },
                "responses": {"tests": ["test"], "by_trial": [], "stim_id": None, "session_kwargs": {}},
            }

        prepare_entry("larger_than_memory", f"s{number:02d}", params=PARAMS, sources=[source], build=build)
    return time.perf_counter() - started


def peak_rss_gib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def child_ours(sessions: int) -> dict[str, Any]:
    from openretina_core import LongCycler, multiple_movies_dataloaders
    from openretina_core.store import list_entries, open_entry, read_session

    movies, responses = {}, {}
    for usage in list_entries("larger_than_memory"):
        movie, response = read_session(open_entry(usage.path))
        movies[usage.session], responses[usage.session] = movie, response
    started = time.perf_counter()
    loaders = multiple_movies_dataloaders(
        responses,
        movies,
        train_chunk_size=CHUNK,
        batch_size=BATCH,
        clip_length=CLIP,
        num_val_clips=10,
        seed=1,
    )
    built = time.perf_counter() - started
    reads_file = all(dl.dataset._movie_chunks.reads_file for dl in loaders["train"].values())
    delivered, started = 0, time.perf_counter()
    for _, (inputs, _) in LongCycler(loaders["train"], shuffle=True, seed=3):
        delivered += inputs.numel() * 4
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "build_seconds": built,
        "gb_per_s": delivered / 1e9 / seconds,
        "movie_bytes_delivered": delivered,
        "reads_from_files": reads_file,
        "peak_rss_gib": peak_rss_gib(),
    }


def child_plain(sessions: int) -> dict[str, Any]:
    """The same number of chunks per session, from shuffled clip-aligned starts, read with np.memmap slices."""
    import numpy as np

    from openretina_core.store import list_entries

    maps = {
        usage.session: np.load(usage.path / "movie_train.npy", mmap_mode="r")
        for usage in list_entries("larger_than_memory")
    }
    rng = np.random.default_rng(3)
    plans = {}
    for session, movie in maps.items():
        starts = np.arange(0, movie.shape[0] - CHUNK, CHUNK)
        rng.shuffle(starts)
        plans[session] = starts[: int(len(starts) * 0.9) // BATCH * BATCH].reshape(-1, BATCH)
    batch = np.empty((BATCH, CHUNK, *FRAME), np.float32)
    delivered, started = 0, time.perf_counter()
    steps = max(len(p) for p in plans.values())
    for step in range(steps):
        for session, plan in plans.items():
            for b, start in enumerate(plan[step % len(plan)]):
                batch[b] = maps[session][start : start + CHUNK]
            delivered += batch.nbytes
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "gb_per_s": delivered / 1e9 / seconds,
        "movie_bytes_delivered": delivered,
        "peak_rss_gib": peak_rss_gib(),
    }


def drop_page_cache() -> bool:
    """Start each measurement from disk (root only; the JSON says whether it was done)."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def run_child(kind: str, cache: Path, sessions: int, frames: int = 0) -> dict[str, Any]:
    """Each step in its own interpreter, started from this small process (a forked child's maxrss starts at its
    parent's peak, so the writer must not be the parent of the measured processes)."""
    env = {**os.environ, "OPENRETINA_CACHE_DIR": str(cache), "OPENRETINA_NO_PROGRESS": "1"}
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, "--sessions", str(sessions), "--frames", str(frames)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fraction", type=float, default=1.25, help="dataset size as a multiple of RAM")
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--child", choices=["ours", "plain", "write"], help=argparse.SUPPRESS)
    parser.add_argument("--frames", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "write":
        cache = Path(os.environ["OPENRETINA_CACHE_DIR"])
        print(json.dumps({"seconds": write_dataset(cache, args.sessions, args.frames)}))
        return
    if args.child:
        result = child_ours(args.sessions) if args.child == "ours" else child_plain(args.sessions)
        print(json.dumps(result))
        return
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    total = int(ram * args.fraction)
    frame_bytes = 4 * FRAME[0] * FRAME[1] * FRAME[2]
    frames = total // args.sessions // (frame_bytes + 4 * CELLS) // CLIP * CLIP
    workdir = args.workdir or Path(tempfile.gettempdir())
    free = shutil.disk_usage(workdir).free
    report: dict[str, Any] = {
        "ram_bytes": ram,
        "dataset_bytes": frames * args.sessions * (frame_bytes + 4 * CELLS),
    }
    if free < report["dataset_bytes"] * 1.1:
        report["skipped"] = (
            f"{free / 1e9:.1f} GB free in {workdir}, {report['dataset_bytes'] * 1.1 / 1e9:.1f} GB needed"
        )
        print(json.dumps(report, indent=2))
        return
    scratch = Path(tempfile.mkdtemp(prefix="bench_ltm_", dir=workdir))
    try:
        report["write_seconds"] = round(run_child("write", scratch, args.sessions, frames)["seconds"], 1)
        report["frames_per_session"] = frames
        report["page_cache_dropped"] = drop_page_cache()
        report["ours"] = run_child("ours", scratch, args.sessions)
        drop_page_cache()
        report["plain_memmap"] = run_child("plain", scratch, args.sessions)
        ratio = report["ours"]["gb_per_s"] / report["plain_memmap"]["gb_per_s"]
        report["throughput_ratio"] = round(ratio, 3)
        report["targets"] = {
            "peak_rss_le_2GiB": report["ours"]["peak_rss_gib"] <= TARGET_RSS_GIB,
            "throughput_ge_0.7_plain": ratio >= TARGET_RATIO,
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
