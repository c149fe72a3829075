"""Benchmark: time to the first batch as a user sees it (issue 18, item 2), Maheswaranathan 2023 and Höfling 2024.

Writes each dataset's realistic files (the writers of ``bench_maheswaranathan_loading.py`` and
``bench_hoefling_loading.py``: one published-size Maheswaranathan session, 359,802 + 5,996 frames of 50x50, 3.7 GB;
the 67-field Höfling response file, 2.4 GB, and its 18x16 movie). Every run is a fresh interpreter; torch, h5py,
openretina_core and the plugin are imported before the clock starts; the clock runs from the
``openretina_core.get_dataloaders`` call to the first train batch in hand (reading, first touch of memory,
writing the store, building loaders, the first batch); the published files' pages are read into the page cache
before each run. Three cases, each what some user sees:

* ``a`` (first load): the prepared entries are removed first with the store's own ``clean_entries`` (outside
  the clock), so the run reads the published files and writes the store;
* ``b`` (every later load): the store prepared (and its files cached), the run maps it;
* ``c`` (store off, e.g. a read-only cache): ``prepared=False``, the published files are read into memory.

For each: median, min and max of ``--repeat`` runs (default 5), the peak RSS above the import baseline (the high-
water mark is reset after the imports), and the split of the time (reading the published files, writing the
store's arrays, checking them: hash and finiteness, building the loaders, the first batch, the rest: locating
files, keys, opening the entries). Targets (issue 18): Maheswaranathan <= 3 s, Höfling <= 2 s, held against all
three cases. ``--profile DIR`` writes a cProfile of one extra run per case. ``machine_floors``: on this machine,
in fresh interpreters, the time to read the published files from the page cache, to touch as much new memory as
the prepared session holds, to write that much into a new file and to hash it: no load can beat read + touch (store
off) or read + touch + write (first load). Prints one JSON object. Usage::

    python benchmarks/bench_first_batch.py [--small] [--repeat 5] [--only maheswaranathan_2023 hoefling_2024]
                                           [--cases a b c] [--workdir DIR] [--keep] [--profile DIR]
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
TARGETS_S = {"maheswaranathan_2023": 3.0, "hoefling_2024": 2.0}
BATCH_SIZE = {"maheswaranathan_2023": 32, "hoefling_2024": 64}
CASES = {"a": "first load (prepares the store)", "b": "later load (maps the store)", "c": "store off"}

# Where the time goes: (module, attribute, part). Each is wrapped by a timer in the child (re-entrant calls of
# the same part are counted once); what is left of the total is "other".
TIMED = {
    "maheswaranathan_2023": [
        ("openretina_maheswaranathan_2023.dataloaders", "load_stimuli_for_session", "read"),
        ("openretina_maheswaranathan_2023.dataloaders", "load_responses_for_session", "read"),
        ("openretina_maheswaranathan_2023.dataloaders", "load_all_stimuli", "read"),
        ("openretina_maheswaranathan_2023.dataloaders", "load_all_responses", "read"),
        ("openretina_maheswaranathan_2023.dataloaders", "multiple_movies_dataloaders", "build_loaders"),
    ],
    "hoefling_2024": [
        ("openretina_hoefling_2024.stimuli", "load_movies", "read"),
        ("openretina_hoefling_2024.responses", "load_responses", "read"),
        ("openretina_hoefling_2024.dataloaders", "natmov_dataloaders_v2", "build_loaders"),
    ],
}
TIMED_STORE = [
    ("openretina_core.store.sessions", "write_session", "write_store"),
    ("openretina_core.store.bundles", "write_bundle", "write_store"),  # many sessions in one entry (Höfling)
    ("openretina_core.store.writer.EntryWriter", "_finish", "check_store"),
    ("openretina_core.store.preparing", "_open_if_complete", "open_store"),
]

CHILD = r"""
import json, resource, sys, time
spec = json.loads(sys.argv[1])
import h5py, numpy, torch  # noqa: F401  (imports excluded from the figures)
import openretina_core as orc
orc.list_datasets()
import importlib
for module in spec["modules"]:
    importlib.import_module(module)
from openretina_core.store import clean_entries

def rss():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0

