"""Fuzzing every parser of user input: a result or cnnconv's own error, nothing else.

Random text goes to the kernel-string parsers, the kernel-file reader, the layer grammar
(and the shape arithmetic behind it) and the option parsers; random and mutated bytes go to
the image, array and model loaders. The only outcomes allowed are a value or
``CnnconvError`` (``click.BadParameter`` for the Click option types) -- never another
exception, which the command line would have to call an internal error.
"""

from __future__ import annotations

import io
import os
import tempfile
import warnings
from pathlib import Path

import click
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnconv.errors import CnnconvError

# Printable text with the characters the grammars care about over-represented.
NUMBERISH = st.text(alphabet="0123456789-+.eE,;: x×\t\r\n#/*()[]abcdefghijklmnopqrstuvwxyz=_\ufeff", max_size=60)
ANY_TEXT = st.one_of(st.text(max_size=60), NUMBERISH)


def allowed(call, *, errors=(CnnconvError,)):
    """Run ``call()``; an allowed error is fine, anything else fails the test (with the input)."""
    try:
        return call()
    except errors:
        return None


# --------------------------------------------------------------------------- kernels


@given(ANY_TEXT)
def test_inline_kernel_parser(text):
    from cnnconv.kernels import parse_inline

    kernel = allowed(lambda: parse_inline(text))
    if kernel is not None:
        w = kernel.effective()
        assert w.ndim in (1, 2, 3) and w.size and np.isfinite(w).all()


PARAMETRIC = st.builds(
    lambda head, tail: head + tail,
    st.sampled_from(["gaussian:", "gaussian:sigma=", "box:", "log:sigma=", "dog:", "gaussian:size=", "box:1e", ""]),
    NUMBERISH,
)


@given(st.one_of(PARAMETRIC, ANY_TEXT))
def test_kernel_spec_resolution(text):
    """``--kernel`` text: a bundled name, parametric, inline, or a file (none exists in the empty cwd)."""
    from cnnconv.io.kernels import load_kernel

    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as empty:
        os.chdir(empty)
        try:
            kernel = allowed(lambda: load_kernel(text))
        finally:
            os.chdir(cwd)
    if kernel is not None:
        assert np.isfinite(kernel.effective()).all()


KERNEL_LINES = st.lists(
    st.one_of(
        st.lists(st.sampled_from(["1", "-2", "0.5", "1e3", "nan", "inf", "abc", "", "3/4", "1,"]), max_size=4).map(" ".join),
        st.sampled_from(["scale 2", "scale 0", "offset 1", "# comment", "---", "scale 1/0", "offset", "scale x"]),
        NUMBERISH,
    ),
    max_size=6,
)
NEWLINES = st.sampled_from(["\n", "\r\n", "\r"])


@given(KERNEL_LINES, NEWLINES, st.booleans())
def test_kernel_text_parser(lines, newline, bom):
    from cnnconv.kernels import parse_kernel_text

    text = ("\ufeff" if bom else "") + newline.join(lines)
    kernel = allowed(lambda: parse_kernel_text(text, "k.txt"))
    if kernel is not None:
        assert np.isfinite(kernel.effective()).all()


@given(st.lists(NUMBERISH, max_size=5).map("\n".join), st.sampled_from(["", "3 3\n", "3 1 2\n", "2 2 0 1\n", "1 1\n"]))
def test_vips_mat_parser(body, header):
    from cnnconv.kernels import parse_vips_mat

    kernel = allowed(lambda: parse_vips_mat(header + body, "k.mat"))
    if kernel is not None:
        assert np.isfinite(kernel.effective()).all()


def _npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


GOOD_NPY = _npy_bytes(np.arange(9.0).reshape(3, 3))
FILE_BYTES = st.one_of(
    st.binary(max_size=200),
    NUMBERISH.map(lambda t: t.encode("utf-8")),
    st.builds(lambda cut: GOOD_NPY[:cut], st.integers(0, len(GOOD_NPY))),
    st.just(_npy_bytes(np.array([object()], dtype=object))),
    st.just(_npy_bytes(np.array(["a", "b"]))),
    st.just(_npy_bytes(np.zeros((2, 0)))),
    st.just(_npy_bytes(np.array([[np.nan]]))),
)


@given(FILE_BYTES, st.sampled_from([".txt", ".csv", ".mat", ".npy", ""]))
def test_kernel_file_reader(data, suffix):
    from cnnconv.io.kernels import read_kernel_file

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"k{suffix}"
        path.write_bytes(data)
        kernel = allowed(lambda: read_kernel_file(path))
    if kernel is not None:
        assert np.isfinite(kernel.effective()).all()


# --------------------------------------------------------------------------- layer grammar

