"""The zoo and the graph grammar: parameter counts equal torchvision's, MACs its published GFLOPS.

The counts were measured once with torch 2.13.0 / torchvision 0.28.0
(``sum(p.numel() for p in torchvision.models.NAME().parameters())``); torch is not a test
dependency, so they are pinned here.
"""

from __future__ import annotations

import pytest

from cnnconv.shape.grammar import LayerSpecError, parse_layers, parse_network
from cnnconv.shape.summary import summarize_network
from cnnconv.shape.zoo import ZOO

TORCHVISION = [  # name, parameters, published GFLOPS (None: not pinned)
    ("resnet18", 11_689_512, 1.81), ("resnet34", 21_797_672, None), ("resnet50", 25_557_032, 4.09),
    ("mobilenet_v2", 3_504_872, 0.30), ("densenet121", 7_978_856, 2.83), ("googlenet", 6_624_904, 1.50),
    ("vgg16", 138_357_544, 15.47), ("alexnet", 61_100_840, None),
]


@pytest.mark.parametrize("name, params, gmacs", TORCHVISION)
def test_zoo_counts_equal_torchvision(name, params, gmacs):
    t = summarize_network(ZOO[name].input_shape, name).totals()
    assert t["params"] == params and t["output"] == (1, 1, 1000)
    if gmacs is not None:
        assert round(t["macs"] / 1e9, 2) == gmacs


def test_unet_and_cifar_resnet20():
    t = summarize_network((572, 572, 1), "unet").totals()
    assert t["output"] == (388, 388, 2)
    assert summarize_network((32, 32, 3), "resnet20").totals()["params"] == 272_474


def test_zoo_name_is_never_a_token():
    with pytest.raises(LayerSpecError, match="zoo network"):
        parse_network("conv3x8,densenet121")
    assert parse_layers("dense121")[0].out == 121


def test_merge_shape_errors_name_both_shapes():
    with pytest.raises(LayerSpecError, match=r"8×8×4 .* 4×4×4|4×4×4 .* 8×8×4"):
        summarize_network((8, 8, 4), "add(conv3x4:s2:p1|)")
    with pytest.raises(LayerSpecError, match="channels differ"):
        summarize_network((8, 8, 4), "add(conv3x8:p1|)")
    with pytest.raises(LayerSpecError, match="smaller"):
        summarize_network((8, 8, 4), "@a,pool2,conv3x4:p1,up4,cat(@a|)")
    with pytest.raises(LayerSpecError, match="no point is labelled @b"):
        parse_network("conv3x4,cat(@b|)")
    with pytest.raises(LayerSpecError, match="joins branches"):
        parse_layers("add(relu|)")
