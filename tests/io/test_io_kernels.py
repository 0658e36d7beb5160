"""The bundled kernel files and ``load_kernel``: names, files, inline and parametric specs."""

from __future__ import annotations

import importlib.resources
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnconv.errors import CnnconvError
from cnnconv.io.kernels import bundled_folder, bundled_names, list_bundled, load_kernel, read_kernel_file

# Every bundled kernel, written out: (weights, scale). The sign conventions are those of
# correlation (what cnnconv filter does by default): sobel-x is positive where the intensity
# increases to the right. sharpen, edge-enhance and laplacian-8 are the kernels of seed
# 000_500bed307a14206a.txt; vertical-edge and horizontal-edge those of 003_def129c27ac6a2b8.txt.
EXPECTED = {
    "identity": ([[0, 0, 0], [0, 1, 0], [0, 0, 0]], 1),
    "box3": ([[1] * 3] * 3, 1 / 9),
    "box5": ([[1] * 5] * 5, 1 / 25),
    "gaussian3": ([[1, 2, 1], [2, 4, 2], [1, 2, 1]], 1 / 16),
    "gaussian5": (
        [[1, 4, 6, 4, 1], [4, 16, 24, 16, 4], [6, 24, 36, 24, 6], [4, 16, 24, 16, 4], [1, 4, 6, 4, 1]],
        1 / 256,
    ),
    "sharpen": ([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], 1),
    "edge-enhance": ([[0, 0, 0], [-1, 1, 0], [0, 0, 0]], 1),
    "laplacian": ([[0, 1, 0], [1, -4, 1], [0, 1, 0]], 1),
    "laplacian-8": ([[1, 1, 1], [1, -8, 1], [1, 1, 1]], 1),
    "sobel-x": ([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], 1),
    "sobel-y": ([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], 1),
    "scharr-x": ([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]], 1),
    "scharr-y": ([[-3, -10, -3], [0, 0, 0], [3, 10, 3]], 1),
    "prewitt-x": ([[-1, 0, 1]] * 3, 1),
    "prewitt-y": ([[-1, -1, -1], [0, 0, 0], [1, 1, 1]], 1),
    "roberts-x": ([[1, 0], [0, -1]], 1),
    "roberts-y": ([[0, 1], [-1, 0]], 1),
    "vertical-edge": ([[1, 0, -1]] * 3, 1),
    "horizontal-edge": ([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], 1),
    "emboss": ([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], 1),
}


def test_the_bundled_set_is_exactly_the_documented_one():
    assert bundled_names() == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_bundled_kernel_parses_and_matches_its_matrix(name):
    weights, scale = EXPECTED[name]
    k = load_kernel(name)
    assert k.name == name
    np.testing.assert_array_equal(k.weights, np.array(weights, dtype=float))
    assert k.scale == pytest.approx(scale, rel=1e-15) and k.offset == 0
    assert k.description and "\n" not in k.description


def test_list_bundled_gives_every_kernel_once():
    assert [k.name for k in list_bundled()] == sorted(EXPECTED)


def test_sobel_x_responds_positively_to_intensity_increasing_to_the_right():
    ramp = np.tile(np.arange(5.0), (5, 1))  # increases to the right
    window = ramp[1:4, 1:4]
    assert float((window * load_kernel("sobel-x").weights).sum()) > 0
    assert float((window.T * load_kernel("sobel-y").weights).sum()) > 0  # increases downwards


def test_seed_003_vertical_edge_example():
    # 003_def129c27ac6a2b8.txt "Vertical Edge Detection": the 6x6 image correlated with
    # vertical-edge gives -5 -4 0 8 in its first row (checked by hand: 6 - 11 = -5).
    image = np.array([[3, 0, 1, 2, 7, 4], [1, 5, 8, 9, 3, 1], [2, 7, 2, 5, 1, 3],
                      [0, 1, 3, 1, 7, 8], [4, 2, 1, 6, 2, 8], [2, 4, 5, 2, 3, 9]], dtype=float)
    w = load_kernel("vertical-edge").weights
    first_row = [float((image[0:3, j:j + 3] * w).sum()) for j in range(4)]
    assert first_row == [-5, -4, 0, 8]


