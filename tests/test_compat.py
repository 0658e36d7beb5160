"""The compat table of docs/compat.md: each cnnconv command gives the pinned reference pixels of
ImageMagick, libvips, OpenCV or scipy (fixtures made by benchmarks/compat.py, which names the tool
versions) to within the maximum difference the table states."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cnnconv.cli import cli

COMPAT = Path(__file__).parent / "fixtures" / "compat"
TABLE = json.loads((COMPAT / "compat.json").read_text())
DOC = (Path(__file__).parents[1] / "docs" / "compat.md").read_text()


@pytest.mark.parametrize("case", sorted(TABLE["cases"]))
def test_the_cnnconv_command_gives_the_reference_pixels(case, tmp_path, monkeypatch):
    record = TABLE["cases"][case]
    monkeypatch.chdir(COMPAT)  # the kernel files (blur.mat, ...) are named as the table shows them
    out = tmp_path / "out.png"
    args = shlex.split(record["cnnconv"].format(**{"in": record["input"], "out": str(out)}))
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    mine = np.asarray(Image.open(out)).astype(int)
    reference = np.asarray(Image.open(COMPAT / f"{case}.png")).astype(int)
    assert mine.shape == reference.shape
    assert int(np.abs(mine - reference).max()) <= record["max_difference"]
    assert int(np.count_nonzero(mine != reference)) <= record["differing_pixels"]


def test_the_doc_table_states_every_measured_case():
    shown = lambda c: c.replace("{in}", "in.png").replace("{out}", "out.png")  # noqa: E731
    for record in TABLE["cases"].values():
        row = f"| `{shown(record['reference'])}` | `cnnconv {shown(record['cnnconv'])}` | {record['max_difference']} |"
        assert row in DOC, row
