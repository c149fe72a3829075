"""Benchmark: time to first batch and peak memory of the Höfling 2024 loaders on a realistic response file.

Writes, in the published layout:

* a response HDF5 of 67 fields with ~7,900 ROIs in total (before quality filtering), natural, chirp and
  moving-bar traces of ~5,000 samples at 7.8 Hz each (inferred spikes, raw, smoothed and preprocessed traces;
  ``_traces_times`` in half of the fields, ``_t0``/``_dt`` in the others), 123 natural triggers, 20 clip
  orders, per-ROI quality indices drawn so that about 45% of the ROIs pass the default filters (~2.4 GB);
* the 18x16 and 72x64 stimulus pickles (train ``(2, 16200, H, W)``, test ``(2, 750, H, W)`` float32).

Then, in fresh subprocesses (``--repeat`` times each, median and min reported), with a warm page cache:

* 18x16: seconds from calling ``get_all_responses`` + ``get_all_movies`` + ``natmov_dataloaders_v2`` (the
  published 15 validation clips, batch 64) to the first train batch, and the peak RSS above the import
  baseline (``VmHWM`` after importing torch, h5py, openretina_core and the plugin);
* 72x64: the same, to show that the high-resolution loaders build within 2 GiB above the baseline.

Targets (issue 6): first batch <= 2 s, <= 1 GiB above the import baseline (18x16); 72x64 within 2 GiB.
These calls read into memory (the prepared store is not involved). The first batch as a user sees it through
``get_dataloaders``, with the store's first and later loads too, is measured by ``bench_first_batch.py``.
Prints one JSON object. Usage::

    python benchmarks/bench_hoefling_loading.py [--workdir DIR] [--keep] [--repeat 3] [--small]
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

N_FIELDS = 67
TOTAL_ROIS = 7_900
N_SAMPLES = 5_000
IMAGING_DT = 0.128  # 7.8125 Hz
N_SEQUENCES = 20

CHILD = r"""
import json, resource, sys, time
import h5py, numpy, torch
import openretina_core
from openretina_hoefling_2024.dataloaders import natmov_dataloaders_v2
from openretina_hoefling_2024.responses import get_all_responses
from openretina_hoefling_2024.stimuli import get_all_movies

