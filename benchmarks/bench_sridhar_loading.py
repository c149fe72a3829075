"""Benchmark: the Sridhar 2025 natural-movie loader on a realistic synthetic session, beside openretina's own.

One session ("01") is written in the published layout: 600 padded images (350 x 300 uint8) in
``stimuli_padded_4/``, a fixation file of 5,100 test lines plus 20 trials x 7,650 lines, and a response pickle
for 366 cells (20 test repeats). Where the sizes come from: the 5,100 test frames, the 350 x 300 images, the
20 trials (two seeds of ten, trials 0/9 and 10/19 paired) and session 01's at least 366 cells (its published
exclusion list names cell 365; 231 remain) are openretina's constants and configs; the trial length (7,650
frames = 90 s at 85 Hz) and the image count are assumptions (no source gives them). The rendered movie is
(5,100 + 153,000) x 80 x 90 float32 = 4.5 GB. ``--frames-per-trial`` and ``--images`` change them.

Each measurement runs in a fresh interpreter (page cache warm for the source files), and each times the call
to the first training batch and to the end of the first training epoch (one pass, 76 batches by default):

* ours, cold: empty prepared store, ``get_sridhar_dataloaders`` (renders every frame into the store: uint8
  frames of the uint8 images, decoded to float32 per batch; ``--float32`` adds a cold load storing float32);
* ours, second load: the same call with the store filled (maps the entries);
* both again with ``movie_reads="file"`` (batches read from the entry's file into pooled buffers: no mapped
  movie pages in RSS);
* openretina (``frame_movie_loader`` of the installed openretina, run from ``.venv-openretina`` when it exists).
  openretina renders frames per sample when a batch is drawn, so its time to the first batch contains almost
  no rendering; its epoch contains all of it. Both figures are reported beside each other.

* the floor: reading the response pickle's bytes and unpickling it, what any loader of the session pays
  before its first batch (openretina too).

Peak RSS is ``VmHWM`` of /proc/self/status (file pages mapped into the process count; ``getrusage`` maxrss
would carry the parent's peak across exec); the sampled peak of anonymous memory (``RssAnon``, every 10 ms) is
reported beside it. Targets (issue 15): cold >= 20x faster than openretina,
second load <= 1 s, peak RSS <= 1.5 GiB and below openretina's. Prints one JSON object. Usage::

    python benchmarks/bench_sridhar_loading.py [--workdir DIR] [--keep] [--frames-per-trial 7650] [--images 600]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

SESSION = "01"
CELLS, TRIALS, TEST_FRAMES, REPEATS = 366, 20, 5100, 20
BATCH, CHUNK, NUM_OF_FRAMES = 16, 100, 30
BATCHES_TIMED = 100
REPO = Path(__file__).resolve().parents[1]
OPENRETINA_VENV = REPO / ".venv-openretina"
FIXATIONS = "fixations/complete_fixations_seed_2022and2023_s4_fixed.txt"
RESPONSES = "responses/cell_responses_01_fixation_movie.pkl"


def write_session(root: Path, frames_per_trial: int, n_images: int, seed: int = 0) -> dict[str, Any]:
    """The natural-movie folder: images, a gaze-like fixation file (scenes of 100-250 frames, a saccade about
    every 25 frames, one-pixel drift in between) and the pickle."""
    import numpy as np
    from openretina_sridhar_2025.sample import write_fixation_file, write_images, write_responses

    rng = np.random.default_rng(seed)
    folder = root / "natural_movie"
    write_images(folder / "stimuli_padded_4", rng.integers(0, 256, size=(n_images, 350, 300), dtype=np.uint8))
    lines = TEST_FRAMES + TRIALS * frames_per_trial
    starts = np.cumsum(rng.integers(100, 251, lines // 100 + 2))
    scenes = np.searchsorted(starts, np.arange(lines), side="right")
    image = rng.integers(0, n_images, scenes.max() + 1)[scenes]
    flag = rng.integers(0, 2, scenes.max() + 1)[scenes]
    saccade = np.searchsorted(
        np.cumsum(rng.integers(15, 36, lines // 15 + 2)), np.arange(lines), side="right"
    )
    cx = rng.integers(60, 191, saccade.max() + 1)[saccade] + rng.integers(-1, 2, lines)
    cy = rng.integers(35, 166, saccade.max() + 1)[saccade] + rng.integers(-1, 2, lines)
    write_fixation_file(folder / FIXATIONS, image, cx, cy, flag)
    train = rng.integers(0, 3, size=(CELLS, frames_per_trial, TRIALS), dtype=np.uint8).astype(np.float32)
    test = rng.integers(0, 3, size=(CELLS, TEST_FRAMES, REPEATS), dtype=np.uint8).astype(np.float32)
    write_responses(folder / RESPONSES, train, test, [2022, 2023], {2022: range(10), 2023: range(10, 20)})
    rendered = lines * 80 * 90 * 4
    return {
        "lines": lines,
        "images": n_images,
        "rendered_movie_bytes": rendered,
        "source_bytes": sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()),
    }


class AnonPeak:
    """The peak of ``RssAnon`` (anonymous resident memory), sampled every 10 ms in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @staticmethod
    def anon_bytes() -> int:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.anon_bytes())
            time.sleep(0.01)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, self.anon_bytes())


