"""``cnnconv train`` end to end on a small data set drawn with Pillow in the test."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from cnnconv.cli import cli
from cnnconv.io.model import load_model
from cnnconv.io.plots import GAP

CLASSES = ("circle", "square", "triangle")
FAST = ["--batch-size", "16", "--lr", "0.003"]


def make_shapes(root, per_class=30, size=16, seed=0, mode="L"):
    """White circles, squares and triangles of random size and place on black, one folder per class."""
    rng = np.random.default_rng(seed)
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            img = Image.new(mode, (size, size), 0)
            draw = ImageDraw.Draw(img)
            r = int(rng.integers(size // 4, size * 7 // 16))
            cx, cy = (int(v) for v in rng.integers(r, size - r, size=2))
            fill = 255 if mode == "L" else tuple(int(v) for v in rng.integers(128, 256, size=3))
            if name == "circle":
                draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
            elif name == "square":
                draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
            else:
                draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
            img.save(root / name / f"{i:03d}.png")
    return root


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return make_shapes(tmp_path_factory.mktemp("data") / "shapes")


@pytest.fixture(scope="module")
def trained(shapes, tmp_path_factory):
    """One real training run shared by the tests that only read its results."""
    out = tmp_path_factory.mktemp("trained")
    model, plots = out / "shapes.npz", out / "plots"
    result = run("train", shapes, "--epochs", 15, *FAST, "-o", model, "--plots", plots)
    return result, model, plots


def test_training_writes_a_model_that_learned_the_shapes(trained):
    result, model, _ = trained
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "conv5x8:p2" in out and "parameters" in out  # the shape table comes first
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 15 and lines[0].startswith("epoch  1/15  loss ") and "img/s" in lines[0]
    assert f"saved {model}: best epoch" in out
    network, meta = load_model(model)
    assert meta["class_names"] == list(CLASSES) and meta["channels"] == "gray"
    assert network.input_shape == (16, 16, 1)
    assert max(h["val_acc"] for h in meta["history"]) >= 0.9
    assert meta["training"]["validation"] == "split" and meta["training"]["val_images"] == 9


def test_plots_are_valid_pngs_of_the_expected_size(trained):
    _, model, plots = trained
    network, _ = load_model(model)
    with Image.open(plots / "curves.png") as img:
        img.verify()
    with Image.open(plots / "curves.png") as img:
        assert img.format == "PNG" and img.size == (960, 360)
    with Image.open(plots / "kernels.png") as img:
        # 8 cards of 5x5 kernels enlarged 14 times (70 px), 4 to a row: kernel_sheet's layout
        assert img.format == "PNG" and img.size == (4 * 200 + 5 * 8, 2 * (24 + 70 + 40) + 3 * 8 + 22)
    assert network.modules[0].params["weight"].shape == (5, 5, 1, 8)


def test_the_same_seed_gives_the_same_model_bit_for_bit(shapes, tmp_path):
    for name in ("a.npz", "b.npz"):
        assert run("train", shapes, "--epochs", 2, *FAST, "--seed", 7, "-o", tmp_path / name).exit_code == 0
    a, b = (load_model(tmp_path / n)[0].state() for n in ("a.npz", "b.npz"))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert run("train", shapes, "--epochs", 2, *FAST, "--seed", 8, "-o", tmp_path / "c.npz").exit_code == 0
    c = load_model(tmp_path / "c.npz")[0].state()
    assert not all(np.array_equal(a[k], c[k]) for k in a)


def test_json_mode_prints_one_document(shapes, tmp_path):
    result = run("train", shapes, "--epochs", 2, *FAST, "--json", "-o", tmp_path / "m.npz")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model"] == str(tmp_path / "m.npz") and report["stopped"] == "completed"
    assert [h["epoch"] for h in report["history"]] == [1, 2] and report["classes"] == list(CLASSES)


def test_a_corrupt_image_is_named_and_training_goes_on(tmp_path):
    data = make_shapes(tmp_path / "data", per_class=6)
    (data / "square" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    result = run("train", data, "--epochs", 1, *FAST, "-o", tmp_path / "m.npz")
    assert result.exit_code == 0, result.output
    assert "cnnconv: warning: skipped" in result.stderr and "broken.png" in result.stderr
    assert "1 file(s) could not be read" in result.stderr
    training = load_model(tmp_path / "m.npz")[1]["training"]
    assert training["train_images"] + training["val_images"] == 18  # every good image, none lost


def no_images(root):
    root.mkdir()


def empty_class(root):
    make_shapes(root, per_class=2)
    for path in (root / "square").iterdir():
        path.unlink()


def one_class(root):
    make_shapes(root, per_class=2)
    for name in CLASSES[1:]:
        shutil.rmtree(root / name)


@pytest.mark.parametrize(
    "build, message",
    [
        (no_images, "has no class folders"),
        (empty_class, "square' has no images"),
        (one_class, "1 class (only 'circle'); a classifier needs at least 2 class folders"),
    ],
    ids=["no-images", "empty-class", "one-class"],
)
def test_unusable_data_folders_get_one_line_errors(tmp_path, build, message):
    build(tmp_path / "data")
    result = run("train", tmp_path / "data", "-o", tmp_path / "m.npz")
    assert result.exit_code == 1
    assert result.stderr.startswith("cnnconv: error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (tmp_path / "m.npz").exists()


def test_mixed_sizes_need_size(tmp_path):
    data = make_shapes(tmp_path / "data", per_class=4)
    Image.new("L", (20, 12)).save(data / "circle" / "wide.png")
    result = run("train", data, "--epochs", 1, "-o", tmp_path / "m.npz")
    assert result.exit_code == 1 and "wide.png" in result.stderr and "--size" in result.stderr
    result = run("train", data, "--epochs", 1, "--size", "12x12", "-o", tmp_path / "m.npz")
    assert result.exit_code == 0, result.output
    assert load_model(tmp_path / "m.npz")[0].input_shape == (12, 12, 1)


def test_a_nan_learning_rate_saves_nothing_and_leaves_an_existing_model_alone(shapes, tmp_path):
    (tmp_path / "m.npz").write_bytes(b"a trained model")
    result = run("train", shapes, "--lr", "nan", "--epochs", 3, "-o", tmp_path / "m.npz")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "cnnconv: error: the loss became NaN or infinite in epoch 1 (learning rate nan): "
        "no epoch finished with a finite loss; nothing saved (try a smaller --lr)"]
    assert (tmp_path / "m.npz").read_bytes() == b"a trained model"
    assert "epoch 1/3" not in result.stdout


def test_a_nan_learning_rate_with_json_is_one_error_record(shapes, tmp_path):
    result = run("train", shapes, "--lr", "nan", "--epochs", 3, "--json", "-o", tmp_path / "m.npz")
    assert result.exit_code == 1 and not (tmp_path / "m.npz").exists()
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 1 and records[0]["ok"] is False and records[0]["exit_code"] == 1
    assert "nothing saved" in records[0]["error"]


def test_a_learning_rate_that_diverges_later_keeps_the_best_epoch(shapes, tmp_path, monkeypatch):
    import cnnconv.nn.train as train_module

    real_fit = train_module.fit

    def poisoned_fit(net, *args, on_batch=None, **kwargs):
        def batch(epoch, i, n, loss):
            if epoch == 3 and i == 0:
                net.modules[0].params["weight"][...] = np.nan  # the next forward gives NaN
            on_batch(epoch, i, n, loss)
        return real_fit(net, *args, on_batch=batch, **kwargs)

    monkeypatch.setattr(train_module, "fit", poisoned_fit)
    result = run("train", shapes, "--epochs", 5, *FAST, "-o", tmp_path / "m.npz")
    assert result.exit_code == 1 and "the loss became NaN" in result.stderr
    assert "epoch 2/5" in result.stdout and "epoch 3/5" not in result.stdout
    network, meta = load_model(tmp_path / "m.npz")
    assert meta["training"]["best_epoch"] in (1, 2) and len(meta["history"]) == 2


def test_ctrl_c_saves_the_best_model_so_far(shapes, tmp_path, monkeypatch):
    import cnnconv.nn.train as train_module

    real_fit = train_module.fit

    def interrupted_fit(*args, on_batch=None, **kwargs):
        def batch(epoch, i, n, loss):
            if epoch == 3 and i == 1:
                raise KeyboardInterrupt  # what Ctrl-C raises in the middle of a batch loop
            on_batch(epoch, i, n, loss)
        return real_fit(*args, on_batch=batch, **kwargs)

    monkeypatch.setattr(train_module, "fit", interrupted_fit)
    result = run("train", shapes, "--epochs", 10, *FAST, "-o", tmp_path / "m.npz")
    assert result.exit_code == 130
    assert "interrupted: saved the best model so far to" in result.stderr
    network, meta = load_model(tmp_path / "m.npz")
    assert meta["training"]["stopped"] == "interrupted" and [h["epoch"] for h in meta["history"]] == [1, 2]


def test_resume_continues_the_numbering_and_refuses_to_overwrite_its_input(trained, shapes, tmp_path):
    _, model, _ = trained
    result = run("train", shapes, "--resume", model, "-o", model)
    assert result.exit_code == 2 and "is this input file" in result.output
    result = run("train", shapes, "--resume", model, "--epochs", 2, *FAST, "-o", tmp_path / "more.npz")
    assert result.exit_code == 0, result.output
    assert "epoch 16/17" in result.stdout and "epoch 17/17" in result.stdout
    _, meta = load_model(tmp_path / "more.npz")
    assert [h["epoch"] for h in meta["history"]] == list(range(1, 18))
    assert meta["optimizer_state"]


@pytest.mark.parametrize(
    "option, value, hint",
    [("--size", "8x8", "--size"), ("--rgb", None, "--gray/--rgb"), ("--layers", "conv3x4,fc3", "--layers")],
)
def test_resume_refuses_options_that_contradict_the_model(trained, shapes, tmp_path, option, value, hint):
    _, model, _ = trained
    args = [option] + ([value] if value else [])
    result = run("train", shapes, "--resume", model, *args, "-o", tmp_path / "x.npz")
    assert result.exit_code == 2 and hint in result.output and "drop the option" in result.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--size", "0x4"], "is not a size"),
        (["--size", "big"], "is not a size"),
        (["--size", "100000x100000"], "over the limit"),
        (["--lr", "0"], "is not a learning rate"),
        (["--lr", "-1"], "is not a learning rate"),
        (["--val-split", "1"], "--val-split"),
        (["--epochs", "0"], "--epochs"),
        (["--layers", "conv3x4,bogus"], "unknown layer 'bogus'"),
        (["--layers", "conv3x4,pool2,conv9x9"], "conv9x9"),
        (["--layers", "tconv3x4"], "predicts a class per pixel"),
        (["--loss", "hinge"], "--loss"),
    ],
)
def test_bad_options_are_usage_errors(shapes, tmp_path, args, message):
    result = run("train", shapes, *args, "-o", tmp_path / "m.npz")
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "m.npz").exists()


def test_an_output_in_a_missing_folder_fails_before_training(shapes, tmp_path):
    result = run("train", shapes, "-o", tmp_path / "nowhere" / "m.npz")
    assert result.exit_code == 1 and "does not exist" in result.stderr and "epoch" not in result.stdout


def test_rgb_data_trains_an_rgb_model(tmp_path):
    data = make_shapes(tmp_path / "data", per_class=5, size=12, mode="RGB")
    result = run("train", data, "--epochs", 1, *FAST, "-o", tmp_path / "m.npz", "--plots", tmp_path / "p")
    assert result.exit_code == 0, result.output
    network, meta = load_model(tmp_path / "m.npz")
    assert meta["channels"] == "rgb" and network.input_shape == (12, 12, 3) and len(meta["mean"]) == 3
    with Image.open(tmp_path / "p" / "kernels.png") as img:
        assert img.mode == "RGB"


def test_help_has_examples():
    result = run("train", "--help")
    assert result.exit_code == 0 and "Examples:" in result.output and "--resume" in result.output


def test_the_installed_command_trains(shapes, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "cnnconv", "train", str(shapes), "--epochs", "1", "-o", str(tmp_path / "m.npz")],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "epoch 1/1" in out.stdout and (tmp_path / "m.npz").exists()
    assert out.stderr == ""  # no progress bars when stderr is not a terminal


def test_ctrl_c_in_the_first_epoch_saves_nothing_over_an_existing_model(shapes, tmp_path, monkeypatch):
    import cnnconv.nn.train as train_module

    real_fit = train_module.fit

    def interrupted_fit(*args, on_batch=None, **kwargs):
        def batch(epoch, i, n, loss):
            raise KeyboardInterrupt
        return real_fit(*args, on_batch=batch, **kwargs)

    (tmp_path / "m.npz").write_bytes(b"an earlier model")
    monkeypatch.setattr(train_module, "fit", interrupted_fit)
    result = run("train", shapes, "--epochs", 3, "-o", tmp_path / "m.npz")
    assert result.exit_code == 130 and "no model saved" in result.stderr
    assert (tmp_path / "m.npz").read_bytes() == b"an earlier model"


def test_patience_stops_early_and_says_so(shapes, tmp_path):
    # a learning rate of 1e-9 learns nothing, so validation accuracy cannot improve
    result = run("train", shapes, "--epochs", 20, "--lr", "1e-9", "--patience", 2, "-o", tmp_path / "m.npz")
    assert result.exit_code == 0, result.output
    assert "stopped early: no better validation accuracy for 2 epochs" in result.stdout
    _, meta = load_model(tmp_path / "m.npz")
    assert meta["training"]["stopped"] == "early" and len(meta["history"]) == 3


def test_ctrl_c_between_epochs_still_saves_the_best_epoch(shapes, tmp_path, monkeypatch):
    """A Ctrl-C that lands in the epoch callback is fit's too: the epochs finished so far are kept."""
    import cnnconv.nn.train as train_module

    real_fit = train_module.fit

    def interrupted_fit(*args, on_epoch=None, **kwargs):
        def epoch_done(stats):
            on_epoch(stats)
            if stats["epoch"] == 2:
                raise KeyboardInterrupt
        return real_fit(*args, on_epoch=epoch_done, **kwargs)

    monkeypatch.setattr(train_module, "fit", interrupted_fit)
    result = run("train", shapes, "--epochs", 10, *FAST, "-o", tmp_path / "m.npz")
    assert result.exit_code == 130 and "interrupted: saved the best model so far" in result.stderr
    _, meta = load_model(tmp_path / "m.npz")
    assert [h["epoch"] for h in meta["history"]] == [1, 2] and meta["training"]["best_epoch"] in (1, 2)


