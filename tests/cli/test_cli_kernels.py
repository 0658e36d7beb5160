"""``cnnconv kernels``: the listing, one kernel's matrix, JSON, and errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from cnnconv.cli import cli
from cnnconv.io.kernels import bundled_names, load_kernel


def run(*args):
    return CliRunner().invoke(cli, ["kernels", *args])


def test_listing_shows_every_kernel_with_size_sum_separable_and_description():
    result = run()
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["name", "size", "sum", "separable", "description"]
    rows = {line.split()[0]: line.split() for line in lines[1:] if line and not line.startswith(("parametric", "also", "'"))}
    assert sorted(rows) == bundled_names()
    assert rows["sobel-x"][1:4] == ["3x3", "0", "yes"]
    assert rows["gaussian5"][1:4] == ["5x5", "1", "yes"]
    assert rows["laplacian"][1:4] == ["3x3", "0", "no"]
    assert rows["roberts-x"][1:2] == ["2x2"]
    assert "gaussian:sigma=S[,size=N]" in result.output


def test_listing_as_json():
    result = run("--json")
    assert result.exit_code == 0
    kernels = json.loads(result.output)
    assert [k["name"] for k in kernels] == bundled_names()
    sobel = next(k for k in kernels if k["name"] == "sobel-x")
    assert sobel["weights"] == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]] and sobel["separable"] is True
    assert sobel["sum"] == 0 and sobel["rank"] == 1


def test_one_kernel_prints_its_matrix_and_scale():
    result = run("gaussian3")
    assert result.exit_code == 0
    assert result.output.splitlines()[2:] == ["1 2 1", "2 4 2", "1 2 1", "scale 1/16"]
    assert "gaussian3: 3x3, sum 1, separable (rank 1)" in result.output


def test_printed_matrices_round_trip_through_a_file(tmp_path: Path):
    for spec in ("log:sigma=0.8", "gaussian5", "1,2;3,4", "box:3", "emboss"):
        result = run(spec)
        assert result.exit_code == 0, result.output
        path = tmp_path / "k.txt"
        path.write_text(result.output)
        again, original = load_kernel(str(path)), load_kernel(spec)
        np.testing.assert_array_equal(again.weights, original.weights)
        assert again.scale == original.scale and again.description.startswith(original.description or "")


def test_three_d_kernel_and_offset(tmp_path: Path):
    path = tmp_path / "rgb.txt"
    path.write_text("1 0\n0 1\n---\n2 0\n0 2\noffset 128\n")
    result = run(str(path))
    assert result.exit_code == 0
    assert "2x2x2" in result.output and "2 channels" in result.output
    assert result.output.splitlines()[-1] == "offset 128" and "---" in result.output


def test_one_kernel_as_json():
    result = run("1,2;3,4", "--json")
    data = json.loads(result.output)
    assert data["weights"] == [[1, 2], [3, 4]] and data["rank"] == 2 and data["separable"] is False


def test_unknown_kernel_is_a_usage_error_with_a_suggestion():
    result = run("sobelx")
    assert result.exit_code == 2
    assert "unknown kernel 'sobelx'; did you mean 'sobel-x'?" in result.output


def test_a_malformed_file_is_a_usage_error_naming_the_line(tmp_path: Path):
    path = tmp_path / "bad.txt"
    path.write_text("1 2 3\n4 5\n")
    result = run(str(path))
    assert result.exit_code == 2 and "bad.txt line 2: row has 2 values, expected 3" in result.output


def test_the_installed_command_lists_the_kernels():
    out = subprocess.run([sys.executable, "-m", "cnnconv", "kernels", "sobel-y"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[2:] == ["-1 -2 -1", " 0  0  0", " 1  2  1"]


def test_digits_rounds_the_printed_weights():
    result = run("gaussian:sigma=1,size=3", "--digits", "3")
    assert result.exit_code == 0
    assert result.output.splitlines()[2:] == ["0.0751  0.124 0.0751", " 0.124  0.204  0.124", "0.0751  0.124 0.0751"]
    assert run("sobel-x", "--digits", "0").exit_code == 2


def test_listing_on_a_terminal_is_a_rich_table(monkeypatch):
    import io

    import rich.console

    buffer, original = io.StringIO(), rich.console.Console
    monkeypatch.setattr(rich.console, "Console", lambda **kw: original(file=buffer, width=200, **kw))
    from cnnconv.cli.kernels import _rich_list
    from cnnconv.io.kernels import list_bundled
    from cnnconv.kernels import kernel_info

    _rich_list([kernel_info(k) for k in list_bundled()])
    text = buffer.getvalue()
    assert "separable" in text and "sobel-x" in text and "─" in text  # a rule under the header
    assert "gaussian:sigma=S[,size=N]" in text