data_dir, resolution = sys.argv[1], sys.argv[2]
baseline = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
start = time.perf_counter()
responses = get_all_responses(data_dir=data_dir)
t_responses = time.perf_counter()
movies = get_all_movies(data_dir=data_dir, resolution=resolution)
t_movies = time.perf_counter()
loaders = natmov_dataloaders_v2(
    responses, movies, validation_clip_indices=[0, 4, 10, 11, 18, 30, 45, 62, 67, 77, 79, 80, 81, 83, 95], batch_size=64
)
t_loaders = time.perf_counter()
first = sorted(loaders["train"])[0]
inputs, targets = next(iter(loaders["train"][first]))
end = time.perf_counter()
peak = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1])
print(json.dumps({
    "seconds_to_first_batch": end - start,
    "seconds_responses": t_responses - start,
    "seconds_movies": t_movies - t_responses,
    "seconds_build_loaders": t_loaders - t_movies,
    "seconds_first_batch": end - t_loaders,
    "baseline_rss_mib": baseline / 1024,
    "peak_rss_mib": peak / 1024,
    "peak_above_baseline_mib": (peak - baseline) / 1024,
    "sessions": len(responses),
    "neurons": int(sum(r.n_neurons for r in responses.values())),
    "movie_copies_made": loaders.data_info["movie_copies_made"],
    "batch_inputs": list(inputs.shape),
    "batch_targets": list(targets.shape),
}))
"""


def _field_sizes(rng, n_fields: int, total: int):
    sizes = rng.integers(70, 170, n_fields).astype(float)
    sizes = (sizes / sizes.sum() * total).round().astype(int)
    sizes[-1] += total - sizes.sum()
    return sizes


def write_responses(path: Path, n_fields: int, total_rois: int, n_samples: int, seed: int = 0) -> dict:
    import h5py
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes = _field_sizes(rng, n_fields, total_rois)
    natural_triggers = 8.0 + 4.97 * np.arange(123)
    chirp_starts = 5.0 + 33.5 * np.arange(18)
    triggers = {
        "natural": natural_triggers,
        "chirp": np.sort(np.concatenate([chirp_starts, chirp_starts + 5.0])),
        "mb": 5.0 + 4.1 * np.arange(24 * 6),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        for index, n in enumerate(sizes):
            eye = "left" if index % 2 else "right"
            g = f.create_group(
                f"session_{index + 1}_ventral{1 if eye == 'left' else 2}_2020{index % 12 + 1:02d}01"
            )
            rows = rng.integers(0, 64, n)
            t0 = 2.0 + rows * 0.002
            for stim in ("natural", "chirp", "mb"):
                spikes = rng.gamma(0.5, 1.0, (n, n_samples)).astype(np.float32)
                g.create_dataset(f"{stim}_inferred_spikes", data=spikes)
                g.create_dataset(f"{stim}_raw_traces", data=spikes * 2 + 1)
                g.create_dataset(f"{stim}_smoothed_traces", data=np.ones_like(spikes))
                g.create_dataset(f"{stim}_preprocessed_traces", data=spikes - spikes.mean())
                g.create_dataset(
                    f"{stim}_trigger_times", data=np.tile(triggers[stim], (n, 1))
                )  # one row per ROI
                if index % 2:
                    g.create_dataset(f"{stim}_traces_t0", data=t0)
                    g.create_dataset(f"{stim}_traces_dt", data=np.full(n, IMAGING_DT))
                else:
                    g.create_dataset(
                        f"{stim}_traces_times", data=t0[:, None] + IMAGING_DT * np.arange(n_samples)
                    )
            types = rng.integers(1, 47, n)
            confidences = rng.dirichlet(np.full(46, 0.3), n) * 0.1
            confidences[np.arange(n), types - 1] = rng.uniform(0.1, 0.95, n)
            g.create_dataset("roi_ids", data=np.arange(1, n + 1))
            g.create_dataset("group_assignment", data=types)
            g.create_dataset("group_confidences", data=confidences)
            g.create_dataset("d_qi", data=rng.uniform(0, 1, n))
            g.create_dataset("chirp_qi", data=rng.uniform(0, 0.7, n))
            mask = np.ones((64, 64), np.int32)
            ids = np.arange(1, n + 1)
            mask.reshape(-1)[rng.choice(4096, n, replace=False)] = -ids
            g.create_dataset("roi_mask", data=mask)
            g.attrs["eye"] = eye  # per-field values are group attributes, as published
            g.attrs["scan_sequence_idx"] = np.int64(index % N_SEQUENCES)
    return {
        "fields": int(n_fields),
        "rois": int(sizes.sum()),
        "samples": n_samples,
        "bytes": path.stat().st_size,
    }


def write_movie(path: Path, height: int, width: int, seed: int = 0) -> int:
    import numpy as np

    rng = np.random.default_rng(seed)
    content = {
        "train": rng.standard_normal((2, 16200, height, width), dtype=np.float32),
        "test": rng.standard_normal((2, 750, height, width), dtype=np.float32),
        "random_sequences": np.stack([rng.permutation(108) for _ in range(N_SEQUENCES)], 1).astype(np.uint8),
        "movie_stats": {"dichromatic": {"mean": np.array([36.98]), "sd": np.array([36.98])}},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(content, handle, protocol=4)
    return path.stat().st_size


def warm(path: Path) -> None:
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass


def measure(data_dir: Path, resolution: str, repeat: int) -> dict:
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(data_dir), resolution],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "OPENRETINA_NO_PROGRESS": "1"},
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    summary = {k: v for k, v in runs[0].items() if not isinstance(v, float)}
    for key in ("seconds_to_first_batch", "peak_above_baseline_mib", "seconds_responses", "seconds_movies"):
        values = [r[key] for r in runs]
        summary[key] = {"median": round(statistics.median(values), 3), "min": round(min(values), 3)}
    for key in ("seconds_build_loaders", "seconds_first_batch", "baseline_rss_mib", "peak_rss_mib"):
        summary[key] = round(statistics.median(r[key] for r in runs), 3)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--workdir", type=Path, default=None, help="where to write the files (default: a temp dir)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the written files (reused on the next run)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="8 fields, 900 ROIs: a quick smoke run")
    parser.add_argument("--skip-72x64", action="store_true")
    parser.add_argument("--write-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_hoefling_"))
    n_fields, total = (8, 900) if args.small else (N_FIELDS, TOTAL_ROIS)
    responses = workdir / "responses" / "rgc_natstim_2024-08-14.h5"
    movies = {
        "18x16": workdir / "stimuli" / "rgc_natstim_18x16_joint_normalized_2024-01-11.pkl",
        "72x64": workdir / "stimuli" / "rgc_natstim_72x64_joint_normalized_2024-10-11.pkl",
    }
    wanted = ["18x16"] if args.skip_72x64 else ["18x16", "72x64"]
    if args.write_only:
        written = {}
        if not responses.exists():
            written["responses"] = write_responses(responses, n_fields, total, N_SAMPLES)
        for res in wanted:
            if not movies[res].exists():
                h, w = (int(v) for v in res.split("x"))
                written[f"movie_{res}_bytes"] = write_movie(movies[res], h, w)
        print(json.dumps(written))
        return
    report: dict = {"workdir": str(workdir), "python": sys.version.split()[0]}
    try:
        start = time.perf_counter()
        # Files are written by a child process: the measured processes are started from this small one, and
        # Linux carries a parent's peak RSS into a forked child's maxrss.
        command = [sys.executable, __file__, "--write-only", "--workdir", str(workdir)]
        command += ["--small"] * args.small + ["--skip-72x64"] * args.skip_72x64
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        report["written"] = json.loads(out.stdout.strip().splitlines()[-1])
        report["write_seconds"] = round(time.perf_counter() - start, 1)
        report["response_file_bytes"] = responses.stat().st_size
        for path in (responses, *(movies[r] for r in wanted)):
            warm(path)
        for res in wanted:
            report[res] = measure(workdir, res, args.repeat)
        first = report["18x16"]
        report["targets"] = {
            "first_batch_le_2s": first["seconds_to_first_batch"]["median"] <= 2.0,
            "peak_above_baseline_le_1GiB": first["peak_above_baseline_mib"]["median"] <= 1024,
        }
        if "72x64" in report:
            report["targets"]["72x64_within_2GiB"] = (
                report["72x64"]["peak_above_baseline_mib"]["median"] <= 2048
            )
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
