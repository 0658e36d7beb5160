"""``cnnconv filter`` end to end: exact results, bit depths, alpha, ranges, batches and exit codes."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from cnnconv.cli import cli

RNG = np.random.default_rng(3)
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], float)


def run(*args, input=None):
    return CliRunner().invoke(cli, ["filter", *map(str, args)], input=input)


def save(path, array, **options):
    Image.fromarray(array).save(path, **options)
    return path


def load(path):
    return np.asarray(Image.open(path))


def correlate_same_zero(x, w):
    """Slow, obvious reference: zero padding, odd kernel centred, out[i,j] = sum x[i+a-c] w[a]."""
    kh, kw = w.shape
    xp = np.pad(x.astype(float), ((kh // 2, kh // 2), (kw // 2, kw // 2)) + ((0, 0),) * (x.ndim - 2))
    out = np.zeros(x.shape, float)
    for a in range(kh):
        for b in range(kw):
            out += w[a, b] * xp[a:a + x.shape[0], b:b + x.shape[1]]
    return out


@pytest.fixture
def gray(tmp_path):
    return save(tmp_path / "gray.png", RNG.integers(0, 256, (9, 11)).astype(np.uint8))


# --- exact results ------------------------------------------------------------------------

def test_sobel_matches_a_loop_reference_and_float_outputs_keep_the_raw_numbers(tmp_path, gray):
    result = run(gray, "-k", "sobel-x", "-o", tmp_path / "e.npy")
    assert result.exit_code == 0, result.output
    expected = correlate_same_zero(load(gray), SOBEL_X)
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), expected, rtol=0, atol=1e-3)


def test_negative_results_are_clipped_by_default_and_reported(tmp_path, gray):
    result = run(gray, "-k", "sobel-x", "-o", tmp_path / "e.png")
    assert result.exit_code == 0
    expected = np.clip(np.rint(correlate_same_zero(load(gray), SOBEL_X)), 0, 255)
    np.testing.assert_array_equal(load(tmp_path / "e.png"), expected)
    assert "were clipped" in result.stderr


@pytest.mark.parametrize("mode", ["clip", "abs", "rescale"])
def test_range_modes_on_negative_results(tmp_path, mode):
    x = np.array([[10, 20, 250]], np.uint8)
    src = save(tmp_path / "x.png", x)
    result = run(src, "-k", "0,-2,0", "--range", mode, "--json", "-o", tmp_path / "y.png")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["outputs"][0]
    y = load(tmp_path / "y.png")
    assert (report["min"], report["max"]) == (-500.0, -20.0)
    if mode == "clip":
        assert y.tolist() == [[0, 0, 0]] and report["clipped"] == 3 and report["below"] == 3
    elif mode == "abs":
        assert y.tolist() == [[20, 40, 255]] and report["clipped"] == 1 and report["above"] == 1
    else:
        assert y.tolist() == [[255, 244, 0]] and report["clipped"] == 0


@pytest.mark.parametrize(
    "array, suffix",
    [
        (RNG.integers(0, 256, (6, 7)).astype(np.uint8), ".png"),
        (RNG.integers(0, 256, (6, 7, 3)).astype(np.uint8), ".png"),
        (RNG.integers(0, 256, (6, 7, 4)).astype(np.uint8), ".png"),
        (RNG.integers(0, 256, (6, 7, 2)).astype(np.uint8), ".tif"),
        (RNG.integers(0, 65536, (6, 7)).astype(np.uint16), ".png"),
        (RNG.normal(size=(6, 7)).astype(np.float32), ".tif"),
        (RNG.integers(0, 256, (6, 7, 3)).astype(np.uint8), ".bmp"),
        (RNG.integers(0, 256, (6, 7, 3)).astype(np.uint8), ".webp"),
    ],
    ids=["L", "RGB", "RGBA", "LA-tiff", "I16", "F-tiff", "bmp", "webp"],
)
def test_identity_kernel_returns_the_input_bit_for_bit(tmp_path, array, suffix):
    if array.ndim == 3 and array.shape[2] in (2, 4):
        array[0, :, -1] = 0  # a fully transparent row, with colour under it
    src = tmp_path / f"in{suffix}"
    if array.dtype == np.uint16:
        Image.frombytes("I;16", array.shape[::-1], array.tobytes()).save(src)
    elif suffix == ".webp":
        Image.fromarray(array).save(src, lossless=True)
    else:
        save(src, array)
    out = tmp_path / f"out{suffix}"
    result = run(src, "-k", "identity", "-o", out)
    assert result.exit_code == 0, result.output
    back = np.asarray(Image.open(out))
    assert back.dtype == np.asarray(Image.open(src)).dtype
    np.testing.assert_array_equal(back, np.asarray(Image.open(src)))


def test_sixteen_bit_stays_sixteen_bit(tmp_path):
    x = np.full((8, 8), 40000, np.uint16)
    src = tmp_path / "deep.png"
    Image.frombytes("I;16", (8, 8), x.tobytes()).save(src)
    result = run(src, "-k", "box3", "--boundary", "edge", "-o", tmp_path / "o.png")
    assert result.exit_code == 0, result.output
    out = Image.open(tmp_path / "o.png")
    assert out.mode == "I;16"
    assert np.asarray(out).astype(int).tolist() == x.astype(int).tolist()


def test_transparent_pixels_do_not_bleed_colour(tmp_path):
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[:, :4] = (255, 0, 0, 255)  # opaque red on the left
    rgba[:, 4:] = (0, 255, 0, 0)  # invisible green on the right
    src = save(tmp_path / "a.png", rgba)
    assert run(src, "-k", "box3", "--boundary", "edge", "-o", tmp_path / "o.png").exit_code == 0
    out = load(tmp_path / "o.png")
    visible = out[..., 3] > 0
    assert visible[:, 4].all()  # the blur spreads coverage one column into the transparent part
    assert (out[visible][:, :3] == (255, 0, 0)).all()  # ... but no green comes with it
    assert out[:, 3, 3].tolist() == [170] * 6  # 2/3 coverage at the edge
    # as a plain channel, alpha gives the bleed that premultiplying avoids
    assert run(src, "-k", "box3", "--boundary", "edge", "--alpha", "channel", "-o", tmp_path / "c.png").exit_code == 0
    assert load(tmp_path / "c.png")[0, 3, 1] == 85


def test_alpha_keep_keeps_the_input_alpha(tmp_path):
    rgba = RNG.integers(0, 256, (5, 5, 4)).astype(np.uint8)
    src = save(tmp_path / "a.png", rgba)
    assert run(src, "-k", "box3", "--alpha", "keep", "-o", tmp_path / "o.png").exit_code == 0
    np.testing.assert_array_equal(load(tmp_path / "o.png")[..., 3], rgba[..., 3])
    result = run(src, "-k", "box3", "--alpha", "keep", "--mode", "valid", "-o", tmp_path / "v.png")
    assert result.exit_code == 1 and "--alpha keep needs an output the size of the input" in result.stderr


def test_colour_channels_are_filtered_each_on_its_own(tmp_path):
    rgb = RNG.integers(0, 256, (7, 6, 3)).astype(np.uint8)
    src = save(tmp_path / "c.png", rgb)
    assert run(src, "-k", "sobel-y", "-o", tmp_path / "c.npy").exit_code == 0
    out = np.load(tmp_path / "c.npy")
    for c in range(3):
        np.testing.assert_allclose(out[..., c], correlate_same_zero(rgb[..., c], SOBEL_X.T), atol=1e-3)


def test_gray_converts_first(tmp_path):
    src = save(tmp_path / "c.png", RNG.integers(0, 256, (4, 4, 3)).astype(np.uint8))
    assert run(src, "--gray", "-k", "identity", "-o", tmp_path / "g.png").exit_code == 0
    assert Image.open(tmp_path / "g.png").mode == "L"


def test_combine_magnitude_of_sobel_x_and_y(tmp_path, gray):
    result = run(gray, "-k", "sobel-x", "-k", "sobel-y", "--combine", "magnitude", "-o", tmp_path / "m.npy")
    assert result.exit_code == 0, result.output
    x = load(gray)
    expected = np.hypot(correlate_same_zero(x, SOBEL_X), correlate_same_zero(x, SOBEL_X.T))
    np.testing.assert_allclose(np.load(tmp_path / "m.npy"), expected, rtol=1e-5, atol=1e-3)


def test_several_kernels_give_several_outputs_named_after_them(tmp_path, gray):
    result = run(gray, "-k", "sobel-x", "-k", "box3", "-o", tmp_path / "o.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o-sobel-x.png").exists() and (tmp_path / "o-box3.png").exists()


def test_convolve_flips_the_kernel_and_explain_shows_it(tmp_path):
    src = save(tmp_path / "x.png", np.array([[0, 0, 0], [0, 9, 0], [0, 0, 0]], np.uint8))
    result = run(src, "-k", "1,2,0", "--convolve", "--explain", "-o", tmp_path / "o.npy")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "o.npy")[1].tolist() == [9.0, 18.0, 0.0]
    assert "effective kernel" in result.stderr and "0 2 1" in result.stderr and "convolve" in result.stderr
    assert run(src, "-k", "1,2,0", "-o", tmp_path / "c.npy").exit_code == 0
    assert np.load(tmp_path / "c.npy")[1].tolist() == [0.0, 18.0, 9.0]


def test_geometry_options_reach_the_convolution(tmp_path):
    src = save(tmp_path / "x.png", np.zeros((10, 12), np.uint8))
    cases = [(["--mode", "valid"], (8, 10)), (["--mode", "full"], (12, 14)), (["--stride", "2"], (5, 6)),
             (["--padding", "0,1"], (8, 12)), (["--dilation", "2", "--mode", "valid"], (6, 8)),
             (["--padding", "1,0,0,0", "--stride", "1,2"], (9, 5))]
    for options, shape in cases:
        result = run(src, "-k", "box3", *options, "-o", tmp_path / "o.npy")
        assert result.exit_code == 0, (options, result.output)
        assert np.load(tmp_path / "o.npy").shape == shape, options


def test_boundary_constant_and_scale_offset(tmp_path):
    src = save(tmp_path / "x.png", np.zeros((3, 3), np.uint8))
    result = run(src, "-k", "box3", "--boundary", "constant:9", "--scale", "2", "--offset", "1", "-o", tmp_path / "o.npy")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "o.npy")[0, 0] == pytest.approx(9 * 5 / 9 * 2 + 1)


def test_normalize_divides_by_the_kernel_sum(tmp_path):
    src = save(tmp_path / "x.png", np.full((4, 4), 90, np.uint8))
    assert run(src, "-k", "1,1,1", "--normalize", "--boundary", "edge", "-o", tmp_path / "o.png").exit_code == 0
    assert (load(tmp_path / "o.png") == 90).all()


def test_spaceship_weighted_average_from_a_text_file(tmp_path):
    # seed 000: s_t = sum_a x_{t-a} w_a, a weighted average of recent positions (a convolution)
    (tmp_path / "x.txt").write_text("1\n2\n4\n8\n16\n")
    result = run(tmp_path / "x.txt", "-k", "0.5,0.3,0.2", "--convolve", "--mode", "valid", "-o", tmp_path / "s.txt")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "s.txt").read_text() == "2.8\n5.6\n11.2\n"


# --- errors and exit codes ----------------------------------------------------------------

@pytest.mark.parametrize(
    "args, message",
    [
        (["-k", "no-such-kernel"], "unknown kernel"),
        (["-k", "laplacian", "--normalize"], "sums to 0"),
        (["-k", "box3", "--stride", "0"], "--stride"),
        (["-k", "box3", "--boundary", "sticky"], "not a boundary rule"),
        (["-k", "box3", "--mode", "same", "--padding", "1"], "give one of them"),
        (["-k", "box3", "--scale", "nan"], "finite"),
        (["-k", "box3", "-o", "x.png", "--out-dir", "d"], "not both"),
        (["-k", "box3"], "-o FILE"),
        (["-k", "box3", "-o", "out.xyz"], "unknown suffix"),
        (["-k", "box3", "--out-dir", "d", "--name", "{stem}{colour}.png"], "unknown field"),
    ],
)
def test_usage_errors_exit_2(tmp_path, gray, args, message, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run(gray, *args)
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_two_inputs_with_one_output_is_a_usage_error(tmp_path, gray):
    result = run(gray, gray.with_name("other.png"), "-k", "box3", "-o", tmp_path / "o.png")
    assert result.exit_code == 2 and "--out-dir" in result.stderr


@pytest.mark.parametrize(
    "content, message",
    [(b"", "empty"), (b"not an image", "not an image"), (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "corrupt")],
)
def test_bad_input_file_exits_1_with_one_line(tmp_path, content, message):
    (tmp_path / "bad.png").write_bytes(content)
    result = run(tmp_path / "bad.png", "-k", "box3", "-o", tmp_path / "o.png")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"cnnconv: error: {tmp_path / 'bad.png'}: ") and message in lines[0]
    assert "Traceback" not in result.output and not (tmp_path / "o.png").exists()


def test_empty_output_is_explained(tmp_path):
    src = save(tmp_path / "one.png", np.zeros((1, 1), np.uint8))
    result = run(src, "-k", "box3", "--mode", "valid", "-o", tmp_path / "o.png")
    assert result.exit_code == 1 and "one.png" in result.stderr and not (tmp_path / "o.png").exists()


def test_output_equal_to_input_is_refused(tmp_path, gray):
    before = gray.read_bytes()
    result = run(gray, "-k", "box3", "-o", gray)
    assert result.exit_code == 1 and "is this input file" in result.stderr
    assert gray.read_bytes() == before


def test_over_the_pixel_limit_unless_allowed(tmp_path, gray):
    result = run(gray, "-k", "box3", "--max-pixels", "50", "-o", tmp_path / "o.png")
    assert result.exit_code == 1 and "--max-pixels 99" in result.stderr
    assert run(gray, "-k", "box3", "--max-pixels", "99", "-o", tmp_path / "o.png").exit_code == 0


def test_format_that_cannot_hold_the_result_names_one_that_can(tmp_path):
    src = save(tmp_path / "a.png", np.zeros((3, 3, 4), np.uint8))
    result = run(src, "-k", "box3", "-o", tmp_path / "a.jpg")
    assert result.exit_code == 1 and "JPEG cannot hold RGBA" in result.stderr


# --- batches, stdin/stdout, json, jobs ------------------------------------------------------

@pytest.fixture
def folder(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    for i in range(3):
        save(d / f"img{i}.png", RNG.integers(0, 256, (8, 8)).astype(np.uint8))
    (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    (d / "notes.md").write_text("not an input")
    return d


def test_batch_goes_past_a_corrupt_file_and_reports_it_at_the_end(tmp_path, folder):
    out = tmp_path / "out"
    result = run(folder, "-k", "box3", "--out-dir", out)
    assert result.exit_code == 1
    assert sorted(os.listdir(out)) == ["img0-box3.png", "img1-box3.png", "img2-box3.png"]
    assert "broken.png" in result.stderr and "1 of 4 inputs failed" in result.stderr


def test_json_lines_one_per_file_including_failures(tmp_path, folder):
    result = run(folder, "-k", "box3", "--out-dir", tmp_path / "out", "--json", "--name", "{index}-{stem}.npy")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 4 and sum(r["ok"] for r in records) == 3
    bad = [r for r in records if not r["ok"]][0]
    assert bad["input"].endswith("broken.png") and "broken.png" in bad["error"]
    good = [r for r in records if r["ok"]][0]
    assert good["outputs"][0]["shape"] == [8, 8] and good["outputs"][0]["output"].endswith(".npy")


def test_jobs_2_gives_the_same_outputs_as_jobs_1(tmp_path, folder):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run(folder, "-k", "sobel-x", "--out-dir", a).exit_code == 1
    result = run(folder, "-k", "sobel-x", "--out-dir", b, "--jobs", "2")
    assert result.exit_code == 1 and "broken.png" in result.stderr
    assert sorted(os.listdir(a)) == sorted(os.listdir(b))
    for name in os.listdir(a):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_globs_are_expanded_and_name_collisions_refused(tmp_path, folder):
    result = run(str(folder / "img*.png"), "-k", "box3", "--out-dir", tmp_path / "o", "--name", "same.png")
    assert result.exit_code == 2 and "{index}" in result.stderr
    assert run(str(folder / "img[01].png"), "-k", "box3", "--out-dir", tmp_path / "o").exit_code == 0
    assert sorted(os.listdir(tmp_path / "o")) == ["img0-box3.png", "img1-box3.png"]


def test_stdin_to_stdout(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.full((3, 4), 7, np.uint8)).save(buffer, "PNG")
    result = run("-", "-k", "identity", "-o", "-", input=buffer.getvalue())
    assert result.exit_code == 0, result.stderr
    out = Image.open(io.BytesIO(result.stdout_bytes))
    assert out.format == "PNG" and np.asarray(out).tolist() == [[7] * 4] * 3


def test_stdin_numbers_to_stdout():
    result = run("-", "-k", "1,1", "--mode", "valid", input=b"1 2 3 4\n")
    assert result.exit_code == 0 and result.stdout == "3 5 7\n"


def test_installed_command_pipes_stdin_to_stdout(tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(np.arange(12, dtype=np.uint8).reshape(3, 4)).save(buffer, "PNG")
    done = subprocess.run([sys.executable, "-m", "cnnconv", "filter", "-", "-k", "identity", "-o", "-"],
                          input=buffer.getvalue(), capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert np.asarray(Image.open(io.BytesIO(done.stdout))).tolist() == np.arange(12).reshape(3, 4).tolist()


def test_installed_command_exit_codes(tmp_path):
    def code(*args):
        return subprocess.run([sys.executable, "-m", "cnnconv", "filter", *map(str, args)],
                              capture_output=True, text=True, timeout=60)

    missing = code(tmp_path / "missing.png", "-k", "box3", "-o", tmp_path / "o.png")
    assert missing.returncode == 1 and missing.stderr.startswith("cnnconv: error:") and "Traceback" not in missing.stderr
    assert code(tmp_path / "missing.png", "-k", "nope", "-o", tmp_path / "o.png").returncode == 2


def test_help_says_correlation_and_has_examples():
    result = CliRunner().invoke(cli, ["filter", "--help"])
    assert result.exit_code == 0 and "correlation" in result.output and "Examples:" in result.output


def test_a_3d_kernel_filters_across_channels_into_one(tmp_path):
    rgb = RNG.integers(0, 256, (5, 6, 3)).astype(np.uint8)
    src = save(tmp_path / "c.png", rgb)
    weights = np.zeros((3, 3, 3))
    weights[1, 1] = (0.25, 0.5, 0.25)  # a luminance-like mix of the centre pixel
    np.save(tmp_path / "mix.npy", weights)
    result = run(src, "-k", tmp_path / "mix.npy", "-o", tmp_path / "g.npy")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "g.npy"), rgb @ np.array([0.25, 0.5, 0.25]), atol=1e-3)


def test_animated_gif_and_cmyk_inputs_say_what_was_done(tmp_path):
    frames = [Image.new("L", (4, 4), v) for v in (10, 200)]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:])
    result = run(tmp_path / "a.gif", "-k", "identity", "-o", tmp_path / "a.png")
    assert result.exit_code == 0 and "only the first frame is used" in result.stderr
    Image.frombytes("CMYK", (4, 4), bytes(range(64))).save(tmp_path / "c.tif")
    assert run(tmp_path / "c.tif", "-k", "identity", "-o", tmp_path / "same.tif").exit_code == 0
    assert Image.open(tmp_path / "same.tif").mode == "CMYK"
    result = run(tmp_path / "c.tif", "-k", "identity", "-o", tmp_path / "c.png")
    assert result.exit_code == 0 and "converted to RGB" in result.stderr


def test_a_plain_filter_run_imports_neither_rich_nor_difflib(tmp_path):
    # long options: click's parser itself imports difflib when it meets a short one
    Image.fromarray(np.arange(64, dtype=np.uint8).reshape(8, 8)).save(tmp_path / "in.png")
    code = ("import sys; from cnnconv.cli import cli\n"
            "try:\n    cli(['filter', 'in.png', '--kernel', 'sobel-x', '--output', 'out.png'])\nexcept SystemExit as e:\n    code = e.code\n"
            "print(code, sorted(m for m in ('rich', 'difflib') if m in sys.modules), file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.stderr.strip().splitlines()[-1] == "0 []", done.stderr
    assert (tmp_path / "out.png").exists()
