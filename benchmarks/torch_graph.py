"""A PyTorch module that runs a cnnconv network's graph node by node, with its weights.

``TorchGraph(net)`` takes a :class:`cnnconv.nn.model.Network` (built by ``build_network``)
and builds one ``torch.nn`` layer per node with the same settings and the network's
current weights (convolutions HWIO -> OIHW, fc ``(n_in, n_out)`` -> ``(n_out, n_in)`` with
the inputs reordered from cnnconv's (H, W, C) flattening to PyTorch's (C, H, W)), then runs
the nodes in cnnconv's order, each reading the outputs its node names. Only the kinds the
benchmarks' networks and the pinned fixture use are translated (conv, tconv, bn, relu, relu6,
add, cat, maxpool, avgpool, upsample, gap, flatten, fc); any other raises. Used by benchmarks/ only (PyTorch is no dependency).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def _layer(module, in_shape):
    spec = module.spec
    kind = spec.kind
    p = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in module.params.items()}
    if kind == "conv":
        (top, bottom), (left, right) = module.padding
        if top != bottom or left != right:
            raise NotImplementedError(f"{spec.text}: asymmetric padding")
        w = p["weight"].permute(3, 2, 0, 1)  # (kh, kw, cin/g, cout) -> (cout, cin/g, kh, kw)
        conv = nn.Conv2d(in_shape[2], spec.out, spec.kernel, spec.stride, (top, left), spec.dilation,
                         module.groups, bias="bias" in p)
        with torch.no_grad():
            conv.weight.copy_(w)
            if "bias" in p:
                conv.bias.copy_(p["bias"])
        return conv
    if kind == "tconv":
        conv = nn.ConvTranspose2d(in_shape[2], spec.out, spec.kernel, spec.stride, spec.padding, spec.output_padding,
                                  module.groups, bias="bias" in p, dilation=spec.dilation)
        with torch.no_grad():
            conv.weight.copy_(p["weight"].permute(2, 3, 0, 1))  # (kh, kw, cin, cout/g) -> (cin, cout/g, kh, kw)
            if "bias" in p:
                conv.bias.copy_(p["bias"])
        return conv
    if kind == "upsample":
        return nn.Upsample(scale_factor=spec.factor, mode=spec.op,
                           **({"align_corners": False} if spec.op == "bilinear" else {}))
    if kind == "bn":
        bn = nn.BatchNorm2d(in_shape[-1]) if len(in_shape) == 3 else nn.BatchNorm1d(in_shape[-1])
        with torch.no_grad():
            bn.weight.copy_(p["gamma"])
            bn.bias.copy_(p["beta"])
            bn.running_mean.copy_(torch.from_numpy(module.buffers["running_mean"]))
            bn.running_var.copy_(torch.from_numpy(module.buffers["running_var"]))
        return bn
    if kind == "fc":
        lin = nn.Linear(int(np.prod(in_shape)), spec.out, bias="bias" in p)
        w = p["weight"]
        if len(in_shape) == 3:  # rows in (H, W, C) order -> (C, H, W)
            h, wd, c = in_shape
            w = w.reshape(h, wd, c, spec.out).permute(2, 0, 1, 3).reshape(-1, spec.out)
        with torch.no_grad():
            lin.weight.copy_(w.T)
            if "bias" in p:
                lin.bias.copy_(p["bias"])
        return nn.Sequential(nn.Flatten(), lin)
    if kind == "relu":
        return nn.ReLU()
    if kind == "relu6":
        return nn.ReLU6()
    if kind in ("maxpool", "avgpool") and not isinstance(spec.padding, str):
        cls = nn.MaxPool2d if kind == "maxpool" else nn.AvgPool2d
        extra = {"dilation": spec.dilation} if kind == "maxpool" else {"count_include_pad": False}
        return cls(spec.kernel, spec.stride, spec.padding, ceil_mode=spec.ceil_mode, **extra)
    if kind == "gap":
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if kind == "flatten":
        return nn.Flatten()
    if kind in ("add", "cat"):
        if any(any(c) for c in module.crops):
            raise NotImplementedError(f"{kind} with cropped taps")
        return None
    raise NotImplementedError(f"layer kind {kind!r} ({spec.text})")


class TorchGraph(nn.Module):
    """The graph of ``net`` as a ``torch.nn.Module`` taking NCHW batches, returning logits."""

    def __init__(self, net):
        super().__init__()
        count = len(net.modules) - (1 if net.fold_softmax else 0)
        self.kinds = [m.spec.kind for m in net.modules[:count]]
        self.inputs = [tuple(i) for i in net.inputs[:count]]
        self.layers = nn.ModuleList(
            [_layer(m, m.in_shape) or nn.Identity() for m in net.modules[:count]])

    def forward(self, x):
        outputs = [x]
        for kind, ins, layer in zip(self.kinds, self.inputs, self.layers):
            if kind == "add":
                y = outputs[ins[0]]
                for j in ins[1:]:
                    y = y + outputs[j]
            elif kind == "cat":
                y = torch.cat([outputs[j] for j in ins], dim=1)
            else:
                y = layer(outputs[ins[0]])
            outputs.append(y)
        return outputs[-1]


def torch_gradients(net, model):
    """The gradients of ``model``'s parameters, by cnnconv's parameter names and in its layouts."""
    out = {}
    count = len(model.layers)
    for i, (m, layer) in enumerate(zip(net.modules[:count], model.layers)):
        kind = m.spec.kind
        if kind in ("conv", "tconv"):
            g = layer.weight.grad
            out[f"{i}.{kind}.weight"] = (g.permute(2, 3, 1, 0) if kind == "conv" else g.permute(2, 3, 0, 1)).numpy()
            if layer.bias is not None:
                out[f"{i}.{kind}.bias"] = layer.bias.grad.numpy()
        elif kind == "bn":
            out[f"{i}.bn.gamma"], out[f"{i}.bn.beta"] = layer.weight.grad.numpy(), layer.bias.grad.numpy()
        elif kind == "fc":
            lin = layer[1]
            g = lin.weight.grad.T
            if len(m.in_shape) == 3:  # (C, H, W) rows back to (H, W, C)
                h, wd, c = m.in_shape
                g = g.reshape(c, h, wd, -1).permute(1, 2, 0, 3).reshape(-1, g.shape[1])
            out[f"{i}.fc.weight"] = g.numpy()
            if lin.bias is not None:
                out[f"{i}.fc.bias"] = lin.bias.grad.numpy()
    return {k: v.copy() for k, v in out.items()}


def torch_buffers(net, model):
    """The running statistics of ``model``'s bn layers, by cnnconv's buffer names."""
    return {f"{i}.bn.{key}": getattr(layer, key).numpy().copy()
            for i, (m, layer) in enumerate(zip(net.modules, model.layers)) if m.spec.kind == "bn"
            for key in ("running_mean", "running_var")}
