"""Stimuli kept in their published dtype (uint8, int8, float16, float32) with the map to the float32 values.

A :class:`CompactArray` holds the published values (4x or 2x fewer bytes than float32 in memory, on disk and on
the bus) and a :class:`StimulusMap`, per channel ``float32 = (raw - subtract[c]) / divide[c]``: the z-score of
the float32 path folded into the array. The map is written as the float32 path computes it (convert, subtract,
divide, each rounded to float32), so a decoded value equals the float32 path's value bit for bit wherever that
path is the z-score of the published values; every narrow dtype here converts to float32 exactly.

Raw float32 is allowed too, for a published float32 movie mapped in place from the user's file (never copied):
its z-score is applied per batch with the same two float32 operations the float32 path applies once in memory.
It saves no bytes, so the store never *chooses* it (:func:`keeps_compact` stays narrow-only).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from attrs import define, field

from openretina_core.registry.errors import BadArgumentError, BadDataError

# Published dtypes stored as they are: each value is exactly representable in float32.
COMPACT_DTYPES = (np.dtype(np.uint8), np.dtype(np.int8), np.dtype(np.float16))
# What a CompactArray may hold: the narrow dtypes, and float32 mapped in place from a published file.
MAPPED_DTYPES = (*COMPACT_DTYPES, np.dtype(np.float32))
STORE_DTYPES = ("published", "float32")  # a dataset option: keep narrow published dtypes, or always float32
_BLOCK_BYTES = 4 << 20


def _float32_tuple(values: Any) -> tuple[float, ...]:
    array = np.atleast_1d(np.asarray(values, dtype=np.float32))
    if array.ndim != 1 or array.size == 0:
        raise BadDataError(f"a stimulus map needs one value per channel, received {np.shape(values)}")
    return tuple(float(v) for v in array)


@define(frozen=True)
class StimulusMap:
    """Per channel ``float32 = (raw - subtract[c]) / divide[c]`` (one value serves every channel)."""

    subtract: tuple[float, ...] = field(converter=_float32_tuple)
    divide: tuple[float, ...] = field(converter=_float32_tuple)

    def __attrs_post_init__(self) -> None:
        if len(self.subtract) != len(self.divide) and 1 not in (len(self.subtract), len(self.divide)):
            raise BadDataError(
                f"stimulus map: {len(self.subtract)} subtract values but {len(self.divide)} divide values; "
                f"give one per channel (or one for all)"
            )
        if not all(np.isfinite(self.subtract)) or not all(np.isfinite(d) and d != 0 for d in self.divide):
            raise BadDataError(
                f"stimulus map: subtract {self.subtract} and divide {self.divide} must be finite and divide "
                f"non-zero"
            )

    @classmethod
    def identity(cls) -> StimulusMap:
        return cls(0.0, 1.0)

    @classmethod
    def zscore(cls, mean: float | None, std: float | None) -> StimulusMap:
        """The map of the float32 path's z-score (``identity`` when the movie is not normalised)."""
        if mean is None or std is None:
            return cls.identity()
        return cls(mean, std)

    def to_json(self) -> dict[str, list[float]]:
        return {"subtract": list(self.subtract), "divide": list(self.divide)}

    @classmethod
    def from_json(cls, value: Mapping[str, Sequence[float]]) -> StimulusMap:
        return cls(value["subtract"], value["divide"])

    def channel_values(self, channels: int) -> tuple[np.ndarray, np.ndarray]:
        """``(subtract, divide)`` as float32 arrays of ``channels`` values."""
        sub = np.asarray(self.subtract, dtype=np.float32)
        div = np.asarray(self.divide, dtype=np.float32)
        for name, values in (("subtract", sub), ("divide", div)):
            if values.size not in (1, channels):
                raise BadDataError(
                    f"stimulus map: {values.size} {name} values for a movie of {channels} channels"
                )
        return np.broadcast_to(sub, (channels,)), np.broadcast_to(div, (channels,))

    def decode(self, raw: np.ndarray, channel_axis: int) -> np.ndarray:
        """The float32 values of ``raw`` (a new array), in blocks along the first axis."""
        out = np.empty(raw.shape, dtype=np.float32)
        channels = raw.shape[channel_axis]
        sub, div = self.channel_values(channels)
        shape = [1] * raw.ndim
        shape[channel_axis] = channels
        sub_b, div_b = sub.reshape(shape), div.reshape(shape)
        if channel_axis == 0:  # blocks along axis 1 (time), so the channel values stay aligned
            step = max(1, _BLOCK_BYTES // max(1, raw[:, :1].size * 4))
            for start in range(0, raw.shape[1], step):
                block = out[:, start : start + step]
                np.subtract(raw[:, start : start + step], sub_b, out=block, casting="unsafe")
                np.divide(block, div_b, out=block)
            return out
        step = max(1, _BLOCK_BYTES // max(1, raw[:1].size * 4))
        for start in range(0, raw.shape[0], step):
            block = out[start : start + step]
            np.subtract(raw[start : start + step], sub_b, out=block, casting="unsafe")
            np.divide(block, div_b, out=block)
        return out


class CompactArray(np.ndarray):
    """A stimulus array in its published dtype; ``stimulus_map`` turns it into the float32 values (channel
    axis 0 in containers' ``(C, T, H, W)``). Views keep the map; arithmetic results are plain arrays."""

    stimulus_map: StimulusMap
    verified_finite: bool

    def __array_finalize__(self, obj: Any) -> None:
        self.stimulus_map = getattr(obj, "stimulus_map", StimulusMap.identity())
        self.verified_finite = bool(getattr(obj, "verified_finite", False))

    def __array_wrap__(self, array: Any, context: Any = None, return_scalar: bool = False) -> Any:
        plain = np.asarray(array)
        return plain[()] if return_scalar else plain

    def decoded(self, channel_axis: int = 0) -> np.ndarray:
        """The float32 values (a new array the size of the float32 movie)."""
        return self.stimulus_map.decode(np.asarray(self), channel_axis)


def as_compact(raw: np.ndarray, stimulus_map: StimulusMap) -> CompactArray:
    """``raw`` (not copied) as a :class:`CompactArray`; ``BadDataError`` unless its dtype is in
    :data:`MAPPED_DTYPES` (native byte order: batches are gathered from its bytes as they are)."""
    dtype = np.dtype(raw.dtype)
    if dtype not in MAPPED_DTYPES or not dtype.isnative:
        raise BadDataError(
            f"a compact stimulus must be one of {[d.name for d in MAPPED_DTYPES]} in native byte order, "
            f"received {dtype.str}; convert it to native float32 instead"
        )
    view = np.asanyarray(raw).view(CompactArray)
    view.stimulus_map = stimulus_map
    view.verified_finite = bool(getattr(raw, "verified_finite", False)) or raw.dtype.kind in "iu"
    return view


def stimulus_map_of(array: Any) -> StimulusMap | None:
    """The map of a compact array, None for float32 values."""
    return array.stimulus_map if isinstance(array, CompactArray) else None


def check_store_dtype(store_dtype: str) -> str:
    if store_dtype not in STORE_DTYPES:
        raise BadArgumentError("store_dtype", f"one of {STORE_DTYPES}", store_dtype)
    return store_dtype


def keeps_compact(published: Any, store_dtype: str = "published") -> bool:
    """Whether a stimulus published as ``published`` is stored in that dtype (narrower than float32, exactly
    representable, and not forced to float32 by ``store_dtype="float32"``)."""
    return check_store_dtype(store_dtype) == "published" and np.dtype(published) in COMPACT_DTYPES
