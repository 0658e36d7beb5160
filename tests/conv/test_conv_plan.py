"""conv_plan sees the kernel's weights, so a separable kernel takes the two-pass engine."""

import numpy as np

from cnnconv import conv_plan, correlate
from cnnconv.conv.dispatch import correlate_valid

GAUSS5 = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256.0


def test_plan_with_a_rank_one_kernel_chooses_separable():
    plan = conv_plan((512, 512), GAUSS5.shape, mode="same", dtype=np.float32, kernel=GAUSS5)
    assert plan.method == "separable"
    assert "rank-1" in plan.method_reason


def test_plan_without_the_weights_cannot_know_the_kernel_is_separable():
    plan = conv_plan((512, 512), GAUSS5.shape, mode="same", dtype=np.float32)
    assert plan.method != "separable"


def test_plan_of_a_full_rank_kernel_is_not_separable():
    sharpen = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], float)
    plan = conv_plan((64, 64), (3, 3), mode="same", kernel=sharpen)
    assert plan.method != "separable"


def test_an_explicit_method_that_cannot_run_says_it_fell_back():
    plan = conv_plan((64, 64), (5, 5), method="separable", kernel=np.eye(5))
    assert plan.method != "separable"
    assert "falls back" in plan.method_reason


def test_correlate_auto_on_a_separable_kernel_matches_the_direct_engine():
    x = np.random.default_rng(0).random((40, 37), dtype=np.float32)
    got = correlate(x, GAUSS5, mode="valid")
    want = correlate_valid(x, GAUSS5.astype(np.float32), method="direct")
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_filter_explain_reports_the_separable_engine_and_why(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from cnnconv.cli import cli

    src = tmp_path / "in.png"
    Image.fromarray((np.arange(64 * 64) % 251).astype(np.uint8).reshape(64, 64)).save(src)
    result = CliRunner().invoke(
        cli, ["filter", str(src), "-k", "gaussian5", "--explain", "-o", str(tmp_path / "out.png")]
    )
    assert result.exit_code == 0, result.output
    assert "separable, float32" in result.stderr
    assert "rank-1 5x5 kernel" in result.stderr