def test_the_editable_install_finds_the_bundled_kernels_as_a_package():
    folder = importlib.resources.files("cnnconv._kernels")
    assert sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt")) == sorted(EXPECTED)
    assert str(bundled_folder()) == str(folder)


# ---- resolution order and names ----------------------------------------------------------------


def test_names_ignore_case_and_underscores():
    assert load_kernel("Sobel_X").name == "sobel-x"
    assert load_kernel("  gaussian3 ").name == "gaussian3"


def test_parametric_and_inline_specs():
    assert load_kernel("gaussian:sigma=2").shape == (13, 13)
    assert load_kernel("dog:1,2").shape == (17, 17)
    assert load_kernel("1,2,1; 0,0,0; -1,-2,-1").weights.tolist() == [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("sobelx", "unknown kernel 'sobelx'; did you mean 'sobel-x'? (cnnconv kernels lists them)"),
        ("laplace", "did you mean 'laplacian'?"),
        ("qqqqqq", "unknown kernel 'qqqqqq': not a bundled name, an existing file"),
        ("gaussian", "kernel 'gaussian' needs parameters: gaussian:sigma=S[,size=N] (or a bundled one: gaussian3, gaussian5)"),
        ("dog", "kernel 'dog' needs parameters: dog:S1,S2[,size=N]"),
        ("missing.txt", "kernel file 'missing.txt' not found"),
        ("some/dir/k", "kernel file 'some/dir/k' not found"),
        ("", "a kernel spec must be a non-empty string"),
        ("1,2;3", "row 2 has 1 value, expected 2"),
        ("box:0", "size must be a whole number from 1 to 1001, got 0"),
    ],
)
def test_bad_specs(spec, message):
    with pytest.raises(CnnconvError) as err:
        load_kernel(spec)
    assert message in str(err.value) and "\n" not in str(err.value)


# ---- files ------------------------------------------------------------------------------------


def test_text_csv_mat_npy_and_other_files(tmp_path: Path):
    (tmp_path / "k.txt").write_text("# mine\n1 2\n3 4\nscale 0.5\n")
    (tmp_path / "k.csv").write_text("1,2\n3,4\n")
    (tmp_path / "k.mat").write_text("2 2 2 1\n1 2\n3 4\n")
    np.save(tmp_path / "k.npy", np.array([[1, 2], [3, 4]], dtype=np.int16))
    (tmp_path / "k.kern").write_text("1 2\n3 4\n")
    for name in ("k.txt", "k.csv", "k.mat", "k.npy", "k.kern"):
        k = load_kernel(str(tmp_path / name))
        assert k.weights.tolist() == [[1, 2], [3, 4]] and k.name == "k", name
    assert load_kernel(str(tmp_path / "k.txt")).description == "mine"
    assert load_kernel(tmp_path / "k.txt").weights.tolist() == [[1, 2], [3, 4]]
    assert load_kernel(str(tmp_path / "k.csv")).description.startswith("from ")
    assert load_kernel(str(tmp_path / "k.mat")).scale == 0.5 and load_kernel(str(tmp_path / "k.mat")).offset == 1


def test_three_d_npy_and_one_d_npy(tmp_path: Path):
    np.save(tmp_path / "bank.npy", np.ones((3, 3, 3)))
    np.save(tmp_path / "row.npy", np.array([1.0, -1.0]))
    assert read_kernel_file(tmp_path / "bank.npy").shape == (3, 3, 3)
    assert read_kernel_file(tmp_path / "row.npy").shape == (1, 2)


