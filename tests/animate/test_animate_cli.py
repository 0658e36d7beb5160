"""``cnnconv animate`` end to end: the frames drawn follow the trace data (frame count, size,
the highlighted cell where the data says), the pictures by suffix, the terminal views, and bad
input as one line with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageSequence

from cnnconv.cli import cli
from cnnconv.io.animation import HIGHLIGHT, WINNER, layout, sheet

# 003_def129c27ac6a2b8.txt: the 7x7 stride-2 example and the 5x5 max-pooling map
X7 = "2,3,7,4,6,2,9; 6,6,9,8,7,4,3; 3,4,8,3,8,9,7; 7,8,3,6,6,3,4; 4,2,1,8,3,4,6; 3,2,4,1,9,8,3; 0,1,3,9,2,1,4"
K7 = "3,4,4; 1,0,2; -1,0,3"
POOL5 = "1,3,2,2,5; 5,6,7,8,1; 3,2,1,0,7; 1,2,3,4,9; 1,1,2,9,4"


def run(*args):
    return CliRunner().invoke(cli, ["animate", *map(str, args)])


def trace_of(*args) -> dict:
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["trace"]


def frames_of(path) -> list[np.ndarray]:
    with Image.open(path) as img:
        return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(img)]


def cells_of(pixels: np.ndarray, colour) -> set:
    """Pixel positions (y, x) of one exact colour."""
    ys, xs = np.nonzero((pixels == colour).all(axis=2))
    return set(zip(ys.tolist(), xs.tolist()))


def inside(points: set, box) -> bool:
    left, top, right, bottom = box
    return bool(points) and all(left <= x <= right and top <= y <= bottom for y, x in points)


def rc(index):
    return (0, index[0]) if len(index) == 1 else tuple(index)


def test_gif_frames_follow_the_data_the_highlight_moves_with_the_output_cell(tmp_path):
    out = tmp_path / "stride.gif"
    result = run("--input", X7, "-k", K7, "--stride", 2, "-o", out, "--frame-ms", 300, "--pause-ms", 1500)
    assert result.exit_code == 0, result.output
    data = trace_of("--input", X7, "-k", K7, "--stride", 2)
    lay = layout(data)
    frames = frames_of(out)
    assert len(frames) == len(data["frames"]) == 9
    assert all(f.shape == (lay.height, lay.width, 3) for f in frames)
    panel = lay.panels["output"]
    for k, (pixels, frame) in enumerate(zip(frames, data["frames"])):
        lit = cells_of(pixels, HIGHLIGHT)
        assert inside(lit, panel.box(*rc(frame["output_index"]))), k  # the cell the data computes, only it
    with Image.open(out) as img:
        durations = [f.info["duration"] for f in ImageSequence.Iterator(img)]
        assert img.info.get("loop") == 0
    assert durations == [300] * 8 + [1800]


def test_pooling_frames_ring_the_winner_the_data_names(tmp_path):
    out = tmp_path / "pool.apng"
    assert run("--input", POOL5, "--pool", "max", "--size", 3, "--stride", 1, "-o", out).exit_code == 0
    data = trace_of("--input", POOL5, "--pool", "max", "--size", 3, "--stride", 1)
    assert data["output"] == [[7, 8, 8], [7, 8, 9], [3, 9, 9]]
    with Image.open(out) as img:
        assert img.format == "PNG" and getattr(img, "n_frames", 1) == 9
    panel = layout(data).panels["input"]
    for pixels, frame in zip(frames_of(out), data["frames"]):
        assert inside(cells_of(pixels, WINNER), panel.box(*rc(frame["winner"])))


def test_a_transposed_convolution_highlights_the_input_cell_that_stamps(tmp_path):
    out = tmp_path / "t.gif"
    args = ("--input", "0,1; 2,3", "-k", "0,1; 2,3", "--transpose", "--stride", 2, "--padding", 1)
    assert run(*args, "-o", out).exit_code == 0
    data = trace_of(*args)
    assert [f["kind"] for f in data["frames"]] == ["stamp"] * 4 + ["crop"]
    assert data["output"] == [[0, 2], [2, 0]]
    frames, panel = frames_of(out), layout(data).panels["input"]
    assert len(frames) == 5
    for pixels, frame in zip(frames[:4], data["frames"]):
        assert inside(cells_of(pixels, HIGHLIGHT), panel.box(*rc(frame["input_index"])))
    assert not cells_of(frames[4], HIGHLIGHT)  # the crop frame stamps nothing


def test_a_png_sheet_holds_every_frame(tmp_path):
    out = tmp_path / "ship.png"
    ship = "1,1.1,1.2,1.4,1.7,1.8,1.9,2.1,2.2,2.4,2.5,2.7"
    assert run("--input", ship, "-k", "0.01,0.01,0.02,0.02,0.04,0.4,0.5", "-o", out).exit_code == 0
    data = trace_of("--input", ship, "-k", "0.01,0.01,0.02,0.02,0.04,0.4,0.5")
    lay = layout(data)
    frame = Image.new("P", (lay.width, lay.height))
    with Image.open(out) as img:
        assert img.format == "PNG" and getattr(img, "n_frames", 1) == 1
        assert img.size == sheet([frame] * 6).size  # 6 frames, 3 to a row
        pixels = np.asarray(img.convert("RGB"))
    for k, f in enumerate(data["frames"]):  # frame k's highlight in its tile of the sheet
        r, c = divmod(k, 3)
        tile = pixels[8 + r * (lay.height + 8) :][: lay.height, 8 + c * (lay.width + 8) :][:, : lay.width]
        assert inside(cells_of(tile, HIGHLIGHT), lay.panels["output"].box(*rc(f["output_index"])))


@pytest.mark.parametrize("source", ["csv", "txt", "npy", "png"])
def test_inputs_from_files_and_a_crop(tmp_path, source):
    values = np.arange(30, dtype=np.uint8).reshape(5, 6) * 8
    path = tmp_path / f"in.{source}"
    if source == "npy":
        np.save(path, values)
    elif source == "png":
        Image.fromarray(values, "L").save(path)
    else:
        sep = "," if source == "csv" else " "
        path.write_text("\n".join(sep.join(map(str, row)) for row in values) + "\n")
    data = trace_of("--input", path, "--crop", "1:4,2:5", "-k", "1,0; 0,1")
    assert data["input"] == values[1:4, 2:5].tolist()
    v = values.astype(int)
    assert data["output"] == (v[1:3, 2:4] + v[2:4, 3:5]).tolist()


def test_a_size_alone_draws_the_geometry_without_numbers(tmp_path):
    data = trace_of("--input", "5x5", "-k", "3x3", "--mode", "same", "--stride", 2)
    assert data["geometry_only"] and len(data["frames"]) == 9 and data["padding"] == [[1, 1], [1, 1]]
    out = tmp_path / "geo.gif"
    assert run("--input", "5x5", "-k", "3x3", "--mode", "same", "--stride", 2, "-o", out).exit_code == 0
    assert len(frames_of(out)) == 9


def test_not_a_terminal_prints_every_frame_unwrapped():
    ship = "1,1.1,1.2,1.4,1.7,1.8,1.9,2.1,2.2,2.4,2.5,2.7"
    result = subprocess.run([sys.executable, "-m", "cnnconv", "animate", "--input", ship, "-k",
                             "0.01,0.01,0.02,0.02,0.04,0.4,0.5"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0 and result.stderr == ""
    assert [line for line in result.stdout.splitlines() if "step" in line] == [f"correlate  step {k}/6" for k in range(1, 7)]
    assert "1.9·0.5 = 1.811" in result.stdout and "2.7·0.5 = 2.569" in result.stdout
    tape = [line for line in result.stdout.splitlines() if "2.7" in line and "·" not in line]
    assert tape and all("1.1" in line for line in tape)  # the whole tape on one line


@pytest.mark.skipif(sys.platform == "win32", reason="a pseudo-terminal")
def test_on_a_terminal_a_key_steps_through_the_frames():
    import pty
    import select

    pid, fd = pty.fork()
    if pid == 0:  # the child: the command on the pseudo-terminal
        os.execv(sys.executable, [sys.executable, "-m", "cnnconv", "animate", "--input", "1,2,3,4", "-k", "1,1"])

    def read_until(text: str) -> str:
        seen = ""
        while text not in seen:
            ready, _, _ = select.select([fd], [], [], 30)
            assert ready, f"no {text!r} in {seen!r}"
            seen += os.read(fd, 4096).decode("utf-8", "replace")
        return seen

    assert "step 1/3" in read_until("space/enter: next")
    os.write(fd, b" ")
    assert "step 2/3" in read_until("space/enter: next")
    os.write(fd, b"b")
    assert "step 1/3" in read_until("space/enter: next")
    os.write(fd, b"q")
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_closed_pipe_ends_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "cnnconv", "animate", "--input", "16x16", "-k", "3x3", "--mode",
                             "same"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    proc.stdout.readline()
    proc.stdout.close()
    assert proc.wait(timeout=60) == 0 and proc.stderr.read() == b""  # the text was the product: exit 0


@pytest.mark.parametrize("args, message", [
    (["--input", "1,2,3", "-k", "1,2,3,4"], "the output would be empty"),
    (["--input", "1,2; 3", "-k", "2x2"], "every row needs the same count"),
    (["--input", "1,2,nan", "-k", "2"], "not a finite number"),
    (["--input", "1,2,3", "-k", "1,2; 3,4"], "a signal needs a one-row kernel"),
    (["--input", "5x5", "-k", "3x3", "--dilation", 9], "the output would be empty"),
    (["--input", "5x5", "--pool", "max", "--size", 3, "--padding", 2], "padding must be between 0 and"),
    (["--input", "5x5", "--pool", "max"], "--pool needs a window"),
    (["--input", "5x5", "-k", "3x3", "--ceil"], "are pooling options"),
    (["--input", "5x5", "-k", "3x3", "--mode", "same", "--padding", 1], "give one of them"),
    (["--input", "2x2", "-k", "2x2", "--transpose", "--output-padding", 3], "output_padding must be"),
    (["--input", "2x2", "-k", "2x2", "--transpose", "--padding", 3], "removes the whole transposed output"),
    (["--input", "5x5", "-k", "3x3", "-o", "{tmp}/x.bmp"], "the suffix picks the picture"),
    (["--input", "{tmp}/missing.csv", "-k", "3x3"], "is not an existing file"),
    (["--input", "5x5", "-k", "nosuchkernel"], "unknown kernel"),
    (["--input", "5x5", "-k", "3x3", "--crop", "9:10,0:2"], "does not lie inside 0:5"),
    (["--input", "17x3", "-k", "3x3"], "--crop 0:16,0:3"),
    (["--input", "50", "-k", "3"], "--crop 0:40"),
    (["--input", "16x16", "-k", "12x12"], "at most 11 per side"),
    (["--input", "16x16", "-k", "11x11", "--mode", "full"], "676 frames"),
    (["--input", "5x5", "--layer", "bogus"], "unknown layer 'bogus'"),
    (["--input", "{tmp}/rgb.npy", "-k", "2x2"], "one-channel image"),
    (["--input", "{tmp}/broken.png", "-k", "2x2"], "not an image Pillow can read"),
    (["--input", "{tmp}/in.csv", "-k", "2x2", "-o", "{tmp}/in.csv"], "the suffix picks the picture"),
    (["--input", "1e308,1e308", "-k", "10,10"], "the correlation overflows float64"),
    (["--input", "1e308,1e308", "--pool", "avg", "--size", 2], "overflows float64"),
    (["--input", "1e308,1e308", "-k", "10,10", "--transpose"], "the transposed convolution overflows"),
    (["--input", "3x3", "-k", "2x2", "--frames", "1,7"], "the steps are 1 to 4"),
    (["--input", "3x3", "-k", "2x2", "--frames", "x"], "is not a step"),
])  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    np.save(tmp_path / "rgb.npy", np.zeros((4, 4, 3)))
    (tmp_path / "broken.png").write_bytes(b"not a png")
    (tmp_path / "in.csv").write_text("1,2\n3,4\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run(*(str(a).replace("{tmp}", str(tmp_path)) for a in args))
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("cnnconv: error: ") and "Traceback" not in result.stderr
    assert result.stdout == "" and sorted(p.name for p in tmp_path.iterdir()) == before


def test_the_picture_is_not_written_over_the_input(tmp_path):
    image = tmp_path / "in.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(image)
    before = image.read_bytes()
    result = run("--input", image, "-k", "2x2", "-o", image)
    assert result.exit_code == 2 and "is the input" in result.stderr and image.read_bytes() == before


def test_frames_picks_the_steps_drawn_in_the_order_given(tmp_path):
    out = tmp_path / "some.gif"
    assert run("--input", X7, "-k", K7, "--stride", 2, "--frames", "2,1-2,last", "-o", out).exit_code == 0
    data = trace_of("--input", X7, "-k", K7, "--stride", 2)
    frames, panel = frames_of(out), layout(data).panels["output"]
    assert len(frames) == 4
    for pixels, k in zip(frames, [1, 0, 1, 8]):
        assert inside(cells_of(pixels, HIGHLIGHT), panel.box(*rc(data["frames"][k]["output_index"])))
