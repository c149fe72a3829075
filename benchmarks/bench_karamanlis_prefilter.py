"""Ways to filter one 768x1024 Karamanlis image with the 60x80 resize's separable antialias kernel (20 taps,
weights 1, 3, ..., 19, 19, ..., 1 over 200 per axis), timed on this machine. The composer filters every image
once, so this bounds its cost; prints one JSON object with milliseconds per image for each method.

    python benchmarks/bench_karamanlis_prefilter.py
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

TILE = 64
TAPS = 20


def timed(function: Callable[[], object], repeats: int = 20) -> float:
    function()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    return (time.perf_counter() - start) / repeats * 1e3


def main() -> None:
    image = torch.randint(0, 256, (768 + 2 * TAPS, 1024 + 2 * TAPS), dtype=torch.uint8)
    pixels = image.float()
    kernel = torch.tensor([2.0 * k + 1 for k in range(10)] + [19.0 - 2 * k for k in range(10)]) / 200
    band = torch.zeros(TILE, TILE + TAPS - 1)
    for t in range(TILE):
        band[t, t : t + TAPS] = kernel

    def banded(x: torch.Tensor) -> torch.Tensor:  # one axis, as the composer does it
        rows = (x.shape[0] - TAPS) // TILE * TILE
        tiles = x.as_strided((rows // TILE, TILE + TAPS - 1, x.shape[1]), (TILE * x.shape[1], x.shape[1], 1))
        return torch.bmm(band.expand(tiles.shape[0], TILE, TILE + TAPS - 1), tiles).reshape(rows, -1)

    def banded_both() -> torch.Tensor:
        return banded(banded(pixels).T.contiguous())

    def conv2d() -> torch.Tensor:
        x = F.conv2d(pixels[None, None], kernel.view(1, 1, 1, TAPS))
        return F.conv2d(x, kernel.view(1, 1, TAPS, 1))

    def conv1d() -> torch.Tensor:
        x = F.conv1d(pixels[:, None, :], kernel.view(1, 1, TAPS))[:, 0]
        return F.conv1d(x.T.contiguous()[:, None, :], kernel.view(1, 1, TAPS))[:, 0]

    def box_sums() -> torch.Tensor:  # the kernel is box10 * box10 * box2 per axis: exact in int32
        def box(x: torch.Tensor, width: int, dim: int) -> torch.Tensor:
            c = torch.cumsum(x, dim)
            return c[:, width:] - c[:, :-width] if dim == 1 else c[width:] - c[:-width]

        x = image.to(torch.int32)
        for dim in (1, 0):
            x = box(box(box(x, 10, dim), 10, dim), 2, dim)
        return x

    def avg_pool() -> torch.Tensor:
        x = pixels[None, None]
        for size in ((1, 10), (1, 10), (1, 2), (10, 1), (10, 1), (2, 1)):
            x = F.avg_pool2d(x, size, 1)
        return x

    methods = {
        "banded_bmm_both_axes": banded_both,
        "conv2d_separable": conv2d,
        "conv1d_separable": conv1d,
        "int32_box_sums_cumsum": box_sums,
        "avg_pool_cascade": avg_pool,
    }
    result = {name: round(timed(function), 2) for name, function in methods.items()}
    print(json.dumps({"ms_per_image": result, "torch_threads": torch.get_num_threads()}, indent=1))


if __name__ == "__main__":
    main()
