"""Writes tests/fixtures/torch_graph_step.npz: one training step of a small graph network in
PyTorch (float64), so the tests can check cnnconv's forward, backward and batch norm against it
without PyTorch installed.

    python benchmarks/make_torch_graph_fixture.py     # made with torch 2.13.0 (CPU)

The network is built by cnnconv (seed 3, float64) and copied into PyTorch by
benchmarks/torch_graph.py; stored: the spec, the input batch and labels, the training-mode
logits and cross-entropy, every parameter's gradient (in cnnconv's names and layouts), the bn
running statistics after the step's forward, and the inference logits after it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from cnnconv.nn.model import build_network
from torch_graph import TorchGraph, torch_buffers, torch_gradients

SPEC = ("conv3x4:p1:nobias,bn,relu,add(conv3x4:p1:nobias,bn,relu6,conv3x4:p1|conv1x4:nobias,bn),relu,maxpool2,"
        "up2:bilinear,cat(conv3x3:p1|),tconv2x4:s2:p1:op1,relu,up2,avgpool2,gap,fc5:nobias,bn,relu,fc3")
OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "torch_graph_step.npz"


def main() -> None:
    net = build_network(SPEC, (6, 6, 2), 3, seed=3, dtype=np.float64)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(4, 6, 6, 2))
    y = np.array([0, 2, 1, 1])
    torch.set_default_dtype(torch.float64)  # the layers are made in float64: the weights are copied exactly
    model = TorchGraph(net)
    model.train()
    logits = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y))
    loss.backward()
    model.eval()
    with torch.no_grad():
        eval_logits = model(torch.from_numpy(x.transpose(0, 3, 1, 2).copy()))
    arrays = {"spec": np.array(SPEC), "torch_version": np.array(torch.__version__), "x": x, "y": y,
              "logits": logits.detach().numpy(), "loss": np.array(float(loss.detach())), "eval_logits": eval_logits.numpy()}
    arrays.update({f"grad/{k}": v for k, v in torch_gradients(net, model).items()})
    arrays.update({f"buffer/{k}": v for k, v in torch_buffers(net, model).items()})
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes) with torch {torch.__version__}")


if __name__ == "__main__":
    main()
