"""Responses: every trace type and time layout against a plain per-ROI computation, filters, splits, errata."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from openretina_hoefling_2024 import constants as c
from openretina_hoefling_2024.responses import get_all_responses, load_responses, split_natural
from openretina_hoefling_2024.roi import roi_coordinates

from openretina_core.registry import SyntheticSample

SESSIONS = ("session_1_ventral1_20200226", "session_2_ventral2_20200626", "session_3_ventral2_20200707")
TIMING = {"natural": (4.9666667, 150, 1), "chirp": (32.99, 990, 2), "mb": (4.054, 123, 1)}


def _expected(path: Path, session: str, stim: str, trace_type: str, keep: np.ndarray) -> np.ndarray:
    """The reference recipe, written out plainly: np.interp per ROI at per-trigger frame times, / std."""
    with h5py.File(path, "r") as f:
        g = f[session]
        if trace_type == "spikes":
            key = f"{stim}_inferred_spikes" if f"{stim}_inferred_spikes" in g else f"{stim}_spikes"
            traces = g[key][()]
        elif trace_type == "detrended":
            traces = g[f"{stim}_raw_traces"][()] - g[f"{stim}_smoothed_traces"][()]
        else:
            traces = g[f"{stim}_{trace_type}_traces"][()]
        if f"{stim}_traces_times" in g:
            times = g[f"{stim}_traces_times"][()]
        else:
            t0, dt = g[f"{stim}_traces_t0"][()], g[f"{stim}_traces_dt"][()]
            times = t0[:, None] + dt[:, None] * np.arange(traces.shape[1])[None]
        triggers = g[f"{stim}_trigger_times"][()][0]
    duration, n_frames, step = TIMING[stim]
    targets = np.concatenate([np.linspace(t, t + duration, n_frames) for t in triggers[::step]])
    rows = [np.interp(targets, times[i], traces[i]) for i in np.flatnonzero(keep)]
    out = np.stack(rows)
    return out / out.std(axis=1, keepdims=True)


def _default_keep(path: Path, session: str) -> np.ndarray:
    with h5py.File(path, "r") as f:
        g = f[session]
        types, conf = g["group_assignment"][()], g["group_confidences"][()]
        d_qi, chirp_qi = g["d_qi"][()], g["chirp_qi"][()]
    return (types <= 32) & ((d_qi >= 0.6) | (chirp_qi >= 0.35)) & (conf.max(axis=1) >= 0.25)


@pytest.mark.parametrize("trace_type", ["spikes", "raw", "preprocessed", "detrended"])
def test_every_trace_type_and_time_layout(hoefling_responses_file: Path, trace_type: str) -> None:
    loaded = load_responses(hoefling_responses_file, trace_type=trace_type)
    assert sorted(loaded) == list(SESSIONS)  # session 4 (amacrine cells only) is dropped
    for session in SESSIONS:  # 1: traces_times + inferred; 2: t0/dt; 3: traces_times + "_spikes" only
        keep = _default_keep(hoefling_responses_file, session)
        full = _expected(hoefling_responses_file, session, "natural", trace_type, keep)
        responses = loaded[session]
        train = np.concatenate([full[:, 750 : 59 * 150], full[:, 64 * 150 : 118 * 150]], axis=1)
        trials = np.stack([full[:, :750], full[:, 59 * 150 : 64 * 150], full[:, 118 * 150 :]])
        np.testing.assert_allclose(responses.train, train, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(responses.test_by_trial, trials, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(responses.test_response, trials.mean(axis=0), rtol=1e-4, atol=1e-4)
    if trace_type == "spikes":  # inferred spikes, falling back to "_spikes" where only those exist
        assert loaded[SESSIONS[0]].session_kwargs["trace_key"] == "natural_inferred_spikes"
        assert loaded[SESSIONS[2]].session_kwargs["trace_key"] == "natural_spikes"
    if trace_type == "detrended":
        assert (
            loaded[SESSIONS[0]].session_kwargs["trace_key"] == "natural_raw_traces - natural_smoothed_traces"
        )


@pytest.mark.parametrize("stim", ["chirp", "mb"])
def test_chirp_and_moving_bar_give_valid_containers(hoefling_responses_file: Path, stim: str) -> None:
    loaded = load_responses(hoefling_responses_file, response_type=stim)
    n_frames = 5 * 990 if stim == "chirp" else 24 * 123
    for session in SESSIONS:
        responses = loaded[session]
        assert responses.stim_id == stim and responses.test_dict == {}
        assert responses.train.shape[1] == n_frames and responses.train.dtype == np.float32
        keep = _default_keep(hoefling_responses_file, session)
        expected = _expected(hoefling_responses_file, session, stim, "spikes", keep)
        np.testing.assert_allclose(responses.train, expected, rtol=1e-4, atol=1e-4)


def test_layout_views_are_time_major(hoefling_responses_file: Path) -> None:
    responses = load_responses(hoefling_responses_file, sessions=[SESSIONS[0]])[SESSIONS[0]]
    assert responses.train.shape == (responses.n_neurons, 16200)
    assert responses.train.T.flags.c_contiguous  # the loaders use it without a copy
    assert responses.test_by_trial.shape == (3, responses.n_neurons, 750)


def test_quality_thresholds(hoefling_responses_file: Path) -> None:
    with h5py.File(hoefling_responses_file, "r") as f:
        fields = {
            s: {k: f[s][k][()] for k in ("group_assignment", "group_confidences", "d_qi", "chirp_qi")}
            for s in f
        }

    def counts(**options: object) -> dict[str, int]:
        loaded = get_all_responses(hoefling_responses_file, **options)  # type: ignore[arg-type]
        return {s: r.n_neurons for s, r in loaded.items()}

    def expected(
        types: object, d_qi: float | None, chirp_qi: float | None, logic: str, conf: float | None
    ) -> dict:
        out = {}
        for s, m in fields.items():
            keep = np.ones(len(m["d_qi"]), bool) if types is None else np.isin(m["group_assignment"], types)
            qis = [m[k] >= t for k, t in (("d_qi", d_qi), ("chirp_qi", chirp_qi)) if t is not None]
            if qis:
                keep &= np.logical_or.reduce(qis) if logic == "or" else np.logical_and.reduce(qis)
            if conf:
                keep &= m["group_confidences"].max(axis=1) >= conf
            if keep.sum():
                out[s] = int(keep.sum())
        return out

    assert counts() == expected(range(1, 33), 0.6, 0.35, "or", 0.25)
    assert counts(qi_logic="and") == expected(range(1, 33), 0.6, 0.35, "and", 0.25)
    assert counts(d_qi=None) == expected(range(1, 33), None, 0.35, "or", 0.25)
    assert counts(classifier_confidence=0.6) == expected(range(1, 33), 0.6, 0.35, "or", 0.6)
    everything = counts(cell_types=None, d_qi=None, chirp_qi=None, classifier_confidence=None)
    assert everything == {s: len(m["d_qi"]) for s, m in fields.items()}  # amacrine field kept now
    assert counts(cell_types=range(33, 47), d_qi=None, chirp_qi=None, classifier_confidence=None) == expected(
        range(33, 47), None, None, "or", None
    )
    default = counts()
    threshold = sorted(default.values())[1]  # drops the smallest field: a field needs > threshold cells
    assert counts(filter_counts=True, count_threshold=threshold) == {
        s: n for s, n in default.items() if n > threshold
    }
    with pytest.raises(ValueError, match="qi_logic"):
        counts(qi_logic="xor")


def test_split_offsets_with_encoded_trace() -> None:
    # Each frame's value is its presentation frame number, so every slice is identified exactly.
    upsampled = np.tile(np.arange(18450, dtype=np.float32), (2, 1))
    upsampled[1] *= -1
    train_tm, by_trial = split_natural(upsampled)
    assert train_tm.shape == (16200, 2) and by_trial.shape == (3, 2, 750)
    np.testing.assert_array_equal(train_tm[:8100, 0], np.arange(750, 8850))
    np.testing.assert_array_equal(train_tm[8100:, 0], np.arange(9600, 17700))
    np.testing.assert_array_equal(by_trial[:, 0, 0], [0, 8850, 17700])
    np.testing.assert_array_equal(by_trial[2, 0], np.arange(17700, 18450))
    np.testing.assert_array_equal(train_tm[:, 1], -train_tm[:, 0])
    with pytest.raises(ValueError, match="expected 18450"):
        split_natural(np.zeros((1, 18300), np.float32), "s")


def test_errata_and_metadata(hoefling_sample: SyntheticSample, hoefling_responses_file: Path) -> None:
    loaded = load_responses(hoefling_responses_file)
    errata = loaded["session_2_ventral2_20200626"].session_kwargs
    assert errata["eye_recorded"] == "left" and errata["eye"] == "right"
    assert c.EYE_ERRATA == {"session_2_ventral2_20200626": "right"}
    first = loaded[SESSIONS[0]].session_kwargs
    assert first["eye"] == first["eye_recorded"] == "left" and first["scan_sequence_idx"] == 0
    third = loaded[SESSIONS[2]].session_kwargs
    assert third["eye"] == "right" and third["scan_sequence_idx"] == 2
    assert all(kw["group_assignment"].max() <= 32 for kw in (first, errata, third))
    # ROI coordinates: 3x3 squares whose centres are known pixel positions.
    mask = first["roi_mask"]
    rid = int(first["roi_ids"][0])
    ys, xs = np.nonzero(mask == -rid)
    expected = 2 * ((np.array([ys.mean(), xs.mean()]) / 25 + 2.75) / 8 - 0.5)
    np.testing.assert_allclose(first["roi_coords"][0], expected, rtol=1e-6)
    coords = roi_coordinates(np.where(np.arange(64)[:, None] + 0 * np.arange(64) == 10, -1, 1), np.array([1]))
    np.testing.assert_allclose(coords[0, 0], 2 * ((10 / 25 + 2.75) / 8 - 0.5), rtol=1e-6)
    assert hoefling_sample.filters.keys() == loaded.keys()


def test_missing_files_and_keys(tmp_path: Path, hoefling_responses_file: Path) -> None:
    with pytest.raises(FileNotFoundError) as excinfo:
        get_all_responses(data_dir=tmp_path)
    message = str(excinfo.value)
    assert "responses/rgc_natstim_2024-08-14.h5" in message and "download=True" in message
    assert str(tmp_path / "responses" / "rgc_natstim_2024-08-14") in message
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_all_responses(tmp_path / "nothing.h5")
    with pytest.raises(KeyError, match="no session"):
        load_responses(hoefling_responses_file, sessions=["session_9"])
    broken = tmp_path / "broken.h5"
    with h5py.File(hoefling_responses_file, "r") as src, h5py.File(broken, "w") as dst:
        src.copy(src[SESSIONS[0]], dst, name=SESSIONS[0])
        del dst[SESSIONS[0]]["natural_trigger_times"]
        dst[SESSIONS[0]]["d_qi"][...] = 1.0
        del dst[SESSIONS[0]]["chirp_qi"]
        dst[SESSIONS[0]].create_dataset("chirp_qi", data=np.ones(5))
    with pytest.raises(ValueError, match="'chirp_qi': expected 32 ROIs along axis 0"):
        load_responses(broken)
    with pytest.raises(KeyError, match="natural_trigger_times"):
        get_all_responses(broken, chirp_qi=None)


def test_cache_layout_extracted_archive(tmp_path: Path, hoefling_sample: SyntheticSample) -> None:
    """A folder holding the extracted archive (download cache layout) is found by glob."""
    source = Path(hoefling_sample.data_dir) / c.RESPONSES_FILE
    target = tmp_path / "responses" / "rgc_natstim_2024-08-14" / "some_name_inside_the_zip.h5"
    target.parent.mkdir(parents=True)
    target.symlink_to(source)
    loaded = get_all_responses(data_dir=tmp_path, sessions=[SESSIONS[0]])
    assert list(loaded) == [SESSIONS[0]]


def test_sample_is_in_the_published_form(hoefling_responses_file: Path) -> None:
    """The ROI axis comes first in every per-ROI array, trigger times included (one identical row per ROI, as
    published: openretina's ``filter_responses`` masks them along it); eye and sequence are group attributes."""
    with h5py.File(hoefling_responses_file, "r") as f:
        assert dict(f.attrs) == {}  # file attributes would become extra "fields" in the reference loader
        for session in f:
            g = f[session]
            n_rois = g["roi_ids"].shape[0]
            for stim, n_triggers in (("natural", c.NATURAL_TRIGGERS), ("chirp", 10), ("mb", 24)):
                rows = g[f"{stim}_trigger_times"][()]
                assert rows.shape == (n_rois, n_triggers) and rows.dtype == np.float64
                np.testing.assert_array_equal(rows, np.broadcast_to(rows[0], rows.shape))
            for key in ("roi_ids", "group_assignment", "d_qi", "chirp_qi"):
                assert g[key].shape == (n_rois,)
            assert g["group_confidences"].shape == (n_rois, 46) and g["roi_mask"].shape == (64, 64)
            assert "eye" not in g and "scan_sequence_idx" not in g
            assert isinstance(g.attrs["eye"], str) and g.attrs["eye"] in ("left", "right")
            assert isinstance(g.attrs["scan_sequence_idx"], np.integer)


def _with_triggers(source: Path, target: Path, session: str, triggers: np.ndarray) -> Path:
    with h5py.File(source, "r") as src, h5py.File(target, "w") as dst:
        src.copy(src[session], dst, name=session)
        del dst[session]["natural_trigger_times"]
        dst[session].create_dataset("natural_trigger_times", data=triggers)
    return target


def test_trigger_rows_read_as_row_zero(
    tmp_path: Path, hoefling_responses_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    session = SESSIONS[0]
    reference = load_responses(hoefling_responses_file, sessions=[session])[session].train
    with h5py.File(hoefling_responses_file, "r") as f:
        rows = f[session]["natural_trigger_times"][()]
    single = _with_triggers(hoefling_responses_file, tmp_path / "single.h5", session, rows[:1])
    np.testing.assert_array_equal(load_responses(single)[session].train, reference)
    flat = _with_triggers(hoefling_responses_file, tmp_path / "flat.h5", session, rows[0])
    np.testing.assert_array_equal(load_responses(flat)[session].train, reference)
    shifted = rows.copy()
    shifted[1:] += 0.004  # other ROIs' rows disagree: logged, row 0 used
    disagree = _with_triggers(hoefling_responses_file, tmp_path / "disagree.h5", session, shifted)
    with caplog.at_level("WARNING", logger="openretina_hoefling_2024.h5fields"):
        np.testing.assert_array_equal(load_responses(disagree)[session].train, reference)
    assert "per-ROI rows differ by up to 0.004" in caplog.text and "using row 0" in caplog.text
    wrong = _with_triggers(hoefling_responses_file, tmp_path / "wrong.h5", session, rows[:3])
    with pytest.raises(ValueError, match=r"expected \(n_rois=32, n_triggers\).*received \(3, 123\)"):
        load_responses(wrong)
