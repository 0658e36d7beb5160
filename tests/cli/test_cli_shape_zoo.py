"""`cnnconv shape` with zoo names and graphs: listing, printing a spec, the natural input size,
the 'from' column, inputs in JSON and CSV; `train --layers NAME`; no NumPy for the big zoo nets."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from cnnconv.cli import cli
from cnnconv.shape.summary import summarize_network
from cnnconv.shape.zoo import ZOO
from tiny_images import make_stripes


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_a_zoo_name_uses_its_own_input_size():
    result = run("shape", "-l", "resnet50")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("input 224×224×3 (150,528 values)")
    assert "parameters: 25,557,032" in result.output


def test_input_overrides_the_zoo_size():
    data = json.loads(run("shape", "-l", "resnet18", "-i", "160x160x3", "--format", "json").output)
    assert data["input"] == [160, 160, 3]
    assert data["totals"]["params"] == 11_689_512 and data["totals"]["output"] == [1, 1, 1000]
    assert data["layers"][0]["output"] == [80, 80, 64]


def test_a_spec_without_input_is_a_usage_error_naming_the_option():
    result = run("shape", "-l", "conv3x8,relu")
    assert result.exit_code == 2
    assert "give the input shape with -i HxWxC" in result.output and "--list" in result.output


def test_no_layers_is_a_usage_error():
    result = run("shape", "-i", "8x8")
    assert result.exit_code == 2 and "give the layers with -l SPEC" in result.output


def test_list_names_every_network_with_input_params_and_description():
    result = run("shape", "--list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for name, zoo in ZOO.items():
        line = next(line for line in lines if line.split()[:1] == [name])
        assert "×".join(map(str, zoo.input_shape)) in line and zoo.description in line
    resnet50 = next(line for line in lines if line.split()[:1] == ["resnet50"])
    assert "25,557,032" in resnet50 and "4,089,184,256" in resnet50
    assert "388×388×2" in next(line for line in lines if line.split()[:1] == ["unet"])


def test_list_as_json_and_csv_carries_the_specs():
    data = json.loads(run("shape", "--list", "--format", "json").output)["networks"]
    assert [n["name"] for n in data] == list(ZOO)
    googlenet = next(n for n in data if n["name"] == "googlenet")
    assert googlenet["params"] == 6_624_904 and googlenet["input"] == [224, 224, 3]
    assert googlenet["spec"] == ZOO["googlenet"].spec
    rows = list(csv.DictReader(io.StringIO(run("shape", "--list", "--format", "csv").output)))
    assert {r["name"]: r["params"] for r in rows}["densenet121"] == "7978856"
    assert rows[0]["input"] == "32x32x1"


def test_list_refuses_a_spec():
    result = run("shape", "--list", "-l", "resnet18")
    assert result.exit_code == 2 and "--list takes no --layers" in result.output


@pytest.mark.parametrize("name", ["resnet18", "densenet121", "unet"])
def test_print_spec_gives_a_line_that_sizes_the_same_network(name):
    result = run("shape", "-l", name, "--print-spec")
    assert result.exit_code == 0
    printed = result.output.strip()
    assert printed == ZOO[name].spec and "\n" not in printed
    shape = ZOO[name].input_shape
    assert summarize_network(shape, printed).totals() == summarize_network(shape, name).totals()


def test_print_spec_of_a_bad_spec_shows_the_caret():
    result = run("shape", "-l", "conv3x8,conv3x:s2", "--print-spec")
    assert result.exit_code == 2
    assert result.output.splitlines()[2] == "          ^~~~~~~~~"


def test_a_zoo_name_is_not_a_token_and_a_token_is_not_a_zoo_name():
    fc = json.loads(run("shape", "-i", "4x4", "-l", "dense121", "--format", "json").output)
    assert fc["layers"][0]["kind"] == "fc" and fc["layers"][0]["output"] == [1, 1, 121]
    inside = run("shape", "-i", "32x32x3", "-l", "conv3x8,densenet121")
    assert inside.exit_code == 2 and "'densenet121' is a zoo network" in inside.output
    close = run("shape", "-i", "32x32x3", "-l", "resnet51")
    assert close.exit_code == 2 and "did you mean the zoo network 'resnet50'" in close.output


def test_a_zoo_network_too_big_for_the_input_names_it_and_shows_its_spec():
    result = run("shape", "-l", "unet", "-i", "64x64")
    assert result.exit_code == 2
    first, shown, caret = result.output.splitlines()[:3]
    assert "(the zoo network unet at 64x64x1)" in first
    assert shown.strip("  …").split(",")[0] in ZOO["unet"].spec and "^" in caret


def test_graph_table_shows_what_each_merge_reads():
    result = run("shape", "-i", "8x8x4", "-l", "conv3x4:p1,@a,pool2,up2,cat(@a|),add(conv3x8:p1|)")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = lines[2].split()
    assert header[:4] == ["#", "layer", "from", "output"]
    cat = next(line for line in lines if line.split()[1:2] == ["cat"])
    add = next(line for line in lines if line.split()[1:2] == ["add"])
    assert cat.split()[2:4] == ["1,", "3"] and add.split()[2:4] == ["5,", "4"]
    assert "branches: 1 add and 1 cat merge(s)" in result.output
    chain = run("shape", "-i", "8x8", "-l", "conv3x4,relu").output.splitlines()[2].split()
    assert "from" not in chain


def test_json_and_csv_rows_name_their_inputs_and_keep_the_totals():
    spec = "conv3x4:p1,@a,conv3x4:p1,conv3x4:p1,cat(@a|)"
    data = json.loads(run("shape", "-i", "10x10", "-l", spec, "--format", "json").output)
    assert [r["inputs"] for r in data["layers"]] == [[0], [1], [2], [1, 3]]
    assert data["layers"][-1]["crops"] == [[0, 0, 0, 0], [0, 0, 0, 0]]
    assert data["totals"]["output"] == [10, 10, 8] and data["totals"]["params"] == 40 + 148 + 148
    rows = list(csv.DictReader(io.StringIO(run("shape", "-i", "10x10", "-l", spec, "--format", "csv").output)))
    assert [r["inputs"] for r in rows[:-1]] == ["0", "1", "2", "1 3"]
    assert rows[-1]["layer"] == "TOTAL" and rows[-1]["params"] == str(data["totals"]["params"])


def test_csv_names_the_crops_of_a_unet_skip():
    rows = list(csv.DictReader(io.StringIO(run("shape", "-l", "unet", "--format", "csv").output)))
    first_cat = next(r for r in rows if r["kind"] == "cat")
    assert first_cat["inputs"] == "19 25" and first_cat["crops"] == "4,4,4,4 0,0,0,0"
    assert rows[-1]["output"] == "388x388x2"


@pytest.mark.parametrize("name", ["resnet50", "densenet121"])
def test_big_zoo_networks_answer_without_numpy(name):
    code = (
        "import sys\n"
        "from cnnconv.cli import main\n"
        "try:\n"
        f"    main(['shape', '-l', {name!r}])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code in (0, None), exc.code\n"
        "print(sorted(m for m in ('numpy', 'PIL', 'rich') if m in sys.modules), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert f"parameters: {summarize_network(ZOO[name].input_shape, name).totals()['params']:,}" in out.stdout
    assert out.stderr.strip().splitlines()[-1] == "[]"


def test_train_takes_a_zoo_name_and_fits_its_class_layer_to_the_data(tmp_path):
    data = make_stripes(tmp_path / "stripes", per_class=6)
    model = tmp_path / "lenet.npz"
    result = run("train", data, "--layers", "lenet5", "--epochs", "1", "--batch-size", "8", "-o", model, "--json")
    assert result.exit_code == 0, result.output
    from cnnconv.io.model import read_meta

    spec = read_meta(model)[0]["spec"]
    assert spec == ZOO["lenet5"].trunk + ",fc3"
    again = run("train", data, "--layers", "lenet5", "--resume", model, "--epochs", "2", "--batch-size", "8",
                "-o", tmp_path / "more.npz", "--json")
    assert again.exit_code == 0, again.output


def _readme_shape_examples():
    import re
    import shlex
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    examples = []
    for block in re.finditer(r"^```console\n(.*?)^```\n", text, re.S | re.M):
        lines = block.group(1).splitlines(keepends=True)
        for i, line in enumerate(lines):
            if line.startswith("$ cnnconv shape"):
                end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("$ ")), len(lines))
                examples.append(pytest.param(shlex.split(line[2:])[1:], "".join(lines[i + 1:end]),
                                             id=line[2:60].strip()))
    return examples


@pytest.mark.parametrize(("args", "shown"), _readme_shape_examples())
def test_every_shape_example_in_the_readme_prints_what_it_shows(args, shown, monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    assert CliRunner().invoke(cli, args).output == shown


def test_the_readme_has_the_graph_examples():
    commands = " ".join(" ".join(args) for args, _ in (p.values for p in _readme_shape_examples()))
    for form in ("add(", "cat(conv1x64|", "cat(@skip|)", "--list", "--print-spec"):
        assert form in commands