def _first_epoch(loader: Any, start: float) -> dict[str, Any]:
    """Seconds from ``start`` to the first training batch and to the end of the first epoch (one pass of the
    loader), and milliseconds per batch after the first."""
    iterator = iter(loader)
    inputs, targets = next(iterator)
    first = time.perf_counter()
    count = 1 + sum(1 for _ in iterator)
    end = time.perf_counter()
    return {
        "seconds_to_first_batch": round(first - start, 3),
        "seconds_to_first_epoch_end": round(end - start, 3),
        "batches_per_epoch": count,
        "ms_per_batch": round((end - first) / max(1, count - 1) * 1e3, 2),
        "batch": [list(inputs.shape), list(targets.shape)],
    }


def _rss_bytes() -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _peak_rss_bytes() -> int:
    """This process's own peak (``VmHWM``): ``getrusage`` maxrss would start at the parent's peak, which Linux
    carries across fork and exec (the parent holds the files it just wrote)."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def child_ours(data_dir: str, options: dict[str, Any]) -> dict[str, Any]:

    import torch  # noqa: F401
    from openretina_sridhar_2025 import get_sridhar_dataloaders

    import openretina_core  # noqa: F401

    baseline = _rss_bytes()
    memory = AnonPeak()
    start = time.perf_counter()
    loaders = get_sridhar_dataloaders(
        batch_size=BATCH, data_dir=data_dir, time_chunk_size=CHUNK, num_of_frames=NUM_OF_FRAMES, **options
    )
    built = time.perf_counter()
    epoch = _first_epoch(loaders["train"][SESSION], start)
    return {
        "options": options,
        "seconds_to_loaders": round(built - start, 3),
        **epoch,
        "import_baseline_rss_bytes": baseline,
        "peak_rss_bytes": _peak_rss_bytes(),
        "peak_anon_bytes": memory.stop(),
        "movie_copies_made": loaders.data_info["movie_copies_made"],
    }


def child_openretina(data_dir: str) -> dict[str, Any]:

    import torch
    from openretina.data_io.sridhar_2025.dataloaders import frame_movie_loader

    sys.path.insert(0, str(REPO / "plugins" / "openretina-sridhar-2025"))
    from openretina_sridhar_2025.constants import EXCLUDED_CELLS

    baseline = _rss_bytes()
    memory = AnonPeak()
    torch.manual_seed(0)
    start = time.perf_counter()
    loaders = frame_movie_loader(
        files={SESSION: RESPONSES},
        fixation_files={SESSION: FIXATIONS},
        big_crops={SESSION: [35, 35, 55, 55]},
        basepath=str(Path(data_dir) / "natural_movie"),
        batch_size=BATCH,
        time_chunk_size=CHUNK,
        num_of_frames=NUM_OF_FRAMES,
        num_of_layers=1,
        excluded_cells={SESSION: list(EXCLUDED_CELLS["natural_movie"][SESSION])},
        frame_file="_img_",
        img_dir_name="stimuli_padded_4",
        full_img_w=350,
        full_img_h=300,
        img_w=200,
        img_h=150,
        padding=50,
        get_locations=False,
    )
    built = time.perf_counter()
    epoch = _first_epoch(loaders["train"][SESSION], start)
    return {
        "seconds_to_loaders": round(built - start, 3),
        **epoch,
        "import_baseline_rss_bytes": baseline,
        "peak_rss_bytes": _peak_rss_bytes(),
        "peak_anon_bytes": memory.stop(),
    }


def child_floor(data_dir: str) -> dict[str, Any]:
    """What every loader of this session pays before its first batch, whatever it renders: reading the response
    pickle's bytes, and unpickling it through the restricted unpickler (fresh interpreter, warm page cache)."""
    from openretina_core.data import load_pickle

    path = Path(data_dir) / "natural_movie" / RESPONSES
    start = time.perf_counter()
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass
    read = time.perf_counter() - start
    start = time.perf_counter()
    load_pickle(path)
    return {
        "response_pickle_bytes": path.stat().st_size,
        "seconds_to_read_the_pickle": round(read, 3),
        "seconds_to_unpickle_it": round(time.perf_counter() - start, 3),
    }


