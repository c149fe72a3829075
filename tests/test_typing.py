"""The public API is typed: mypy sees the loaders dict, the cyclers' pairs and the batch fields (not ``Any``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

SNIPPET = """
import openretina_core as orc
from torch.utils.data import DataLoader, TensorDataset

loaders = orc.get_dataloaders("karamanlis_2024", batch_size=8)
reveal_type(loaders)
reveal_type(loaders["train"])
for session, batch in orc.LongCycler(loaders["train"]):
    reveal_type(session)
    reveal_type(batch)
    reveal_type(batch.inputs)
for key, item in orc.ShortCycler(loaders["validation"]):
    reveal_type(item.targets)
plain = {"a": DataLoader(TensorDataset())}
for key, anything in orc.LongCycler(plain):
    reveal_type(anything)
"""


@pytest.mark.slow
def test_mypy_sees_typed_loaders_pairs_and_batches(tmp_path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(textwrap.dedent(SNIPPET))
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--ignore-missing-imports", "--no-error-summary", str(snippet)],
        cwd=REPO,  # the package from this checkout (an editable install's import hook hides it from mypy)
        capture_output=True,
        text=True,
        check=False,
    )
    revealed = [
        line.split("Revealed type is ", 1)[1].strip('"')
        for line in done.stdout.splitlines()
        if "Revealed" in line
    ]
    assert len(revealed) == 7, done.stdout + done.stderr
    assert revealed[0] == "openretina_core.data.loaders.DataLoaders"
    assert "SessionLoader" in revealed[1] and "DataPoint" in revealed[1]
    assert revealed[2] == "builtins.str" or revealed[2] == "str"
    assert "fallback=openretina_core.data.movie_dataset.DataPoint" in revealed[3]
    assert revealed[4] == revealed[5] == "torch._tensor.Tensor"
    assert revealed[6] == "Any", "a plain torch loader's batches stay untyped"