@pytest.mark.parametrize("signame, code, words", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "stopped by SIGTERM"),
                                                   ("SIGHUP", 129, "stopped by SIGHUP")])
def test_a_real_signal_saves_the_best_model_so_far(shapes, tmp_path, signame, code, words):
    import os
    import signal

    model = tmp_path / "m.npz"
    process = subprocess.Popen(
        [sys.executable, "-m", "cnnconv", "train", str(shapes), "--epochs", "500", "--batch-size", "8", "-o", str(model)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        for line in process.stdout:
            if line.startswith("epoch   2/500"):
                break
        process.send_signal(getattr(signal, signame))
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == code, stderr
    assert f"{words}: saved the best model so far" in stderr
    _, meta = load_model(model)
    assert meta["training"]["stopped"] == "interrupted" and len(meta["history"]) >= 2
    assert not list(tmp_path.glob("*.tmp*")) and sorted(p.name for p in tmp_path.iterdir()) == ["m.npz"]


@pytest.mark.parametrize("args", [["-o", "{data}/circle/000.png"], ["-o", "m.npz", "--plots", "{data}/plots"]],
                         ids=["output-over-an-image", "plots-inside-the-data"])
def test_nothing_is_written_into_the_data_folder(tmp_path, args):
    data = make_shapes(tmp_path / "data", per_class=2)
    before = (data / "circle" / "000.png").read_bytes()
    result = run("train", data, "--epochs", 1, *[a.format(data=data) for a in args])
    assert result.exit_code == 2 and "inside the data folder" in result.output
    assert (data / "circle" / "000.png").read_bytes() == before and not (data / "plots").exists()


def test_a_bad_layers_spec_with_json_is_a_json_record_and_the_caret_stays_on_stderr(shapes, tmp_path):
    result = run("train", shapes, "--layers", "conv3x4,bogus", "--json", "-o", tmp_path / "m.npz")
    assert result.exit_code == 2
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record["ok"] is False and record["exit_code"] == 2 and "unknown layer 'bogus'" in record["error"]
    lines = result.stderr.splitlines()
    assert lines[0].startswith("cnnconv: error: --layers: ") and lines[2].strip() == "^~~~~"
    assert lines[1].strip() == "conv3x4,bogus"


@pytest.mark.parametrize("layers, limit, largest", [
    ("conv3x4", "1K", "the largest layer is 1 conv3x4 ("),
    ("conv3x4,relu,fc100000,relu", "100MiB", "the largest layer is 3 fc100000 ("),
    ("conv3x4:p100000", None, "the largest layer is 1 conv3x4:p100000 ("),
])
def test_a_network_over_the_memory_limit_is_refused_before_training(shapes, tmp_path, layers, limit, largest):
    extra = ["--max-memory", limit] if limit else []
    result = run("train", shapes, "--layers", layers, *extra, "-o", tmp_path / "m.npz")
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()
    assert line.startswith("cnnconv: error: Invalid value for --layers: training would need about ")
    assert largest in line and "--max-memory" in line
    assert "epoch" not in result.stdout and not (tmp_path / "m.npz").exists()


def test_the_memory_limit_can_be_raised(shapes, tmp_path):
    args = ["train", shapes, "--layers", "conv3x4", "--epochs", 1, *FAST, "-o", tmp_path / "m.npz"]
    assert run(*args, "--max-memory", "1K").exit_code == 2
    for limit in ("64MB", "0.5g", "none"):
        result = run(*args, "--max-memory", limit)
        assert result.exit_code == 0, (limit, result.output)


@pytest.mark.parametrize("value", ["0", "-1G", "lots", "8 PB", "1e9"])
def test_bad_max_memory_values_are_usage_errors(shapes, tmp_path, value):
    result = run("train", shapes, "--max-memory", value, "-o", tmp_path / "m.npz")
    assert result.exit_code == 2 and "is not a memory size" in result.stderr


def test_ctrl_c_while_the_model_is_saved_is_held_until_it_is_written(shapes, tmp_path, monkeypatch):
    """Ctrl-C during the save: the file is written whole, then the run ends as interrupted."""
    import os
    import signal

    import cnnconv.io.model as model_module

    real_save = model_module.save_model

    def save_with_ctrl_c(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGINT)  # handled at once in the main thread: held, or a KeyboardInterrupt
        real_save(*args, **kwargs)

    monkeypatch.setattr(model_module, "save_model", save_with_ctrl_c)
    result = run("train", shapes, "--epochs", 2, *FAST, "-o", tmp_path / "m.npz", "--plots", tmp_path / "p")
    assert result.exit_code == 130, result.output
    assert "cnnconv: interrupted: saved the best model so far to" in result.stderr
    _, meta = load_model(tmp_path / "m.npz")
    assert [h["epoch"] for h in meta["history"]] == [1, 2]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is given back


def test_ctrl_c_before_a_resumed_run_finishes_an_epoch_writes_nothing(trained, shapes, tmp_path, monkeypatch):
    """A stop requested before any new epoch ends: no copy of the resumed model is written.

    (Ctrl-C inside ``train`` sets the stop request that ``fit`` polls; here it is set at once.)
    """
    import cnnconv.nn.train as train_module

    real_fit = train_module.fit

    def stopped_at_once(*args, stop=None, **kwargs):
        stop.set()
        return real_fit(*args, stop=stop, **kwargs)

    _, model, _ = trained
    monkeypatch.setattr(train_module, "fit", stopped_at_once)
    result = run("train", shapes, "--resume", model, "--epochs", 2, "--json", "-o", tmp_path / "more.npz")
    assert result.exit_code == 130 and not (tmp_path / "more.npz").exists()
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert record == {"ok": False, "error": "interrupted before the first epoch ended: nothing learned, no model saved",
                      "exit_code": 130}
    assert result.stderr.splitlines() == ["cnnconv: interrupted before the first epoch ended: nothing learned, no model saved"]


def test_ctrl_c_in_the_epoch_callback_keeps_that_epoch_and_its_optimiser_state(trained, shapes, tmp_path, monkeypatch):
    """fit owns the interrupt, callbacks included: the finished epoch and the optimiser's moments
    after it are saved together, so a resume continues from a consistent state."""
    import cnnconv.nn.train as train_module

    real_fit = train_module.fit

    def interrupted_fit(*args, on_epoch=None, **kwargs):
        def epoch_done(stats):
            on_epoch(stats)
            raise KeyboardInterrupt
        return real_fit(*args, on_epoch=epoch_done, **kwargs)

    _, model, _ = trained
    _, before = load_model(model)
    monkeypatch.setattr(train_module, "fit", interrupted_fit)
    result = run("train", shapes, "--resume", model, "--epochs", 3, *FAST, "-o", tmp_path / "more.npz")
    assert result.exit_code == 130, result.output
    _, meta = load_model(tmp_path / "more.npz")
    assert len(meta["history"]) == len(before["history"]) + 1
    assert int(meta["optimizer_state"]["step"]) > int(before["optimizer_state"]["step"])


def test_ctrl_c_just_after_the_last_epoch_saves_the_whole_run(shapes, tmp_path, monkeypatch):
    """Ctrl-C after fit has returned, before the model is saved: every epoch is in the saved model."""
    import os
    import signal

    import cnnconv.nn.train as train_module

    real_fit = train_module.fit

    def fit_then_ctrl_c(*args, **kwargs):
        result = real_fit(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGINT)
        return result

    monkeypatch.setattr(train_module, "fit", fit_then_ctrl_c)
    result = run("train", shapes, "--epochs", 3, *FAST, "-o", tmp_path / "m.npz")
    assert result.exit_code == 130 and "interrupted: saved the best model so far" in result.stderr
    _, meta = load_model(tmp_path / "m.npz")
    assert [h["epoch"] for h in meta["history"]] == [1, 2, 3]
