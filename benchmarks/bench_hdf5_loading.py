"""Benchmark: time to first batch and peak memory of the generic HDF5 loader (``get_dataloaders("hdf5", ...)``).

Writes, in a temporary folder, 10 sessions in the generic layout sharing six float32 stimuli of 2x36x32 pixels
in ``stimuli/``: four training stimuli of 7,500 frames and two test stimuli of 1,500 (about 0.3 GB of unique
stimulus data), each session ``session_<k>.h5`` with ``responses_<name>`` of 32-60 cells and
``session_info/celltypes``. It warms the page cache by reading every file once, then measures in fresh
subprocesses (``--repeat`` times, median reported): seconds from the ``get_dataloaders`` call to the first train
batch, the import baseline RSS (after importing torch, h5py, openretina_core and the plugin's loader modules and
discovering the plugins) and the peak RSS
(``VmHWM`` of /proc/self/status: the peak of this process's own memory map; ``getrusage`` maxrss would include the parent's peak, which Linux carries across fork and exec), and checks that every session's train loader gathers from one shared movie tensor.

Targets (issue 14): first batch <= 1 s; peak RSS <= import baseline + 1 GiB. The reference (openretina 1.1.1's
``h5_dataset_reader`` + ``multiple_movies_dataloaders``) makes one float copy of every stimulus per session;
``--reference-python PY`` measures it the same way with an interpreter that has openretina installed (e.g. the
``.venv-openretina`` of ``scripts/cross-check-openretina.sh``). Prints one JSON object. Usage::

    python benchmarks/bench_hdf5_loading.py [--workdir DIR] [--keep] [--repeat 3] [--reference-python PY]
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

N_SESSIONS = 10
CELLS = (32, 61)  # drawn from [32, 61)
FRAME = (2, 36, 32)  # (C, H, W)
TRAIN = {f"natural_{i}": 7_500 for i in range(4)}
TEST = {f"repeat_{i}": 1_500 for i in range(2)}
BATCH_SIZE = 32
LOADER = {"train_chunk_size": 50, "clip_length": 75, "num_val_clips": 20, "seed": 42}
TARGET_FIRST_BATCH_S = 1.0
TARGET_RSS_OVER_BASELINE = 1 << 30
GiB = float(1 << 30)


def write_dataset(root: Path, seed: int = 0) -> dict[str, Any]:
    """The folder in the generic layout; returns its sizes."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(seed)
    (root / "stimuli").mkdir(parents=True, exist_ok=True)
    frames = {**TRAIN, **TEST}
    for name, n_frames in frames.items():
        c, h, w = FRAME
        stimulus = np.lib.format.open_memmap(
            root / "stimuli" / f"{name}.npy", mode="w+", dtype=np.float32, shape=(c, n_frames, h, w)
        )
        for start in range(0, n_frames, 1500):  # block by block: the writer stays small too
            stop = min(n_frames, start + 1500)
            stimulus[:, start:stop] = rng.standard_normal((c, stop - start, h, w), dtype=np.float32)
        stimulus.flush()
        del stimulus
    cells = []
    for k in range(N_SESSIONS):
        n = int(rng.integers(*CELLS))
        cells.append(n)
        with h5py.File(root / f"session_{k:02d}.h5", "w") as h5:
            for name, n_frames in frames.items():
                h5.create_dataset(
                    f"responses_{name}", data=rng.poisson(0.4, (n, n_frames)).astype(np.float32)
                )
            h5.create_dataset("session_info/celltypes", data=rng.integers(0, 40, n))
    frame_bytes = 4 * FRAME[0] * FRAME[1] * FRAME[2]
    return {
        "sessions": N_SESSIONS,
        "cells": cells,
        "stimulus_bytes_unique": sum(frames.values()) * frame_bytes,
        "response_bytes": sum(cells) * sum(frames.values()) * 4,
        "file_bytes": sum(p.stat().st_size for p in root.rglob("*") if p.is_file()),
    }


def warm_page_cache(root: Path) -> float:
    """Read every file once so the measurement sees a warm page cache; returns the throughput (GB/s)."""
    start = time.perf_counter()
    total = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        with open(path, "rb", buffering=0) as fh:
            while chunk := fh.read(64 << 20):
                total += len(chunk)
    return total / 1e9 / (time.perf_counter() - start)


def rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in a fresh interpreter: import, then build the loaders and fetch the first train batch."""

    import h5py  # noqa: F401
    import torch  # noqa: F401

    test_names = sorted(TEST)
    if spec["reference"]:
        from openretina.data_io.base_dataloader import multiple_movies_dataloaders
        from openretina.data_io.h5_dataset_reader import load_responses, load_stimuli

        baseline = rss_bytes()
        start = time.perf_counter()
        movies = load_stimuli(spec["data_dir"], test_names, list(FRAME), None, None)
        responses = load_responses(spec["data_dir"], test_names)
        loaders: Any = multiple_movies_dataloaders(responses, movies, batch_size=BATCH_SIZE, **LOADER)
        copies = None
    else:
        import openretina_hdf5.dataloaders  # noqa: F401  (the loader code, as the other benchmarks import it)

        import openretina_core as orc
        import openretina_core.data.registered

        orc.list_datasets()  # plugin discovery, once per process
        baseline = rss_bytes()
        start = time.perf_counter()
        loaders = orc.get_dataloaders(
            "hdf5", data_dir=spec["data_dir"], test_names=test_names, batch_size=BATCH_SIZE, **LOADER
        )
        copies = loaders.data_info["movie_copies_made"]
    built = time.perf_counter()
    first_session = sorted(loaders["train"])[0]
    inputs, targets = next(iter(loaders["train"][first_session]))
    first_batch = time.perf_counter()
    peak = (
        int(
            next(
                line
                for line in Path("/proc/self/status").read_text().splitlines()
                if line.startswith("VmHWM")
            ).split()[1]
        )
        * 1024
    )  # kB on Linux
    result: dict[str, Any] = {
        "loader": "openretina 1.1.1" if spec["reference"] else "openretina_hdf5",
        "sessions": len(loaders["train"]),
        "seconds_to_loaders": round(built - start, 3),
        "seconds_to_first_batch": round(first_batch - start, 3),
        "batch_inputs": list(inputs.shape),
        "batch_targets": list(targets.shape),
        "import_baseline_rss_bytes": baseline,
        "peak_rss_bytes": peak,
    }
    if not spec["reference"]:
        train_movies = {s: dl.dataset.movie for s, dl in loaders["train"].items()}
        storages = {m.untyped_storage().data_ptr() for m in train_movies.values()}
        test_storages = {
            dl.dataset.movie.untyped_storage().data_ptr() for n in TEST for dl in loaders[n].values()
        }
        result.update(
            {
                "movie_copies_made": copies,
                "train_movie_storages": len(storages),
                "test_movie_storages": len(test_storages),
                "movie_bytes_held": loaders.data_info["movie_bytes"],
            }
        )
    return result


def prewarm_memory(nbytes: int) -> float:
    """Touch ``nbytes`` of RAM in a throwaway process; returns the seconds it took (see the Maheswaranathan
    benchmark: on a virtual machine the first touch of guest memory costs seconds per GB, which is not the
    loader's doing)."""
    code = f"import numpy as np; a = np.ones({nbytes // 4}, dtype=np.float32)"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def run_child(python: str, data_dir: Path, reference: bool) -> dict[str, Any]:
    env = {**os.environ, "OPENRETINA_NO_PROGRESS": "1"}
    spec = json.dumps({"data_dir": str(data_dir), "reference": reference})
    out = subprocess.run(
        [python, __file__, "--child", spec], env=env, capture_output=True, text=True, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def judge(result: dict[str, Any]) -> dict[str, Any]:
    over = result["peak_rss_bytes"] - result["import_baseline_rss_bytes"]
    return {
        **result,
        "peak_over_baseline_bytes": over,
        "peak_over_baseline_gib": round(over / GiB, 3),
        "meets_rss_target": over <= TARGET_RSS_OVER_BASELINE,
        "meets_time_target": result["seconds_to_first_batch"] <= TARGET_FIRST_BATCH_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", help="folder for the benchmark files (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the written files")
    parser.add_argument("--repeat", type=int, default=3, help="measurements to take (median reported)")
    parser.add_argument("--no-prewarm", action="store_true", help="do not pre-touch RAM before measuring")
    parser.add_argument("--reference-python", help="an interpreter with openretina 1.1.1, to measure it too")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.stdout.write(json.dumps(child(json.loads(args.child))) + "\n")
        return
    base = Path(args.workdir) if args.workdir else Path(tempfile.gettempdir())
    base.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench_hdf5_", dir=base))
    try:
        data_dir = workdir / "lab_data"
        start = time.perf_counter()
        sizes = write_dataset(data_dir)
        write_s = time.perf_counter() - start
        warm_gb_s = warm_page_cache(data_dir)
        prewarm_s: list[float] = []

        def measure(python: str, reference: bool, nbytes: int) -> dict[str, Any]:
            if not args.no_prewarm:
                prewarm_s.append(prewarm_memory(nbytes))
            return run_child(python, data_dir, reference)

        ours_bytes = sizes["stimulus_bytes_unique"] + sizes["response_bytes"] + (1 << 30)
        runs = sorted(
            (measure(sys.executable, False, ours_bytes) for _ in range(max(1, args.repeat))),
            key=lambda r: r["seconds_to_first_batch"],
        )
        ours = judge(runs[len(runs) // 2])
        ours["seconds_to_first_batch_all_runs"] = [r["seconds_to_first_batch"] for r in runs]
        ours["peak_over_baseline_gib_all_runs"] = [
            round((r["peak_rss_bytes"] - r["import_baseline_rss_bytes"]) / GiB, 3) for r in runs
        ]
        report: dict[str, Any] = {
            "benchmark": "hdf5 (generic lab format) loading",
            "layout": {
                "stimuli": {**TRAIN, **TEST},
                "test_names": sorted(TEST),
                "frame_chw": FRAME,
                **sizes,
            },
            "seconds_to_write_files": round(write_s, 1),
            "page_cache_read_gb_per_s": round(warm_gb_s, 2),
            "memory_prewarmed_before_each_run": not args.no_prewarm,
            "load_average_1min": os.getloadavg()[0],
            "openretina_hdf5": ours,
            "targets": {
                "seconds_to_first_batch": TARGET_FIRST_BATCH_S,
                "peak_rss": "<= import baseline + 1 GiB",
                "shared": "one train-movie storage for all sessions, no movie copy in the builder",
            },
            "meets_targets": bool(
                ours["meets_time_target"]
                and ours["meets_rss_target"]
                and ours["train_movie_storages"] == 1
                and ours["movie_copies_made"] == 0
            ),
        }
        if args.reference_python:
            reference_bytes = 8 << 30
            report["openretina_1_1_1"] = judge(measure(args.reference_python, True, reference_bytes))
        report["seconds_to_prewarm_memory"] = [round(t, 1) for t in prewarm_s]
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    finally:
        if args.keep:
            sys.stderr.write(f"kept {workdir}\n")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