def run_child(
    python: str, kind: str, data_dir: str, cache: str, options: dict[str, Any] | None = None
) -> dict[str, Any]:
    env = {**os.environ, "OPENRETINA_NO_PROGRESS": "1", "OPENRETINA_CACHE_DIR": cache}
    command = [python, __file__, "--child", kind, data_dir, json.dumps(options or {})]
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child {kind} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", help="folder for the files and the store (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the written files")
    parser.add_argument("--frames-per-trial", type=int, default=7650)
    parser.add_argument("--images", type=int, default=600)
    parser.add_argument("--no-openretina", action="store_true", help="skip openretina's loader")
    parser.add_argument(
        "--float32",
        action="store_true",
        help="also a cold load storing float32 frames (store_dtype='float32')",
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, data_dir, options = args.child
        children = {
            "ours": lambda: child_ours(data_dir, json.loads(options)),
            "floor": lambda: child_floor(data_dir),
        }
        print(json.dumps(children.get(kind, lambda: child_openretina(data_dir))()))
        return
    work = Path(args.workdir or tempfile.mkdtemp(prefix="bench_sridhar_"))
    data, cache = work / "data", work / "cache"
    try:
        sizes = write_session(data, args.frames_per_trial, args.images)
        result: dict[str, Any] = {
            "session": {
                "cells": CELLS,
                "trials": TRIALS,
                "frames_per_trial": args.frames_per_trial,
                "test_frames": TEST_FRAMES,
                **sizes,
            },
            "batch_size": BATCH,
            "time_chunk_size": CHUNK,
            "num_of_frames": NUM_OF_FRAMES,
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg()[0],
        }
        runs = {"": {}, "_file_reads": {"movie_reads": "file"}}
        if args.float32:
            runs["_float32"] = {"store_dtype": "float32"}
        for suffix, options in runs.items():
            shutil.rmtree(cache, ignore_errors=True)
            result[f"ours_cold{suffix}"] = run_child(sys.executable, "ours", str(data), str(cache), options)
            if suffix != "_float32":
                result[f"ours_second_load{suffix}"] = run_child(
                    sys.executable, "ours", str(data), str(cache), options
                )
        result["floor"] = run_child(sys.executable, "floor", str(data), str(cache))
        openretina_python = OPENRETINA_VENV / "bin" / "python"
        if not args.no_openretina and openretina_python.exists():
            result["openretina"] = run_child(str(openretina_python), "openretina", str(data), str(cache))
            theirs, cold = result["openretina"], result["ours_cold"]
            for what in ("first_batch", "first_epoch_end"):
                key = f"seconds_to_{what}"
                result[f"cold_speedup_vs_openretina_to_{what}"] = round(theirs[key] / cold[key], 3)
            result["per_batch_speedup_vs_openretina"] = round(
                theirs["ms_per_batch"] / result["ours_second_load"]["ms_per_batch"], 1
            )
        gib = 1.5 * 2**30
        result["targets"] = {
            "cold_first_batch>=20x_openretina": result.get("cold_speedup_vs_openretina_to_first_batch", 0)
            >= 20,
            "cold_first_epoch_end>=20x_openretina": result.get(
                "cold_speedup_vs_openretina_to_first_epoch_end", 0
            )
            >= 20,
            "second_load_first_batch_s<=1": result["ours_second_load"]["seconds_to_first_batch"] <= 1.0,
            "cold_peak_rss<=1.5GiB": result["ours_cold"]["peak_rss_bytes"] <= gib,
            "cold_peak_rss<=1.5GiB_file_reads": result["ours_cold_file_reads"]["peak_rss_bytes"] <= gib,
            "cold_peak_rss_below_openretina": "openretina" in result
            and result["ours_cold"]["peak_rss_bytes"] < result["openretina"]["peak_rss_bytes"],
        }
        result["load_average_after"] = os.getloadavg()[0]
        print(json.dumps(result, indent=1))
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