TOKENS = st.sampled_from([
    "conv", "tconv", "pool", "maxpool", "avgpool", "fc", "dense", "gap", "gmp", "flatten", "relu", "sigmoid", "tanh",
    "softplus", "abs", "softmax", "lcn", "bn", "dropout", "3", "5x8", "x", "0", "-1", "1000000000", "99999999999",
    ":s2", ":p1", ":same", ":valid", ":full", ":d2", ":g2", ":dw", ":op1", ":k3x5", ":ceil", ":0.5", ",", "(", ")",
    "*2", "*0", "*", ":", " ", "×",
])
SPECS = st.one_of(ANY_TEXT, st.lists(TOKENS, max_size=12).map("".join))


@given(SPECS)
def test_layer_grammar(spec):
    from cnnconv.shape.grammar import parse_layers

    layers = allowed(lambda: parse_layers(spec))
    if layers is not None:
        assert all(layer.kind for layer in layers)


@given(SPECS, st.tuples(st.integers(1, 64), st.integers(1, 64), st.integers(1, 4)))
def test_shape_arithmetic_of_any_spec(spec, input_shape):
    """``cnnconv shape`` on any text: a summary (integers only) or a CnnconvError."""
    from cnnconv.shape.summary import summarize_network

    summary = allowed(lambda: summarize_network(input_shape, spec))
    if summary is not None:
        assert summary.rows and summary.rows[0].input == input_shape
        for row in summary.rows:
            assert all(isinstance(n, int) and n >= 1 for n in row.output), row
            assert row.params == row.weights + row.biases and min(row.params, row.macs) >= 0, row


@given(ANY_TEXT)
def test_input_shape_parser(text):
    from cnnconv.shape.grammar import parse_input_shape

    shape = allowed(lambda: parse_input_shape(text))
    if shape is not None:
        assert all(isinstance(n, int) and n >= 1 for n in shape)


# --------------------------------------------------------------------------- option parsers


def _option_types():
    from cnnconv.cli._options import BoundaryType, FiniteFloat, MaxPixelsType, PaddingType, PairType
    from cnnconv.cli.train import SizeType

    return {"--stride/--dilation/pool --size": PairType(), "--padding": PaddingType(), "train --size": SizeType(),
            "--boundary": BoundaryType(), "--scale/--offset": FiniteFloat(), "--max-pixels": MaxPixelsType()}


@pytest.mark.parametrize("option", list(_option_types()))
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=ANY_TEXT)
def test_option_parsers(option, text):
    kind = _option_types()[option]
    value = allowed(lambda: kind.convert(text, None, None), errors=(click.BadParameter,))
    if value is not None and option in ("--stride/--dilation/pool --size", "train --size"):
        numbers = value if isinstance(value, tuple) else (value,)
        assert all(isinstance(n, int) and n >= 1 for n in numbers)
    if value is not None and option == "--padding":
        flat = np.ravel(value)
        assert all(int(n) >= 0 for n in flat)


# --------------------------------------------------------------------------- image, array, model loaders


def _image_bytes(fmt: str, mode: str, **save) -> bytes:
    values = (np.arange(8 * 6 * 3).reshape(6, 8, 3) * 11 % 256).astype(np.uint8)
    im = Image.fromarray(values).convert(mode)
    buffer = io.BytesIO()
    im.save(buffer, fmt, **save)
    return buffer.getvalue()


SEEDS = [
    _image_bytes("PNG", "RGB"), _image_bytes("PNG", "P"), _image_bytes("PNG", "I;16"), _image_bytes("JPEG", "RGB"),
    _image_bytes("JPEG", "CMYK"), _image_bytes("GIF", "P"), _image_bytes("BMP", "RGB"), _image_bytes("TIFF", "RGBA"),
    _image_bytes("TIFF", "F"), _image_bytes("WEBP", "RGB", lossless=True),
]


@st.composite
def mutated(draw, seeds):
    """A valid file with a few bytes changed, cut short, or with bytes inserted."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "header"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if action == "flip":
            data[at] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[at:]
        elif action == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        else:  # the header holds the sizes and the modes: hit it harder
            data[min(at, 40) % len(data)] = draw(st.integers(0, 255))
    return bytes(data)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=300), mutated(SEEDS)), gray=st.booleans())
def test_image_loader(data, gray, capfd):
    """Also: Pillow's warnings and log lines on damaged files never reach stderr (notes instead)."""
    from cnnconv.io.images import read_image

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = allowed(lambda: read_image(data, max_pixels=1 << 20, gray=gray))
    assert not caught, [str(w.message) for w in caught]
    assert capfd.readouterr().err == ""
    if result is not None:
        array, info = result
        assert array.ndim in (2, 3) and array.shape[:2] == (info.height, info.width)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(min_size=1, max_size=200), mutated(SEEDS[:4])),
       command=st.sampled_from([["filter", "-", "-k", "box3"], ["pool", "-", "--size", "2"]]))
