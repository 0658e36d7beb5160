"""`cnnconv shape`: table, JSON and CSV output, --explain, exit codes, carets, import weight."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cnnconv.cli import cli

COURSE = "conv5x8,pool2,conv5x16,pool2,fc120,fc84,fc10"


def run(*args):
    return CliRunner().invoke(cli, ["shape", *args])


def test_table_shows_shapes_totals_and_receptive_field():
    result = run("--input", "32x32x3", "--layers", COURSE)
    assert result.exit_code == 0, result.output
    out = result.output
    for shape in ("28×28×8", "14×14×8", "10×10×16", "5×5×16"):
        assert shape in out
    assert "62,958" in out and "849,320" in out
    assert "receptive field: 16 pixels, jump 4" in out
    assert "flattens 5×5×16 → 400 first" in out
    assert "bias adds" in out and "not counted" in out


def test_explain_compares_the_course_table_of_seed_003():
    result = run("-i", "32x32x3", "-l", COURSE, "--explain")
    assert result.exit_code == 0, result.output
    out = result.output
    for standard, course in [("608", "208"), ("3,216", "416"), ("48,120", "48,001"), ("10,164", "10,081"),
                             ("850", "841")]:
        assert f"= {standard}; MACs" in out and f"course {course}" in out
    assert "5·5·3·8 + 8 = 608" in out
    assert "course total 59,547 vs standard 62,958" in out
    assert "shared by all input channels" in out


def test_json_has_rows_and_totals():
    result = run("-i", "32x32x3", "-l", COURSE, "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["totals"]["params"] == 62958 and data["totals"]["macs"] == 849320
    assert data["totals"]["rf"] == [16, 16] and data["totals"]["jump"] == [4, 4]
    assert [row["output"] for row in data["layers"]][:2] == [[28, 28, 8], [14, 14, 8]]
    assert data["layers"][4]["rf_global"] is True and data["layers"][4]["jump"] is None
    assert "bias adds" in data["units"]["macs"]


def test_csv_has_the_same_fields_and_a_total_row():
    result = run("-i", "32x32x3", "-l", COURSE, "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["output"] for r in rows[:4]] == ["28x28x8", "14x14x8", "10x10x16", "5x5x16"]
    assert rows[-1]["layer"] == "TOTAL" and rows[-1]["params"] == "62958" and rows[-1]["macs"] == "849320"
    assert (rows[-1]["rf_h"], rows[-1]["jump_h"]) == ("16", "4")
    assert sum(int(r["params"]) for r in rows[:-1]) == 62958


def test_two_dimensional_input_means_one_channel():
    result = run("-i", "28x28", "-l", "conv3x4", "--format", "json")
    assert json.loads(result.output)["layers"][0]["weights"] == 3 * 3 * 1 * 4


def test_warnings_reach_the_table():
    result = run("-i", "224x224x3", "-l", "conv11x96:s4")
    assert result.exit_code == 0
    assert "never read" in result.output and "1 warning" in result.output


def test_bad_token_exits_2_with_message_and_caret():
    result = run("-i", "32x32x3", "-l", "conv5x8, conv5x:s2,relu")
    assert result.exit_code == 2
    lines = result.output.splitlines()  # CliRunner mixes stderr in
    assert lines[0] == ("cnnconv: error: layer spec: conv5x:s2 (at 9): expected a filter count after "
                        "'conv5x' (e.g. conv5x16)")
    assert lines[1] == "  conv5x8, conv5x:s2,relu"
    assert lines[2] == "           ^~~~~~~~~"


def test_stack_that_shrinks_to_nothing_exits_2_naming_the_layer():
    result = run("-i", "8x8", "-l", "conv5x8,conv5x8")
    assert result.exit_code == 2
    assert "conv5x8 (at 8): output would be 0×0 from a 4×4×8 input" in result.output
    assert result.output.splitlines()[2] == "          ^~~~~~~"


def test_long_spec_caret_is_windowed():
    spec = ",".join(["relu"] * 50) + ",conv3x:s2," + ",".join(["relu"] * 50)
    result = run("-i", "4x4", "-l", spec)
    assert result.exit_code == 2
    shown, caret = result.output.splitlines()[1:3]
    assert shown.startswith("  …") and shown.endswith("…") and len(shown) < 90
    assert shown[caret.index("^"):].startswith("conv3x:s2")


def test_huge_repeat_is_refused_quickly():
    result = run("-i", "4x4", "-l", "relu*1000000")
    assert result.exit_code == 2 and "more than 10000 layers" in result.output


@pytest.mark.parametrize("value", ["0x3", "abc", "4x4x3x1", ""])
def test_bad_input_shape_exits_2(value):
    result = run("-i", value, "-l", "relu")
    assert result.exit_code == 2 and "input shape" in result.output


def test_missing_option_exits_2():
    assert run("-i", "4x4").exit_code == 2


def test_help_lists_the_grammar_and_examples():
    result = run("--help")
    assert result.exit_code == 0
    assert "conv3x16:k3x5" in result.output and "(conv3x64:p1,relu)*2,pool2" in result.output
    assert "Examples:" in result.output


def test_installed_command_imports_neither_numpy_nor_pil():
    code = (
        "import sys\n"
        "from cnnconv.cli import main\n"
        "try:\n"
        "    main(['shape', '-i', '32x32x3', '-l', 'conv5x8,pool2,fc10', '--explain'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "print(sorted(m for m in ('numpy', 'PIL') if m in sys.modules), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "16,298" in out.stdout  # the table was printed: 608 + (14·14·8 + 1)·10
    assert out.stderr.strip().splitlines()[-1] == "[]"


def test_module_entry_point_runs_shape():
    out = subprocess.run([sys.executable, "-m", "cnnconv", "shape", "-i", "32x32x3", "-l", COURSE,
                          "--format", "json"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["totals"]["params"] == 62958
    bad = subprocess.run([sys.executable, "-m", "cnnconv", "shape", "-i", "32x32x3", "-l", "conv5x"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("cnnconv: error: layer spec: conv5x (at 0)")
