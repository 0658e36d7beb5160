"""cnnconv's graph networks against PyTorch's numbers for the same network and weights.

The fixture holds one float64 training step of PyTorch 2.13.0 (CPU), made once by
benchmarks/make_torch_graph_fixture.py: residual add with a projection shortcut, relu6,
concatenation, bilinear and nearest upsampling, a transposed convolution, bias-free conv and
fc, and batch norm on maps and on vectors (batch statistics in training, running statistics
after). PyTorch itself is not needed here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnconv.nn import losses
from cnnconv.nn.model import build_network

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "torch_graph_step.npz"


@pytest.fixture(scope="module")
def step():
    with np.load(FIXTURE) as f:
        pinned = {k: f[k] for k in f.files}
    net = build_network(str(pinned["spec"]), (6, 6, 2), 3, seed=3, dtype=np.float64)
    logits = net.forward(pinned["x"], training=True)
    loss, dlogits = losses.softmax_cross_entropy(logits, pinned["y"])
    net.backward(dlogits)
    return pinned, net, logits, loss


def test_training_forward_and_loss_match_pytorch(step):
    pinned, _, logits, loss = step
    np.testing.assert_allclose(logits, pinned["logits"], rtol=1e-10, atol=1e-12)
    assert loss == pytest.approx(float(pinned["loss"]), rel=1e-12)


def test_every_gradient_matches_pytorch(step):
    pinned, net, _, _ = step
    names = [name for name, _ in net.parameters()]
    assert sorted(f"grad/{n}" for n in names) == sorted(k for k in pinned if k.startswith("grad/"))
    for name, grad in zip(names, net.gradients()):
        np.testing.assert_allclose(grad, pinned[f"grad/{name}"], rtol=1e-9, atol=1e-12, err_msg=name)


def test_running_statistics_and_inference_match_pytorch(step):
    pinned, net, _, _ = step
    for name, value in net.buffers():
        np.testing.assert_allclose(value, pinned[f"buffer/{name}"], rtol=1e-12, err_msg=name)
    np.testing.assert_allclose(net.forward(pinned["x"]), pinned["eval_logits"], rtol=1e-10, atol=1e-12)