def test_stdin_through_the_command_line(data, command):
    """Random bytes on stdin of the real command: exit 0 or 1, and only one-line cnnconv messages."""
    from click.testing import CliRunner

    from cnnconv.cli import cli

    with tempfile.TemporaryDirectory() as d:
        result = CliRunner().invoke(cli, [*command, "-o", str(Path(d) / "out.npy")], input=data)
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert all(line.startswith("cnnconv: ") for line in result.stderr.splitlines()), result.stderr
    assert "internal error" not in result.stderr


@given(st.one_of(st.binary(max_size=200), NUMBERISH.map(str.encode), mutated([GOOD_NPY])),
       st.sampled_from(["txt", "csv", None]))
def test_array_loader(data, fmt):
    from cnnconv.io.arrays import read_array

    result = allowed(lambda: read_array(data, fmt=fmt) if fmt else read_array(data))
    if result is not None:
        array, info = result
        assert info.shape == array.shape and array.size and array.dtype == np.float64 and np.isfinite(array).all()
        assert array.ndim in ((1, 2, 3) if info.format == "npy" else (1, 2)) and info.format in ("npy", "csv", "txt")


_MODEL: dict[str, bytes] = {}


def _model_bytes() -> bytes:
    if "m" not in _MODEL:
        from cnnconv.io.model import save_model
        from cnnconv.nn.model import build_network

        network = build_network("conv3x2,relu,pool2", (6, 6, 1), 2, seed=0)
        meta = dict(class_names=["a", "b"], channels="gray", mean=np.zeros(1, np.float32),
                    std=np.ones(1, np.float32), history=[], optimizer_state={}, training={})
        with tempfile.TemporaryDirectory() as d:
            save_model(Path(d) / "m.npz", network, meta)
            _MODEL["m"] = (Path(d) / "m.npz").read_bytes()
    return _MODEL["m"]


@st.composite
def mutated_model(draw):
    return draw(mutated([_model_bytes()]))


@settings(max_examples=100)
@given(st.one_of(mutated_model(), st.binary(max_size=100)))
def test_model_loader(data):
    from cnnconv.io.model import load_model

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.npz"
        path.write_bytes(data)
        loaded = allowed(lambda: load_model(path))
    if loaded is not None:
        network, meta = loaded
        assert meta["num_classes"] == 2


def test_the_seeds_decode_to_their_samples_and_a_mutation_reaches_the_decoder():
    """The seeds are valid (so failures found above come from the damage, not from the seeds),
    and a changed byte gets past the format check into the samples (so the damage is decoded)."""
    from cnnconv.io.images import read_image
    from cnnconv.io.model import load_model

    values = (np.arange(8 * 6 * 3).reshape(6, 8, 3) * 11 % 256).astype(np.uint8)
    shapes = {"RGB": (6, 8, 3), "P": (6, 8, 3), "I;16": (6, 8), "CMYK": (6, 8, 4), "RGBA": (6, 8, 4), "F": (6, 8)}
    for data in SEEDS:
        array, info = read_image(data)
        assert array.shape == shapes[info.mode], (info.format, info.mode)
    for lossless in (SEEDS[0], SEEDS[6], SEEDS[9]):  # PNG, BMP and lossless WebP of RGB values
        np.testing.assert_array_equal(read_image(lossless)[0], values)
    bmp = bytearray(SEEDS[6])
    bmp[60] ^= 0xFF  # a pixel byte: BMP has no checksum, so exactly one sample changes
    assert int((read_image(bytes(bmp))[0] != values).sum()) == 1
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "m.npz").write_bytes(_model_bytes())
        network, meta = load_model(Path(d) / "m.npz")
    assert meta["class_names"] == ["a", "b"] and meta["num_classes"] == 2



# --------------------------------------------------------------------------- whole command lines

_WORLD: dict[str, Path] = {}


def _world() -> Path:
    """A folder with inputs of every kind, a two-class data set and a model, made once."""
    if "root" not in _WORLD:
        root = Path(tempfile.mkdtemp(prefix="cnnconv-fuzz-"))
        for name, mode in (("in.png", "RGB"), ("g.png", "L"), ("rgba.png", "RGBA")):
            Image.fromarray((np.arange(64).reshape(8, 8) * 7 % 256).astype(np.uint8)).convert(mode).save(root / name)
        for k, cls in enumerate("ab"):
            (root / "data" / cls).mkdir(parents=True)
            for i in range(3):
                Image.new("L", (8, 8), 40 + 150 * k + 9 * i).save(root / "data" / cls / f"{i}.png")
        (root / "s.csv").write_text("1,2,3,4,5\n")
        np.save(root / "a.npy", np.arange(12.0).reshape(3, 4))
        (root / "k.txt").write_text("1 2 1\n")
        (root / "m.npz").write_bytes(_model_bytes())
        _WORLD["root"] = root
    return _WORLD["root"]