def test_crlf_and_bom_files(tmp_path: Path):
    (tmp_path / "w.txt").write_bytes(b"\xef\xbb\xbf# windows\r\n1 2\r\n3 4\r\n")
    k = read_kernel_file(tmp_path / "w.txt")
    assert k.weights.tolist() == [[1, 2], [3, 4]] and k.description == "windows"


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.txt", b"", "empty.txt: no kernel values found"),
        ("ragged.txt", b"1 2 3\n4 5\n", "ragged.txt line 2: row has 2 values, expected 3"),
        ("words.txt", b"1 2\n3 four\n", "words.txt line 2: 'four' is not a number"),
        ("nan.txt", b"1 NaN\n", "nan.txt line 1: 'NaN' is not a finite number"),
        ("inf.csv", b"1,inf\n", "inf.csv line 1: 'inf' is not a finite number"),
        ("zero.txt", b"1 2\nscale 0\n", "zero.txt: scale must not be 0"),
        ("bad.mat", b"3 3\n1 2 3\n4 5 6\n", "bad.mat: the header says 3 rows (W H = 3 3), found 2"),
        ("zero.mat", b"1 1 0\n5\n", "zero.mat line 1: scale must not be 0"),
        ("png.txt", b"\x89PNG\r\n\x1a\n\x00\x00", "png.txt is not a UTF-8 text file (byte 0x89 at offset 0)"),
        ("nul.txt", b"1 2\x00\n", "nul.txt is not a text file"),
        ("junk.npy", b"not an npy", "junk.npy is not a readable .npy array"),
    ],
)
def test_malformed_files_name_the_file_and_line(tmp_path: Path, name, content, message):
    (tmp_path / name).write_bytes(content)
    with pytest.raises(CnnconvError) as err:
        load_kernel(str(tmp_path / name))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_npy_object_arrays_are_refused_without_unpickling(tmp_path: Path):
    np.save(tmp_path / "obj.npy", np.array([[1, None]], dtype=object), allow_pickle=True)
    with pytest.raises(CnnconvError, match="is not a readable .npy array without pickles"):
        load_kernel(str(tmp_path / "obj.npy"))


