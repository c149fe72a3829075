"""Metadata records: what a dataset is (its card), which files it has, and how a plugin registers it.

These are plain data; plugins fill them from their ``constants.py`` tables and the core reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from attrs import define, field, fields

from openretina_core.registry.errors import BadArgumentError
from openretina_core.registry.extras import extra_for_distribution, install_command, is_installed_distribution


def _tuple(value: Any) -> tuple[Any, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(value)


@define(frozen=True)
class RemoteFile:
    """One published file: where it lives under the dataset's folder and where it can be fetched.

    ``relative_path`` is the path under ``<cache>/<dataset id>/`` (and under a mirror's ``<mirror>/<dataset id>/``).
    ``urls`` lists the hosts in order of preference. ``sha256``/``size`` are checked when known; an unknown hash
    is recorded at the first verified download (trust on first use). ``extract`` marks a zip/tar archive that is
    unpacked, after verification, into a folder beside it. ``group`` lets a command fetch a subset
    (e.g. one species).
    """

    relative_path: str
    urls: tuple[str, ...] = field(converter=_tuple, factory=tuple)
    sha256: str | None = None
    size: int | None = None
    extract: bool = False
    group: str | None = None

    @property
    def extracted_dir(self) -> str:
        """Relative folder the archive is unpacked into (the archive's name without its suffix)."""
        name = self.relative_path
        for suffix in (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip"):
            if name.endswith(suffix):
                return name[: -len(suffix)]
        return name + ".d"


@define(frozen=True)
class DatasetInfo:
    """The dataset card: everything a user needs to cite, understand and fetch a dataset."""

    id: str
    title: str
    authors: tuple[str, ...] = field(converter=_tuple)
    year: int
    doi: str | None = None
    paper_url: str | None = None
    data_urls: tuple[str, ...] = field(converter=_tuple, factory=tuple)
    license: str | None = None
    species: tuple[str, ...] = field(converter=_tuple, factory=tuple)
    recording_modality: str = ""
    stimulus_types: tuple[str, ...] = field(converter=_tuple, factory=tuple)
    frame_rate_hz: float | Mapping[str, float] | None = None
    response_unit: str = ""
    #: Size of one stimulus pixel as delivered in batches (after any downsampling the loader does), keyed by
    #: stimulus type/resolution when it differs, like ``frame_rate_hz``; ``None`` when the source does not say.
    pixel_size: float | Mapping[str, float] | None = None
    #: Unit of ``pixel_size``: ``"µm"`` on the retina or ``"deg"`` of visual angle.
    pixel_unit: str = "µm"
    #: Names of the stimulus channels in order (e.g. ``("green", "UV")``); empty when unnamed.
    channel_names: tuple[str, ...] = field(converter=_tuple, factory=tuple)
    shapes: Mapping[str, Any] = field(factory=dict)
    files: tuple[RemoteFile, ...] = field(converter=_tuple, factory=tuple)
    description: str = ""
    notes: tuple[str, ...] = field(converter=_tuple, factory=tuple)
    bibtex: str = ""
    pip_extra: str | None = None
    distribution: str | None = None
    version: str | None = None

    @property
    def pip_command(self) -> str:
        """The command that installs this dataset's plugin, derived from its distribution: the core's extra
        when the core has one for it, in the PEP 685 spelling every pip accepts
        (``pip install "openretina-core[karamanlis-2024]"``), else ``pip install <distribution>``; ``"-"`` for a
        plugin registered in-process, which has no distribution to install."""
        dist = self.distribution
        if dist is None:
            return "-"
        if extra_for_distribution(dist, self.pip_extra) is None and not is_installed_distribution(dist):
            return "-"
        return install_command(dist, self.pip_extra)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly view (files as dicts), for the CLI and docs."""
        out: dict[str, Any] = {}
        for f in fields(DatasetInfo):
            value = getattr(self, f.name)
            if f.name == "files":
                value = [
                    {
                        "relative_path": rf.relative_path,
                        "urls": list(rf.urls),
                        "sha256": rf.sha256,
                        "size": rf.size,
                        "extract": rf.extract,
                        "group": rf.group,
                    }
                    for rf in value
                ]
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name] = value
        return out


@define(frozen=True)
class SyntheticSample:
    """What ``write_sample`` produced: the folder to pass as ``data_dir`` and the ground truth behind it.

    ``filters`` maps a session name to the true linear filters ``(neurons, C, T_filter, H, W)`` of the LN model
    that generated the responses (in the stimulus space the loaders return), so a demo or test can compare a
    spike-triggered average against it. ``options`` are the dataset options that load this sample.
    """

    data_dir: Path
    filters: Mapping[str, Any] = field(factory=dict)
    options: Mapping[str, Any] = field(factory=dict)


def _callable(what: str, optional: bool = False) -> Callable[[Any, Any, Any], None]:
    """An attrs validator: a spec's loader or generator must be callable (found at registration, not later)."""

    def check(instance: Any, attribute: Any, value: Any) -> None:
        if value is None and optional:
            return
        if not callable(value):
            raise BadArgumentError(what, "a callable", value)

    return check


@define(frozen=True)
class DatasetSpec:
    """What a plugin registers for one dataset.

    ``get_dataloaders(data_dir=..., download=..., batch_size=..., **options)`` returns the
    ``{"train": {session: DataLoader}, "validation": {...}, <test name>: {...}}`` dict on the CPU; the core adds
    the device handling. ``write_sample(root, seed=0)`` writes small synthetic files in the real layout and
    returns a :class:`SyntheticSample`.
    """

    info: DatasetInfo
    get_dataloaders: Callable[..., Any] = field(validator=_callable("DatasetSpec.get_dataloaders"))
    write_sample: Callable[..., SyntheticSample] | None = field(
        default=None, validator=_callable("DatasetSpec.write_sample", optional=True)
    )
    default_options: Mapping[str, Any] = field(factory=dict)


@define(frozen=True)
class StimulusSpec:
    """What a plugin registers for one stimulus generator.

    ``generate(shape=(C, T, H, W), seed=..., **params)`` returns a float32 array or tensor of that shape.
    ``units`` documents the parameters' units (e.g. ``{"temporal_frequency": "Hz"}``).
    """

    name: str
    generate: Callable[..., Any] = field(validator=_callable("StimulusSpec.generate"))
    description: str = ""
    units: Mapping[str, str] = field(factory=dict)
    distribution: str | None = None
    version: str | None = None
