"""What a figure's axes say, read from the dataset card: physical pixel size, channel names, frame rate, unit.

A card value may be keyed (``pixel_size={"18x16": 50.0, "72x64": 12.5}``, ``frame_rate_hz={"mouse": 75.0}``);
the key is matched against the frame size as delivered (``"HxW"``) and the string options of the load (species,
stimulus type, ...). When nothing matches, the figures fall back to pixels or frames and say why, rather than
print a wrong physical unit.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Mapping
from typing import Any

from attrs import define, field

from openretina_core.registry.specs import DatasetInfo


@define(frozen=True)
class PlotContext:
    """Labels and scales for one session's figures."""

    dataset: str
    session: str
    frame_rate_hz: float | None = None
    pixel_size: float | None = None
    pixel_unit: str = "pixels"
    channel_names: tuple[str, ...] = ()
    response_unit: str = ""
    notes: tuple[str, ...] = field(
        factory=tuple
    )  # why an axis is in pixels/frames, which card entry was used

    @property
    def physical(self) -> bool:
        return self.pixel_size is not None

    def channel(self, index: int) -> str:
        if index < len(self.channel_names):
            return self.channel_names[index]
        return f"channel {index}"

    def extent(self, height: int, width: int) -> tuple[float, float, float, float]:
        """``imshow`` extent (left, right, bottom, top) in the card's unit, or pixels: row 0 at the top."""
        scale = self.pixel_size or 1.0
        return (0.0, width * scale, height * scale, 0.0)

    @property
    def space_unit(self) -> str:
        return self.pixel_unit if self.physical else "pixels"

    def seconds(self, frame: float) -> float | None:
        return frame / self.frame_rate_hz if self.frame_rate_hz else None

    @property
    def unit_label(self) -> str:
        return short_unit(self.response_unit)


def short_unit(text: str, width: int = 32) -> str:
    """An axis label from a card's ``response_unit``: what follows "i.e." when the card derives the unit, else
    its first clause; wrapped to ``width`` characters. The full text goes in the figure's footnote."""
    text = " ".join(text.split())
    if not text:
        return "response (unit not stated)"
    if "i.e. " in text:
        text = text.rsplit("i.e. ", 1)[1]
    for stop in (" (", ";", ", "):
        text = text.split(stop, 1)[0]
    return "\n".join(textwrap.wrap(text.strip().rstrip("."), width)) or "response"


def pick(
    value: float | Mapping[str, float] | None, keys: Iterable[str], what: str
) -> tuple[float | None, str]:
    """A card value for this load: the value itself, the entry whose key matches, or ``None`` and why."""
    if value is None:
        return None, f"the card states no {what}"
    if not isinstance(value, Mapping):
        return float(value), ""
    keys = list(keys)
    for key in keys:
        if key in value:
            return float(value[key]), f"{what}: the card's entry {key!r}"
    distinct = set(value.values())
    if len(distinct) == 1:
        return float(next(iter(distinct))), ""
    return None, (
        f"the card's {what} entries ({', '.join(map(str, value))}) match none of this load's "
        f"({', '.join(keys) or 'none'})"
    )


def plot_context(
    info: DatasetInfo,
    session: str,
    frame_hw: tuple[int, int],
    n_channels: int,
    options: Mapping[str, Any] | None = None,
    data_info: Mapping[str, Any] | None = None,
) -> PlotContext:
    """The labels for ``session`` of a load with these options, frame size and channel count."""
    keys = [f"{frame_hw[0]}x{frame_hw[1]}"]
    for source in (options or {}, data_info or {}):
        keys += [v for v in source.values() if isinstance(v, str) and v not in keys]
    notes: list[str] = []
    rate, why_rate = pick(info.frame_rate_hz, keys, "frame rate")
    size, why_size = pick(info.pixel_size, keys, "pixel size")
    if rate is None:
        notes.append(f"time in frames: {why_rate}")
    if size is None:
        notes.append(f"space in pixels: {why_size}")
    else:
        notes.append(
            f"1 pixel = {size:g} {info.pixel_unit}" + (f" ({why_size})" if why_size else "") + " as delivered"
        )
    names = tuple(info.channel_names)
    if names and len(names) != n_channels:
        notes.append(f"the card names {len(names)} channels, the batches have {n_channels}: names not used")
        names = ()
    return PlotContext(
        dataset=info.id,
        session=session,
        frame_rate_hz=rate,
        pixel_size=size,
        pixel_unit=info.pixel_unit if size is not None else "pixels",
        channel_names=names,
        response_unit=info.response_unit,
        notes=tuple(notes),
    )