parts, depth = {}, {}
def timed(owner, attr, part):
    original = getattr(owner, attr)
    def wrapper(*args, **kwargs):
        depth[part] = depth.get(part, 0) + 1
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            depth[part] -= 1
            if depth[part] == 0:
                parts[part] = parts.get(part, 0.0) + time.perf_counter() - start
    setattr(owner, attr, wrapper)

for path, attr, part in spec["timed"]:
    module, _, cls = path.partition(":")
    owner = importlib.import_module(module)
    timed(getattr(owner, cls) if cls else owner, attr, part)

cleaned = clean_entries(spec["name"]) if spec["clean"] else 0
try:  # reset the high-water mark: the peak is the load's, not the imports'
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    peak_reset = True
except OSError:
    peak_reset = False
baseline = rss()
profiler = None
if spec["profile"]:
    import cProfile
    profiler = cProfile.Profile()
    profiler.enable()
start = time.perf_counter()
loaders = orc.get_dataloaders(spec["name"], data_dir=spec["data_dir"], batch_size=spec["batch_size"], **spec["options"])
t_loaders = time.perf_counter()
session = sorted(loaders["train"])[0]
inputs, targets = next(iter(loaders["train"][session]))
end = time.perf_counter()
if profiler is not None:
    profiler.disable()
    profiler.dump_stats(spec["profile"])
