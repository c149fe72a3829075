"""Trial splits: invariants over many seeds and trial counts, openretina's draw, and the options."""

from __future__ import annotations

import numpy as np
import pytest
from openretina_sridhar_2025.splits import split_trials

PAIRS = ((0, 9), (10, 19))


@pytest.mark.parametrize("split", ["seeded", "openretina"])
@pytest.mark.parametrize("n", [2, 5, 10, 11, 19, 20, 37])
def test_no_trial_in_two_splits_and_pairs_stay_together(split: str, n: int) -> None:
    for seed in range(40):
        result = split_trials(list(range(n)), seed=seed, split=split)
        train, val = set(result.train), set(result.validation)
        assert not train & val, (seed, result)
        assert train | val == set(range(n))
        assert len(result.train) == int(n * 0.8)
        for a, b in PAIRS:
            if a < n and b < n:
                assert (a in train) == (b in train), (seed, result)
        if split == "seeded":
            assert list(result.train) == sorted(result.train) and list(result.validation) == sorted(
                result.validation
            )


def test_pairs_are_original_trial_indices() -> None:
    """With the 2023 trials only (original 10..19), positions 0 and 9 hold the paired originals 10 and 19."""
    original = list(range(10, 20))
    for seed in range(40):
        result = split_trials(original, seed=seed)
        assert (0 in result.train) == (9 in result.train)
        assert set(result.train_trials) | set(result.validation_trials) == set(original)
    shuffled = [19, 3, 10, 4, 5, 6, 7, 8, 11, 12]  # pairs at arbitrary positions
    for seed in range(40):
        result = split_trials(shuffled, seed=seed)
        assert (10 in result.train_trials) == (19 in result.train_trials)


# openretina 1.1.1's get_trial_wise_validation_split (20 trials, train_frac 0.8), run in .venv-openretina.
OPENRETINA = {
    (20, None): ([16, 11, 18, 10, 12, 5, 6, 17, 9, 19, 0, 2, 7, 14, 15, 13], [3, 1, 8, 4]),
    (20, 42): ([10, 7, 0, 2, 5, 18, 16, 12, 4, 14, 15, 9, 1, 13, 11, 19], [3, 17, 6, 8]),
    (10, None): ([2, 6, 5, 1, 4, 9, 0, 8], [7, 3]),
}


@pytest.mark.parametrize(("n", "seed"), sorted(OPENRETINA, key=str))
def test_openretina_split_reproduces_openretina(n: int, seed: int | None) -> None:
    train, val = OPENRETINA[(n, seed)]
    result = split_trials(list(range(n)), seed=1000 if seed is None else seed, split="openretina")
    assert list(result.train) == train and list(result.validation) == val


def test_the_draw_leaves_global_random_state_alone() -> None:
    np.random.seed(7)
    expected = np.random.random()
    np.random.seed(7)
    split_trials(list(range(20)), seed=3, split="openretina")
    split_trials(list(range(20)), seed=3)
    assert np.random.random() == expected


def test_final_training_hard_coded_and_windows() -> None:
    base = split_trials(list(range(20)), seed=5)
    final = split_trials(list(range(20)), seed=5, final_training=True)
    assert sorted(final.train) == list(range(20)) and final.validation == base.validation
    hard = split_trials(list(range(20)), hard_coded=([3, 1, 2], [5, 4]))
    assert hard.train == (3, 1, 2) and hard.validation == (5, 4)
    with pytest.raises(ValueError, match="share trials"):
        split_trials(list(range(20)), hard_coded=([3, 1], [1]))
    with pytest.raises(ValueError, match=r"hard_coded trials must lie in \[0, 20\)"):
        split_trials(list(range(20)), hard_coded=([3, 20], []))
    window = split_trials(list(range(20)), seed=5, num_of_trials_to_use=6, start_using_trial=4)
    assert set(window.train) | set(window.validation) <= set(range(4, 10))
    assert set(window.train) == set(base.train) & set(range(4, 10))
    with pytest.raises(ValueError, match="split must be one of"):
        split_trials(list(range(20)), split="random")
    with pytest.raises(ValueError, match="no training trials"):
        split_trials(list(range(20)), seed=5, num_of_trials_to_use=0)
    with pytest.raises(ValueError, match="no training trials are left of 1"):
        split_trials([0])