VALUES = st.sampled_from([
    "0", "1", "2", "-1", "3,3", "1,2,3,4", "x", "", "nan", "inf", "1e9", "100000", "2x2", "same", "valid", "full",
    "reflect", "wrap", "constant:5", "none", "sobel-x", "gaussian:sigma=3", "box:99", "1,2;3,4", "k.txt", "-",
    "out.png", "out.npy", "out.csv", "out.tif", "out.jpg", "out.gif", "{stem}.png", "in.png", "o", "magnitude",
])
COMMANDS = {
    "filter": (["-k box3", "-k sobel-x -k sobel-y", "-k k.txt", "-k 1,2,1"],
               ["-k", "--mode", "--padding", "--stride", "--dilation", "--boundary", "--combine", "--scale", "--offset",
                "--alpha", "--range", "--max-pixels", "-o", "--out-dir", "--name"],
               ["--convolve", "--normalize", "--gray", "--json", "-v", "-q"]),
    "pool": (["--size 2", "--size 3", "--size 1,2"],
             ["--size", "--stride", "--padding", "--op", "--range", "-o", "--out-dir", "--name"],
             ["--ceil", "--count-pad", "--gray", "--json", "-v"]),
    "predict": (["m.npz", "--top 2"], ["--top", "--feature-maps"], ["--json"]),
    "evaluate": (["m.npz"], [], ["--json"]),
    "kernels": ([""], ["--digits"], ["--json"]),
    "shape": (["-i 32x32x3 -l conv3x4,pool2,fc10", "-i 8x8 -l gap", "-l fc5 -i 10"], ["-i", "-l", "--format"],
              ["--explain"]),
    "train": (["--epochs 1 --batch-size 2 --layers conv3x2,relu,pool2 -o t.npz", "--epochs 1 --layers fc3 -o t.npz"],
              ["--layers", "--size", "--val-split", "--lr", "--batch-size", "--patience", "--seed", "-o", "--loss",
               "--optimizer", "--momentum", "--weight-decay", "--resume"], ["--gray", "--rgb", "--json", "--nesterov"]),
}
INPUTS = {
    "filter": ["in.png", "g.png", "rgba.png", "s.csv", "a.npy", "data/a", "nope.png"],
    "pool": ["in.png", "g.png", "rgba.png", "s.csv", "a.npy", "data/a", "nope.png"],
    "predict": ["in.png", "g.png", "data/a/0.png", "s.csv", "nope.png", "m.npz"],
    "evaluate": ["data", "data/a", "nope"],
    "kernels": ["sobel-x", "k.txt", "box:3", "1,2;3", "nope", "in.png"],
    "shape": [],
    "train": ["data", "data/a", "nope", "in.png"],
}


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(COMMANDS)))
    fixed, options, flags = COMMANDS[command]
    inputs = draw(st.lists(st.sampled_from(INPUTS[command]), min_size=1, max_size=3)) if INPUTS[command] else []
    first = draw(st.sampled_from(fixed)).split()
    if command in ("predict", "evaluate"):  # MODEL comes first
        inputs, first = first[:1] + inputs, first[1:]
    argv = [command, *inputs, *first]
    for _ in range(draw(st.integers(0, 3))):
        if options and draw(st.booleans()):
            argv += [draw(st.sampled_from(options)), draw(VALUES)]
        else:
            argv.append(draw(st.sampled_from(flags)))
    if command in ("filter", "pool") and "-o" not in argv and "--out-dir" not in argv:
        argv += draw(st.sampled_from([["-o", "out.png"], ["-o", "out.npy"], ["--out-dir", "outs"], ["-o", "-"]]))
    return argv


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(command_lines())
def test_random_command_lines(argv):
    """Random, mostly wrong, command lines: exit 0/1/2, and a failure always says why on an error line."""
    from click.testing import CliRunner

    from cnnconv.cli import cli

    cwd = os.getcwd()
    os.chdir(_world())
    try:
        result = CliRunner().invoke(cli, argv, prog_name="cnnconv")
    finally:
        os.chdir(cwd)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("cnnconv: error: ")]
    if result.exit_code:
        assert errors, f"exit {result.exit_code} without an error line: {result.stderr}"