peak = int(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")).split()[1]) * 1024
parts["first_batch"] = end - t_loaders
parts["other"] = (end - start) - sum(parts.values())
print(json.dumps({
    "seconds_to_first_batch": end - start,
    "parts_s": {k: round(v, 4) for k, v in parts.items()},
    "peak_above_baseline_mib": (peak - baseline) / 2**20,
    "rss_after_mib": (rss() - baseline) / 2**20,
    "peak_reset_after_imports": peak_reset,
    "prepared_bytes_removed_before": cleaned,
    "sessions": len(loaders["train"]),
    "batch_inputs": list(inputs.shape),
    "batch_targets": list(targets.shape),
    "movie_copies_made": loaders.data_info.get("movie_copies_made"),
}))
"""

# What this machine's memory and page cache allow, in a fresh interpreter: the floor under a load's time.
FLOORS = r"""
import hashlib, json, os, sys, time
import numpy as np
files, nbytes, scratch = json.loads(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
block = np.ones(64 << 20, dtype=np.uint8)  # one reused, touched buffer
start = time.perf_counter()
read = 0
for path in files:
    with open(path, "rb", buffering=0) as fh:
        while n := fh.readinto(block):
            read += n
t_read = time.perf_counter() - start
start = time.perf_counter()
fresh = np.empty(nbytes, dtype=np.uint8)
fresh.fill(1)  # first touch of new anonymous memory, as a reader filling its buffer pays
t_touch = time.perf_counter() - start
del fresh
start = time.perf_counter()
with open(scratch, "wb") as fh:  # new page-cache pages, as writing the store pays
    for offset in range(0, nbytes, block.size):
        fh.write(block[: min(block.size, nbytes - offset)].data)
t_write = time.perf_counter() - start
os.unlink(scratch)
start = time.perf_counter()
digest = hashlib.sha256()
for offset in range(0, nbytes, block.size):
    digest.update(block[: min(block.size, nbytes - offset)].data)
t_hash = time.perf_counter() - start
print(json.dumps({
    "read_published_s": t_read, "read_gb_per_s": read / 1e9 / t_read,
    "touch_fresh_memory_s": t_touch, "touch_gb_per_s": nbytes / 1e9 / t_touch,
    "write_new_file_s": t_write, "write_gb_per_s": nbytes / 1e9 / t_write,
    "sha256_s": t_hash, "sha256_gb_per_s": nbytes / 1e9 / t_hash,
}))
"""


def floors(data_dir: Path, nbytes: int, scratch: Path, repeat: int) -> dict[str, Any]:
    """Median of ``repeat`` fresh-interpreter measurements of reading the published files (page cache, no new
    memory), touching ``nbytes`` of new memory, writing ``nbytes`` to a new file and hashing ``nbytes``; and the
    floors they put under the first load (read + touch + write) and the store off (read + touch)."""
    files = [str(p) for p in sorted(data_dir.rglob("*")) if p.is_file()]
    runs = []
    for _ in range(repeat):
        warm(data_dir)
        out = subprocess.run(
            [sys.executable, "-c", FLOORS, json.dumps(files), str(nbytes), str(scratch)],
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    result = {key: round(statistics.median(r[key] for r in runs), 3) for key in runs[0]}
    result["bytes"] = nbytes
    result["floor_store_off_s"] = round(result["read_published_s"] + result["touch_fresh_memory_s"], 3)
    result["floor_first_load_s"] = round(result["floor_store_off_s"] + result["write_new_file_s"], 3)
    result["free_memory_bytes_before"] = free_memory()
    return result


def prewarm_memory(nbytes: int) -> float:
    """Touch ``nbytes`` of new memory in a throwaway process (seconds taken). On a VM that hands freed memory
    back to its host, or with the page cache full, a load's first touch of memory can cost more than its reading
    (see ``machine_floors``); ``--prewarm`` makes that cost small so the figures are about the loader. Off by
    default: users pay it."""
    code = f"import numpy as np; a = np.empty({nbytes}, dtype=np.uint8); a.fill(1)"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - start


def free_memory() -> int:
    """``MemFree`` of ``/proc/meminfo``: fresh memory beyond it comes from evicting the page cache."""
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemFree:"):
                return int(line.split()[1]) * 1024
    return 0


def _module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_files(name: str, root: Path, small: bool) -> Path:
    """The dataset's realistic published files under ``root``; returns the ``data_dir`` to load from."""
    if name == "maheswaranathan_2023":
        bench = _module("bench_maheswaranathan_loading")
        sizes = bench.SMALL if small else bench.FULL
        path = root / "neural_code_data" / "ganglion_cell_data" / bench.SESSIONS[0] / "naturalscene.h5"
        if not path.exists():
            bench.write_session(path, sizes["train"], sizes["test"], 9)
        return root / "neural_code_data"
    bench = _module("bench_hoefling_loading")
    n_fields, total = (8, 900) if small else (bench.N_FIELDS, bench.TOTAL_ROIS)
    responses = root / "responses" / "rgc_natstim_2024-08-14.h5"
    movie = root / "stimuli" / "rgc_natstim_18x16_joint_normalized_2024-01-11.pkl"
    if not responses.exists():
        bench.write_responses(responses, n_fields, total, bench.N_SAMPLES)
    if not movie.exists():
        bench.write_movie(movie, 18, 16)
    return root


def warm(folder: Path) -> float:
    """Read every file under ``folder`` (pages into the page cache); returns the bytes read."""
    total = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with open(path, "rb", buffering=0) as handle:
                while chunk := handle.read(64 << 20):
                    total += len(chunk)
    return total


def load_average() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def run_child(name: str, data_dir: Path, cache: Path, case: str, profile: Path | None) -> dict[str, Any]:
    env = {**os.environ, "OPENRETINA_NO_PROGRESS": "1", "OPENRETINA_CACHE_DIR": str(cache)}
    env.pop("OPENRETINA_NO_STORE", None)
    package = "openretina_maheswaranathan_2023" if name.startswith("mahes") else "openretina_hoefling_2024"
    timed = TIMED[name] + ([] if case == "c" else TIMED_STORE)
    spec = {
        "name": name,
        "data_dir": str(data_dir),
        "batch_size": BATCH_SIZE[name],
        "options": {"prepared": case != "c"},
        "clean": case == "a",
        "profile": str(profile) if profile else None,
        "modules": [f"{package}.dataloaders", f"{package}.stimuli", f"{package}.responses"],
        "timed": [[path.replace(".EntryWriter", ":EntryWriter"), attr, part] for path, attr, part in timed],
    }
    before, free = load_average(), free_memory()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(spec)], capture_output=True, text=True, env=env, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"{name} case {case}: benchmark child failed:\n{out.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["load_average_before"] = before
    result["free_memory_gib_before"] = round(free / 2**30, 2)
    return result


def summary(runs: list[dict[str, Any]], target: float) -> dict[str, Any]:
    def stats(values: list[float]) -> dict[str, float]:
        return {
            "median": round(statistics.median(values), 3),
            "min": round(min(values), 3),
            "max": round(max(values), 3),
        }

    seconds = [r["seconds_to_first_batch"] for r in runs]
    part_names = sorted({p for r in runs for p in r["parts_s"]})
    return {
        "seconds_to_first_batch": stats(seconds),
        "runs_s": [round(s, 3) for s in seconds],
        "parts_s_median": {
            p: round(statistics.median(r["parts_s"].get(p, 0.0) for r in runs), 3) for p in part_names
        },
        "peak_above_baseline_mib": stats([r["peak_above_baseline_mib"] for r in runs]),
        "rss_after_mib": stats([r["rss_after_mib"] for r in runs]),
        "load_average_before_runs": [r["load_average_before"] for r in runs],
        "free_memory_gib_before_runs": [r["free_memory_gib_before"] for r in runs],
        "target_s": target,
        "meets_target": statistics.median(seconds) <= target,
        **{k: runs[0][k] for k in ("sessions", "batch_inputs", "batch_targets", "movie_copies_made")},
    }


def measure(name: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    data_dir = root / "data"
    cache = root / "cache"
    started = time.perf_counter()
    subprocess.run(  # a child writes the files: a forked child's maxrss would start at this process's peak
        [sys.executable, __file__, "--write", name, "--workdir", str(data_dir)] + ["--small"] * args.small,
        check=True,
    )
    report: dict[str, Any] = {
        "write_seconds": round(time.perf_counter() - started, 1),
        "published_bytes": sum(p.stat().st_size for p in data_dir.rglob("*") if p.is_file()),
        "cases": {},
    }
    target = TARGETS_S[name]
    for case in args.cases:
        runs = []
        for index in range(args.repeat + bool(args.profile)):
            if args.prewarm:  # first: touching memory may evict cached pages, which are read back next
                report.setdefault("prewarm_s", []).append(round(prewarm_memory(int(args.prewarm * 2**30)), 2))
            warm(data_dir)
            if case == "b":
                if not cache.exists():  # prepared by the first run of this case (not counted)
                    run_child(name, data_dir, cache, "a", None)
                warm(cache)
            profile = args.profile / f"{name}_{case}.prof" if args.profile and index == args.repeat else None
            result = run_child(name, data_dir, cache, case, profile)
            if profile is None:
                runs.append(result)
        report["cases"][case] = {"what": CASES[case], **summary(runs, target)}
        if case in ("a", "b"):
            report["prepared_bytes"] = sum(p.stat().st_size for p in cache.rglob("*.npy"))
    if args.floors:
        nbytes = report.get("prepared_bytes") or report["published_bytes"]
        report["machine_floors"] = floors(data_dir, nbytes, root / "floor.scratch", args.floors)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--small", action="store_true", help="small files for a quick run")
    parser.add_argument("--repeat", type=int, default=5, help="runs per case (median, min and max reported)")
    parser.add_argument("--only", nargs="*", default=sorted(TARGETS_S), choices=sorted(TARGETS_S))
    parser.add_argument("--cases", nargs="*", default=list(CASES), choices=list(CASES))
    parser.add_argument("--workdir", type=Path, default=None, help="where to write (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the written files (reused by the next run)")
    parser.add_argument(
        "--profile", type=Path, default=None, help="folder for cProfile dumps of one extra run"
    )
    parser.add_argument(
        "--floors", type=int, default=3, help="runs of the machine-floor measurement (0: skip it)"
    )
    parser.add_argument(
        "--prewarm",
        type=float,
        default=0.0,
        help="GiB of memory to touch in a throwaway process before each run",
    )
    parser.add_argument("--write", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write:
        write_files(args.write, args.workdir, args.small)
        return
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench_first_batch_"))
    report: dict[str, Any] = {
        "benchmark": "first batch (issue 18 item 2)",
        "python": sys.version.split()[0],
        "small": args.small,
        "repeat": args.repeat,
        "cpus": os.cpu_count(),
        "load_average_start": load_average(),
        "prewarm_gib": args.prewarm,
        "datasets": {},
    }
    try:
        for name in args.only:
            report["datasets"][name] = measure(name, workdir / name, args)
            if not args.keep:
                shutil.rmtree(workdir / name, ignore_errors=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    report["load_average_end"] = load_average()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