@pytest.mark.parametrize(
    "array, message",
    [
        (np.ones((2, 2, 2, 2)), "got shape (2, 2, 2, 2)"),
        (np.zeros((0, 3)), "got shape (0, 3)"),
        (np.array([[1.0, np.nan]]), "holds NaN or infinity"),
        (np.array([[1 + 1j]]), "must hold real numbers"),
        (np.array([["a"]]), "must hold real numbers"),
    ],
)
def test_bad_npy_arrays(tmp_path: Path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(CnnconvError) as err:
        load_kernel(str(tmp_path / "bad.npy"))
    assert message in str(err.value)


def test_a_directory_is_not_a_kernel_file(tmp_path: Path):
    (tmp_path / "dir.txt").mkdir()
    with pytest.raises(CnnconvError, match="is a directory"):
        load_kernel(str(tmp_path / "dir.txt"))


def test_an_existing_file_wins_over_inline(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("1,1").write_text("7\n")
    assert load_kernel("1,1").weights.tolist() == [[7]]


@given(st.binary(max_size=200))
def test_fuzz_random_bytes_as_a_kernel_file(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("fuzz")
    for name in ("f.txt", "f.mat", "f.npy"):
        (folder / name).write_bytes(data)
        try:
            k = read_kernel_file(folder / name)
        except CnnconvError:
            continue
        assert np.isfinite(k.weights).all()


@given(st.one_of(st.text(max_size=40), st.sampled_from(["gaussian:", "box:", "dog:", "log:", "sobel", "1,", ";"]).flatmap(
    lambda head: st.text(st.sampled_from("0123456789.,;=- sigmaze"), max_size=15).map(lambda tail: head + tail))))
def test_fuzz_load_kernel_specs(spec):
    try:
        k = load_kernel(spec)
    except CnnconvError as exc:
        assert "\n" not in str(exc)
        return
    assert np.isfinite(k.weights).all() and k.weights.ndim in (2, 3)


def test_loading_one_bundled_kernel_imports_no_resource_machinery_or_difflib():
    code = ("import sys; from cnnconv.io.kernels import load_kernel; load_kernel('sobel-x'); "
            "print(sorted(m for m in ('importlib.resources', 'difflib') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


# --- ImageMagick strings, inline matrices with spaces, box:RxC, unsharp, the origin line ---

from cnnconv.io.kernels import load_kernels  # noqa: E402


@pytest.mark.parametrize("spec, name, shape", [
    ("gaussian:2", "gaussian:sigma=2,size=13", (13, 13)),       # cnnconv's: sigma 2
    ("Gaussian:0x2", "im:Gaussian:0x2", (15, 15)),              # cnnconv cannot read RxS: ImageMagick's
    ("im:Gaussian:2", "im:Gaussian:2", (5, 5)),                 # ImageMagick's radius 2 (sigma 0: an impulse)
    ("DoG:0,1,2", "im:DoG:0,1,2", (15, 15)),                    # a radius 0 is no sigma: ImageMagick's
    ("dog:1,2", "dog:sigma1=1,sigma2=2,size=17", (17, 17)),
    ("LoG:0,1", "im:LoG:0,1", (9, 9)),
    ("laplacian", "laplacian", (3, 3)),                         # the bundled one
    ("Laplacian:0", "im:Laplacian:0", (3, 3)),
    ("im:1,2,1,2,4,2,1,2,1", "im:1,2,1,2,4,2,1,2,1", (3, 3)),   # the old odd-square list needs im:
    ("1,2,1,2,4,2,1,2,1", "1,2,1,2,4,2,1,2,1", (1, 9)),         # without it, one row
    ("1 2 1", "1 2 1", (1, 3)),
    ("1 2 1; 2 4 2; 1 2 1", "1 2 1; 2 4 2; 1 2 1", (3, 3)),
    ("-1 0 1", "-1 0 1", (1, 3)),
    ("box:3x5", "box:3x5", (3, 5)),
])
def test_load_kernels_reads_each_form(spec, name, shape):
    kernel, = load_kernels(spec)
    assert (kernel.name, kernel.shape) == (name, shape)


def test_imagemagick_laplacian_differs_from_the_bundled_one():
    assert load_kernel("Laplacian:0").weights[1, 1] == 8 and load_kernel("laplacian").weights[1, 1] == -4


def test_a_list_is_refused_where_one_kernel_is_needed():
    assert len(load_kernels("Sobel:@")) == 8
    with pytest.raises(CnnconvError, match="is a list of 8 kernels; cnnconv filter applies each"):
        load_kernel("Sobel:@")


def test_a_failed_cnnconv_reading_names_the_imagemagick_form():
    with pytest.raises(CnnconvError, match=r"sigma must be a number from 0.01 .*, got 0 \(for ImageMagick.s form write im:log:0\)"):
        load_kernel("log:0")


def test_box_rows_by_columns_is_a_mean():
    k = load_kernel("box:2x4")
    assert k.effective().tolist() == [[0.125] * 4] * 2


def test_unsharp_is_identity_plus_amount_times_detail():
    from cnnconv.kernels.parametric import gaussian

    k, g = load_kernel("unsharp:sigma=1.5,amount=0.7"), gaussian(1.5).effective()
    identity = np.zeros_like(g)
    identity[g.shape[0] // 2, g.shape[1] // 2] = 1
    np.testing.assert_allclose(k.effective(), identity + 0.7 * (identity - g), atol=1e-15)
    assert abs(k.effective().sum() - 1) < 1e-12
    assert load_kernel("unsharp:2").name == "unsharp:sigma=2,amount=1,size=13"
    with pytest.raises(CnnconvError, match="amount must be a number"):
        load_kernel("unsharp:sigma=1,amount=much")


def test_the_origin_line_of_a_text_kernel(tmp_path):
    path = tmp_path / "k.txt"
    path.write_text("1 2\n3 4\norigin 0 1\n")
    assert load_kernel(str(path)).origin == (0, 1)
    path.write_text("1 2\n3 4\norigin 2 0\n")
    with pytest.raises(CnnconvError, match=r"origin \(2, 0\) must lie inside the \(2, 2\) kernel"):
        load_kernel(str(path))
    path.write_text("1 2\n3 4\norigin 1\n")
    with pytest.raises(CnnconvError, match="origin is a row and a column"):
        load_kernel(str(path))
