"""GPU checks with figures: run on a machine with CUDA (see ``scripts/gpu-checks.sh``). Prints one JSON object.

* ``karamanlis``: composing the realistic Karamanlis session of ``bench_karamanlis_fixation_movies.py``
  with ``device="cuda"`` (file reading included) beside the CPU composition, and their largest difference;
* ``core``: one epoch through ``LongCycler`` with the Höfling-sized scenario of ``bench_core_throughput.py``
  delivered to the GPU (``device="cuda"``: the data are kept on the GPU when they fit), beside a plain
  ``index_select`` of the same bytes on the GPU, both synchronised.

    python benchmarks/bench_gpu.py [--skip-cpu]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def karamanlis(root: Path, skip_cpu: bool, device: str) -> dict[str, Any]:
    import h5py
    from bench_karamanlis_fixation_movies import write_session
    from openretina_karamanlis_2024.compose import compose_fixation_movie

    path = write_session(root, gzip=False)
    with h5py.File(path, "r") as handle:
        fixations = handle["runningfixations"][()].reshape(-1, 3)
        images = handle["runningImages"]
        compose_fixation_movie(images, fixations[:2000], device=device)  # warm-up: CUDA context, kernels
        synchronize(device)
        start = time.perf_counter()
        on_gpu = compose_fixation_movie(images, fixations, device=device)
        gpu_s = time.perf_counter() - start
        result: dict[str, Any] = {
            "frames": len(fixations),
            "gpu_seconds": round(gpu_s, 3),
            "gpu_frames_per_s": round(len(fixations) / gpu_s, 1),
        }
        if not skip_cpu:
            start = time.perf_counter()
            on_cpu = compose_fixation_movie(images, fixations)
            cpu_s = time.perf_counter() - start
            result.update(
                {
                    "cpu_seconds": round(cpu_s, 3),
                    "gpu_speedup_over_cpu": round(cpu_s / gpu_s, 2),
                    "max_abs_difference_gpu_cpu": float(np.abs(on_gpu - on_cpu).max()),
                    "max_value": float(np.abs(on_cpu).max()),
                }
            )
    return result


def core(device: str) -> dict[str, Any]:
    from openretina_core import LongCycler, MoviesTrainTestSplit, ResponsesTrainTestSplit
    from openretina_core.data import multiple_movies_dataloaders, to_device

    c, t, h, w, sessions = 2, 16_200, 18, 16, 67
    neurons = [3700 // sessions + (1 if i < 3700 % sessions else 0) for i in range(sessions)]
    rng = np.random.default_rng(0)
    movie = MoviesTrainTestSplit(
        train=rng.standard_normal((c, t, h, w), dtype=np.float32), norm_mean=0.0, norm_std=1.0
    )
    responses = {
        f"s{i:02d}": ResponsesTrainTestSplit(train=rng.random((n, t), dtype=np.float32))
        for i, n in enumerate(neurons)
    }
    loaders = multiple_movies_dataloaders(
        responses, movie, train_chunk_size=50, batch_size=64, clip_length=150, num_val_clips=15
    )
    loaders = to_device(loaders, device, keep_on_device=True)
    cycler = LongCycler(loaders["train"], shuffle=True, seed=0)
    for _ in cycler:  # warm-up epoch
        pass
    synchronize(device)
    samples = 0
    start = time.perf_counter()
    for _session, batch in cycler:
        samples += batch.inputs.shape[0]
    synchronize(device)
    epoch_s = time.perf_counter() - start
    on_device = next(iter(loaders["train"].values())).dataset.movie.device.type == torch.device(device).type
    movie_gpu = torch.from_numpy(np.ascontiguousarray(movie.train.transpose(1, 0, 2, 3))).to(device)
    out = torch.empty((64 * 50, c, h, w), device=device)
    index = torch.randint(0, t - 50, (len(cycler), 64), device=device)[..., None] + torch.arange(
        50, device=device
    )
    synchronize(device)
    start = time.perf_counter()
    for rows in index.reshape(len(cycler), -1):
        torch.index_select(movie_gpu, 0, rows, out=out)
    synchronize(device)
    plain_s = time.perf_counter() - start
    input_bytes = samples * c * 50 * h * w * 4
    return {
        "data_kept_on_gpu": bool(on_device),
        "epoch_batches": len(cycler),
        "epoch_samples_per_s": round(samples / epoch_s, 1),
        "epoch_input_gb_per_s": round(input_bytes / epoch_s / 1e9, 2),
        "plain_gpu_gather_input_gb_per_s": round(input_bytes / plain_s / 1e9, 2),
        "ratio_to_plain_gpu_gather": round(plain_s / epoch_s, 3),
    }


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--skip-cpu", action="store_true", help="do not compose on the CPU for comparison")
    parser.add_argument(
        "--device", default="cuda", help=argparse.SUPPRESS
    )  # "cpu": a smoke test of the script
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_gpu.py needs a CUDA device")
    with tempfile.TemporaryDirectory(prefix="bench_gpu_") as tmp:
        result = {
            "device": torch.cuda.get_device_name(0) if args.device == "cuda" else args.device,
            "torch": torch.__version__,
            "karamanlis": karamanlis(Path(tmp), args.skip_cpu, args.device),
            "core": core(args.device),
        }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
