"""Benchmark: load of every dataset plugin's realistic session through the prepared store, first and second.

For each dataset the realistic files of its own loading benchmark are written (Maheswaranathan: one published-size
session, 359,802 + 5,996 frames of 50x50, 3.7 GB; Höfling: the 67-field response file and the 18x16 movie;
Karamanlis: one mouse session of 0.4 GB of images composed to 14,400 frames; Goldin: one published-size
session, 3,000 + 30 images of 108x108 float32, 40 cells, 30 repeats; generic HDF5: 10 sessions sharing six
2-channel 36x32 stimuli of 33,000 frames in all, two of them test stimuli). Each measurement runs in a fresh
interpreter with a warm page cache, from the loading call to the first train batch, imports excluded:

* ``first``: the load that prepares the store (reads the published files, writes the entries);
* ``second``: the load after it (maps the entries; target <= 1 s), with the RSS above the import baseline.

Prints one JSON object. Usage::

    python benchmarks/bench_store_second_load.py [--small] [--repeat 3] [--only maheswaranathan_2023 ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TARGET_SECOND_LOAD_S = 1.0

CHILD = r"""
import json, resource, sys, time
name, data_dir, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
import h5py, torch  # noqa: F401  (imports excluded from the figures)
import openretina_core as orc
orc.list_datasets()
def rss():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
baseline = rss()
start = time.perf_counter()
loaders = orc.get_dataloaders(name, data_dir=data_dir, batch_size=32, **options)
session = sorted(loaders["train"])[0]
inputs, targets = next(iter(loaders["train"][session]))
elapsed = time.perf_counter() - start
print(json.dumps({
    "seconds_to_first_batch": elapsed,
    "rss_above_baseline_mib": (rss() - baseline) / 2**20,
    "peak_above_baseline_mib": (int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]) * 1024 - baseline) / 2**20,
    "sessions": len(loaders["train"]),
    "batch": list(inputs.shape),
    "movie_copies_made": loaders.data_info.get("movie_copies_made"),
}))
"""


def _module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_maheswaranathan(root: Path, small: bool) -> tuple[Path, dict[str, Any]]:
    bench = _module("bench_maheswaranathan_loading")
    sizes = bench.SMALL if small else bench.FULL
    path = root / "neural_code_data" / "ganglion_cell_data" / bench.SESSIONS[0] / "naturalscene.h5"
    bench.write_session(path, sizes["train"], sizes["test"], 9)
    return root / "neural_code_data", {}


def write_hoefling(root: Path, small: bool) -> tuple[Path, dict[str, Any]]:
    bench = _module("bench_hoefling_loading")
    n_fields, total = (8, 900) if small else (bench.N_FIELDS, bench.TOTAL_ROIS)
    bench.write_responses(root / "responses" / "rgc_natstim_2024-08-14.h5", n_fields, total, bench.N_SAMPLES)
    bench.write_movie(root / "stimuli" / "rgc_natstim_18x16_joint_normalized_2024-01-11.pkl", 18, 16)
    return root, {}


def write_karamanlis(root: Path, small: bool) -> tuple[Path, dict[str, Any]]:
    bench = _module("bench_karamanlis_fixation_movies")
    bench.write_session(root, gzip=False)
    return root, {"species": "mouse"}


def write_goldin(root: Path, small: bool) -> tuple[Path, dict[str, Any]]:
    bench = _module("bench_goldin_loading")
    bench.write_session(root / "mouse.h5", "float32")
    return root, {"species": "mouse"}


def write_hdf5(root: Path, small: bool) -> tuple[Path, dict[str, Any]]:
    bench = _module("bench_hdf5_loading")
    bench.write_dataset(root)
    return root, {"test_names": sorted(bench.TEST), **bench.LOADER}


WRITERS = {
    "maheswaranathan_2023": write_maheswaranathan,
    "hoefling_2024": write_hoefling,
    "karamanlis_2024": write_karamanlis,
    "goldin_2022": write_goldin,
    "hdf5": write_hdf5,
}


def warm(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                while handle.read(1 << 24):
                    pass


def run(name: str, data_dir: Path, options: dict[str, Any], cache: Path) -> dict[str, Any]:
    env = {**os.environ, "OPENRETINA_NO_PROGRESS": "1", "OPENRETINA_CACHE_DIR": str(cache)}
    env.pop("OPENRETINA_NO_STORE", None)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, name, str(data_dir), json.dumps(options)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{name}: benchmark child failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    result = {k: v for k, v in runs[0].items() if not isinstance(v, float)}
    for key in ("seconds_to_first_batch", "rss_above_baseline_mib", "peak_above_baseline_mib"):
        values = [r[key] for r in runs]
        result[key] = {
            "median": round(statistics.median(values), 3),
            "min": round(min(values), 3),
            "max": round(max(values), 3),
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="small files for a quick run")
    parser.add_argument("--repeat", type=int, default=3, help="second loads per dataset (median reported)")
    parser.add_argument("--only", nargs="*", default=sorted(WRITERS), choices=sorted(WRITERS))
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_store_"))
    report: dict[str, Any] = {"python": sys.version.split()[0], "small": args.small, "datasets": {}}
    try:
        for name in args.only:
            root = workdir / name
            started = time.perf_counter()
            data_dir, options = WRITERS[name](root / "data", args.small)
            written = time.perf_counter() - started
            warm(root / "data")
            cache = root / "cache"
            first = run(name, data_dir, options, cache)
            second = summary([run(name, data_dir, options, cache) for _ in range(args.repeat)])
            prepared = sum(p.stat().st_size for p in cache.rglob("*.npy"))
            report["datasets"][name] = {
                "write_seconds": round(written, 1),
                "source_bytes": sum(p.stat().st_size for p in (root / "data").rglob("*") if p.is_file()),
                "prepared_bytes": prepared,
                "first": {k: round(v, 3) if isinstance(v, float) else v for k, v in first.items()},
                "second": second,
                "second_load_le_1s": second["seconds_to_first_batch"]["median"] <= TARGET_SECOND_LOAD_S,
            }
            shutil.rmtree(root, ignore_errors=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
