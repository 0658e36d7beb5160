"""Named architectures, each as the one-line spec of the layer grammar.

A zoo name can stand wherever a spec goes (``cnnconv shape -l resnet50``); its spec is
plain text a user can print, copy and change. The specs follow torchvision's definitions
(parameter counts equal ``sum(p.numel() for p in model.parameters())`` of torchvision's
models, pinned in the tests), with these choices:

- torchvision's adaptive average pooling before the classifier is the identity at the
  224×224 input the zoo is meant for (AlexNet, VGG) or a global average pool (the others);
- GoogLeNet without its auxiliary heads; its inception branch "5×5" is a 3×3 convolution,
  as in torchvision (the known deviation from the paper that its weights were trained with);
- ResNets are torchvision's v1.5 (the stride on the 3×3 convolution of a bottleneck);
- ``unet`` is the 2015 paper's: valid 3×3 convolutions, 2×2 up-convolutions, centre-cropped
  skips, 572×572×1 in, 388×388×2 out;
- ``resnet20`` is the CIFAR ResNet of He et al. (16/32/64 channels, 3 blocks per stage) with
  projection shortcuts (1×1 stride-2 convolution and batch norm, option B) where the shape
  changes: 272,474 parameters (the paper's option A, zero-padded identity shortcuts, has
  269,722; both are its "0.27M").

>>> ZOO["lenet5"].spec
'conv5x6,tanh,avgpool2,conv5x16,tanh,avgpool2,fc120,tanh,fc84,tanh,fc10'
>>> ZOO["resnet50"].input_shape
(224, 224, 3)
>>> find_zoo(" ResNet50 ").name, find_zoo("dense121")
('resnet50', None)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ZooNetwork:
    """A named architecture: its spec, the input it is defined for, and one line about it."""

    name: str
    spec: str
    input_shape: tuple[int, ...]
    description: str

    @property
    def trunk(self) -> str:
        """The spec without its final class layer (``fc{N}``), for training on other classes.

        ``cnnconv train --layers NAME`` trains the trunk and adds ``fc{classes}`` for the
        data set's classes; a spec that does not end in ``fc`` (``unet``) is its own trunk.

        >>> ZOO["resnet20"].trunk.endswith(",gap"), ZOO["unet"].trunk == ZOO["unet"].spec
        (True, True)
        """
        head, _, last = self.spec.rpartition(",")
        return head if head and last.startswith("fc") and last[2:].isdigit() else self.spec


def find_zoo(text: str) -> ZooNetwork | None:
    """The zoo network ``text`` names (case and surrounding spaces ignored), or None.

    Only a whole name matches: ``densenet121`` is a network, ``dense121`` (an fc layer) is not.
    """
    return ZOO.get(text.strip().lower()) if isinstance(text, str) else None


def _rep(block: str, n: int) -> str:
    """``block`` n times (a repeat when n > 1, nothing when n == 0)."""
    if n == 0:
        return ""
    return block if n == 1 else f"({block})*{n}"


def _join(*parts: str) -> str:
    return ",".join(p for p in parts if p)


def _conv_bn(k: int, c: int, stride: int = 1, pad: int = 0, act: str = "relu", extra: str = "") -> str:
    """A bias-free convolution, batch norm and (unless ``act`` is empty) an activation."""
    opts = (f":s{stride}" if stride > 1 else "") + (f":p{pad}" if pad else "") + extra
    return _join(f"conv{k}x{c}{opts}:nobias", "bn", act)


_RESNET_STEM = _join(_conv_bn(7, 64, 2, 3), "pool3:s2:p1")


def _resnet_stage(width: int, blocks: int, stride: int, bottleneck: bool, c_in: int) -> tuple[str, int]:
    out = 4 * width if bottleneck else width

    def block(s: int) -> str:
        if bottleneck:
            return _join(_conv_bn(1, width), _conv_bn(3, width, s, 1), _conv_bn(1, out, act=""))
        return _join(_conv_bn(3, width, s, 1), _conv_bn(3, width, 1, 1, act=""))

    if stride == 1 and c_in == out:
        return _rep(f"add({block(1)}|),relu", blocks), out
    first = f"add({block(stride)}|{_conv_bn(1, out, stride, act='')}),relu"
    return _join(first, _rep(f"add({block(1)}|),relu", blocks - 1)), out


def _resnet(blocks: tuple[int, ...], bottleneck: bool, widths=(64, 128, 256, 512), stem=_RESNET_STEM,
            classes: int = 1000) -> str:
    parts, c = [stem], widths[0]
    for i, (width, n) in enumerate(zip(widths, blocks)):
        stage, c = _resnet_stage(width, n, 1 if i == 0 else 2, bottleneck, c)
        parts.append(stage)
    return _join(*parts, "gap", f"fc{classes}")


def _mobilenet_v2() -> str:
    parts, c_in = [_conv_bn(3, 32, 2, 1, "relu6")], 32
    for t, c, n, s in ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1)):
        for i in range(n):
            stride, hidden = (s if i == 0 else 1), c_in * t
            body = _join(_conv_bn(1, hidden, act="relu6") if t != 1 else "",
                         _conv_bn(3, hidden, stride, 1, "relu6", ":dw"), _conv_bn(1, c, act=""))
            if stride == 1 and c_in == c:  # the repeats of a stage: residual
                parts.append(_rep(f"add({body}|)", n - i))
                break
            parts.append(body)
            c_in = c
    return _join(*parts, _conv_bn(1, 1280, act="relu6"), "gap", "dropout0.2", "fc1000")


def _densenet(blocks=(6, 12, 24, 16), growth: int = 32, width: int = 64) -> str:
    layer = f"cat(|{_join('bn,relu', f'conv1x{4 * growth}:nobias', 'bn,relu', f'conv3x{growth}:p1:nobias')})"
    parts, c = [_RESNET_STEM], width
    for i, n in enumerate(blocks):
        parts.append(_rep(layer, n))
        c += n * growth
        if i < len(blocks) - 1:
            parts.append(f"bn,relu,conv1x{c // 2}:nobias,avgpool2")
            c //= 2
    return _join(*parts, "bn,relu,gap", "fc1000")


def _googlenet() -> str:
    def bc(k: int, c: int, stride: int = 1, pad: int = 0) -> str:
        return _conv_bn(k, c, stride, pad)

    def inception(c1: int, c3r: int, c3: int, c5r: int, c5: int, pool: int) -> str:
        return (f"cat({bc(1, c1)}|{bc(1, c3r)},{bc(3, c3, pad=1)}|{bc(1, c5r)},{bc(3, c5, pad=1)}"
                f"|pool3:s1:p1:ceil,{bc(1, pool)})")

    return _join(bc(7, 64, 2, 3), "pool3:s2:ceil", bc(1, 64), bc(3, 192, pad=1), "pool3:s2:ceil",
                 inception(64, 96, 128, 16, 32, 32), inception(128, 128, 192, 32, 96, 64), "pool3:s2:ceil",
                 inception(192, 96, 208, 16, 48, 64), inception(160, 112, 224, 24, 64, 64),
                 inception(128, 128, 256, 24, 64, 64), inception(112, 144, 288, 32, 64, 64),
                 inception(256, 160, 320, 32, 128, 128), "pool2:s2:ceil",
                 inception(256, 160, 320, 32, 128, 128), inception(384, 192, 384, 48, 128, 128),
                 "gap", "dropout0.2", "fc1000")


def _vgg(config: tuple) -> str:
    parts, run = [], []
    for item in (*config, None):
        if run and item != run[-1]:
            parts.append(_rep(f"conv3x{run[-1]}:p1,relu", len(run)))
            run = []
        if item == "M":
            parts.append("pool2")
        elif item is not None:
            run.append(item)
    return _join(*parts, "fc4096,relu,dropout,fc4096,relu,dropout,fc1000")


def _unet() -> str:
    down, up = [], []
    for depth, c in enumerate((64, 128, 256, 512), 1):
        down.append(f"(conv3x{c},relu)*2,@e{depth},pool2")
        up.insert(0, f"tconv2x{c}:s2,cat(@e{depth}|),(conv3x{c},relu)*2")
    return _join(*down, "(conv3x1024,relu)*2", *up, "conv1x2")


_IMAGENET = (224, 224, 3)
ZOO: dict[str, ZooNetwork] = {z.name: z for z in (
    ZooNetwork("lenet5", "conv5x6,tanh,avgpool2,conv5x16,tanh,avgpool2,fc120,tanh,fc84,tanh,fc10", (32, 32, 1),
               "LeNet-5 (LeCun et al. 1998; full C3 connections), 10 classes"),
    ZooNetwork("alexnet", "conv11x64:s4:p2,relu,pool3:s2,conv5x192:p2,relu,pool3:s2,conv3x384:p1,relu,"
                          "conv3x256:p1,relu,conv3x256:p1,relu,pool3:s2,dropout,fc4096,relu,dropout,fc4096,relu,"
                          "fc1000", _IMAGENET, "AlexNet as in torchvision (64/192 filters, one GPU)"),
    ZooNetwork("vgg11", _vgg((64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")), _IMAGENET,
               "VGG-11 (configuration A), no batch norm"),
    ZooNetwork("vgg16", _vgg((64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
                              512, 512, 512, "M")), _IMAGENET, "VGG-16 (configuration D), no batch norm"),
    ZooNetwork("resnet18", _resnet((2, 2, 2, 2), False), _IMAGENET, "ResNet-18, basic blocks"),
    ZooNetwork("resnet34", _resnet((3, 4, 6, 3), False), _IMAGENET, "ResNet-34, basic blocks"),
    ZooNetwork("resnet50", _resnet((3, 4, 6, 3), True), _IMAGENET, "ResNet-50 v1.5, bottleneck blocks"),
    ZooNetwork("mobilenet_v2", _mobilenet_v2(), _IMAGENET, "MobileNetV2, width 1.0, inverted residuals"),
    ZooNetwork("densenet121", _densenet(), _IMAGENET, "DenseNet-121, growth 32"),
    ZooNetwork("googlenet", _googlenet(), _IMAGENET, "GoogLeNet (Inception v1) without the auxiliary heads"),
    ZooNetwork("unet", _unet(), (572, 572, 1), "U-Net (Ronneberger et al. 2015), valid convolutions, 2 classes"),
    ZooNetwork("resnet20", _resnet((3, 3, 3), False, (16, 32, 64), _join(_conv_bn(3, 16, 1, 1)), 10), (32, 32, 3),
               "CIFAR ResNet-20 (16/32/64 channels), projection shortcuts, 10 classes"),
)}
