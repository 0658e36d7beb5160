"""``cnnconv export``: a model file from ``cnnconv train`` as an ONNX model."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cnnconv.cli._common import EXIT_FAILED, EXIT_USAGE, CliError
from cnnconv.cli._options import PathArg

EXAMPLES = """
\b
Examples:
  cnnconv export model.npz -o model.onnx
  cnnconv export model.npz -o model.onnx --input-type float --check
  cnnconv export model.npz --json

\b
The ONNX model takes the picture as cnnconv reads it, channels last: a batch N x H x W x C
of uint8 samples (or float32 in [0, 1] with --input-type float) already resized to the
model's size; the scaling, the training set's standardisation and the transpose to NCHW
are inside the graph. Its outputs are 'logits' and 'probabilities' (N x classes); the
class names, input size and layout are in its metadata. Needs the onnx extra:
pip install 'cnnconv[onnx]'.
"""

#: Images --check runs through both cnnconv and onnxruntime.
CHECK_IMAGES = 8
#: Largest difference of a probability --check accepts.
CHECK_TOLERANCE = 1e-5


@click.command("export", epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("model", type=PathArg(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=PathArg(dir_okay=False, path_type=Path),
              help="ONNX file to write (atomically); default: MODEL with the suffix .onnx.")
@click.option("--input-type", type=click.Choice(["uint8", "float"]), default="uint8", show_default=True,
              help="What the graph's input holds: raw 8-bit samples, or float32 in [0, 1].")
@click.option("--check", is_flag=True,
              help=f"Run {CHECK_IMAGES} random images through onnxruntime and cnnconv and compare "
                   f"(top-1 equal, probabilities within {CHECK_TOLERANCE:g}); needs onnxruntime.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON record instead of the summary line.")
def export_cmd(model: Path, output: Path | None, input_type: str, check: bool, as_json: bool) -> None:
    """Write MODEL (a .npz from 'cnnconv train') as an ONNX model, normalisation included."""
    from cnnconv.errors import MissingExtraError
    from cnnconv.io.onnx_export import export_model

    output = output if output is not None else model.with_suffix(".onnx")
    if check:
        _require_onnxruntime()
    try:
        summary = export_model(model, output, input_type=input_type)
    except MissingExtraError as exc:
        error = CliError(str(exc))
        error.exit_code = EXIT_USAGE
        raise error from None
    record = {"ok": True, "model": str(model), "output": summary.path, "input": summary.input_name,
              "input_type": summary.input_type, "input_shape": list(summary.input_shape), "layout": "NHWC",
              "outputs": list(summary.outputs), "classes": list(summary.classes), "opset": summary.opset,
              "nodes": summary.nodes, "bytes": summary.bytes}
    if check:
        record["check"] = _check(model, output, input_type)
    if as_json:
        click.echo(_dumps(record))
    else:
        n, h, w, c = summary.input_shape
        click.echo(f"wrote {summary.path}: input 'image' {input_type} {n}x{h}x{w}x{c} (NHWC, "
                   + ("samples 0..255" if input_type == "uint8" else "float32 in [0, 1]")
                   + f", resized to {h}x{w}), outputs 'logits' and 'probabilities' (N x {len(summary.classes)}), "
                   f"opset {summary.opset}, {summary.nodes} nodes, {summary.bytes:,} bytes")
        if check:
            result = record["check"]
            click.echo(f"check: {result['images']} random images, top-1 {'equal' if result['top1_equal'] else 'DIFFERS'}, "
                       f"largest probability difference {result['max_abs_diff']:.2e}")
    if check and not record["check"]["ok"]:
        raise click.exceptions.Exit(EXIT_FAILED)


def _require_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        error = CliError("--check needs onnxruntime to run the exported model; install it with "
                         "pip install onnxruntime (or drop --check)")
        error.exit_code = EXIT_USAGE
        raise error from None
    return onnxruntime


def _check(model: Path, output: Path, input_type: str) -> dict:
    """The exported file against cnnconv's own forward on random images of the model's shape."""
    import numpy as np

    from cnnconv.io.dataset import standardise
    from cnnconv.io.model import load_model
    from cnnconv.nn.model import predict_proba

    ort = _require_onnxruntime()
    network, meta = load_model(model)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(CHECK_IMAGES, *network.input_shape), dtype=np.uint8)
    floats = images.astype(np.float32) * np.float32(1.0 / 255.0)
    expected = predict_proba(network, standardise(floats, meta["mean"], meta["std"]))
    session = ort.InferenceSession(str(output), providers=["CPUExecutionProvider"])
    got = session.run(["probabilities"], {"image": images if input_type == "uint8" else floats})[0]
    diff = float(np.abs(got - expected).max())
    top1 = bool((got.argmax(axis=1) == expected.argmax(axis=1)).all())
    return {"images": CHECK_IMAGES, "top1_equal": top1, "max_abs_diff": diff,
            "ok": top1 and diff <= CHECK_TOLERANCE}


def _dumps(value) -> str:
    """Strict JSON (:func:`cnnconv.io.numbers.dumps`: a NaN is null and a field says why)."""
    from cnnconv.io.numbers import dumps

    return dumps(value)
