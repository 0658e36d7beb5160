"""Model file versions: version 2 stores graphs and bn buffers; version 1 files still load."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from cnnconv.io.model import FORMAT_VERSION, load_model, read_meta, save_model
from cnnconv.nn.model import build_network, predict_proba
from model_damage import rewrite  # noqa: E402  (tests/ is on the path: conftest.py lives there)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GRAPH = "conv3x4:p1:nobias,bn,relu,add(conv3x4:p1:nobias,bn,relu,conv3x4:p1|),@t,pool2,cat(@t|),gap"


def test_a_version_1_file_still_loads_with_its_weights():
    # written once by the version 1 writer (tests/fixtures/make_model_v1.py); the logits pinned then
    net, meta = load_model(FIXTURES / "model_v1.npz")
    assert meta["format_version"] == 1 and "buffers" not in meta
    assert net.spec == "conv3x4:p1,relu,pool2,fc6,relu,fc3" and net.buffers() == []
    x = np.random.default_rng(7)
    for _, value in build_network(net.spec, (6, 6, 1), 3).parameters():  # replay the fixture's draws
        x.normal(scale=0.5, size=value.shape)
    batch = x.normal(size=(2, 6, 6, 1)).astype(np.float32)
    expected = [[-0.164975, 0.135492, -0.137839], [-2.297409, 2.492465, 3.254801]]
    np.testing.assert_allclose(net.forward(batch), expected, atol=1e-5)


def trained_graph(seed=0):
    net = build_network(GRAPH, (6, 6, 1), 3, seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(3):  # training forwards move the running statistics away from 0 and 1
        net.forward(rng.normal(loc=2.0, scale=3.0, size=(8, 6, 6, 1)), training=True)
    return net


def meta():
    return dict(class_names=["a", "b", "c"], channels="gray", mean=[0.5], std=[0.25])


def test_a_graph_with_batch_norm_round_trips(tmp_path):
    net = trained_graph()
    path = tmp_path / "g.npz"
    save_model(path, net, meta())
    info, weights, _ = read_meta(path)
    assert info["format_version"] == FORMAT_VERSION == 2 and info["spec"] == net.spec
    assert info["buffers"] == ["1.bn.running_mean", "1.bn.running_var", "4.bn.running_mean", "4.bn.running_var"]
    loaded, _ = load_model(path)
    for name, value in net.buffers():
        assert not np.allclose(value, 0.0) and not np.allclose(value, 1.0)  # really trained
    assert [(n, v.tolist()) for n, v in loaded.buffers()] == [(n, v.tolist()) for n, v in net.buffers()]
    x = np.random.default_rng(1).normal(size=(4, 6, 6, 1)).astype(np.float32)
    assert np.array_equal(predict_proba(net, x), predict_proba(loaded, x))
    # the buffers are what inference uses: resetting them changes the predictions
    loaded.modules[1].buffers["running_var"][:] = 1.0
    assert not np.allclose(predict_proba(net, x), predict_proba(loaded, x))


def _arrays(path):
    with np.load(path) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.mark.parametrize("damage,message", [
    (lambda p: np.savez(p, **{k: v for k, v in _arrays(p).items() if k != "buf/1.bn.running_var"}),
     "the buffer entry 'buf/1.bn.running_var' is missing"),
    (lambda p: np.savez(p, **_arrays(p), **{"buf/9.bn.running_mean": np.zeros(4, np.float32)}),
     "buffers its description does not list: buf/9.bn.running_mean"),
    (lambda p: np.savez(p, **{**_arrays(p), "buf/4.bn.running_var": -np.ones(4, np.float32)}),
     "'4.bn.running_var' holds a variance that is not positive"),
    (lambda p: np.savez(p, **{**_arrays(p), "buf/4.bn.running_var": np.ones(5, np.float32)}),
     r"4.bn.running_var.* has shape \(5,\), its network needs \(4,\)"),
    (lambda p: rewrite(p, lambda h: h.update(buffers="1.bn.running_mean")), "'buffers' is .* not a list"),
    (lambda p: rewrite(p, lambda h: h.update(buffers=h["buffers"][:2])), "buffers its description does not list"),
    (lambda p: rewrite(p, lambda h: h.update(format_version=1)), "'buffers' appears in a version 1 file"),
    (lambda p: rewrite(p, lambda h: (h.update(format_version=1), h.pop("buffers"))), "it holds buffers its description does not list"),
    (lambda p: rewrite(p, lambda h: h.update(spec="conv3x8,pool2,up2,conv1x2")), "predicts a class per pixel"),
])
def test_damaged_buffers_are_refused_naming_what_is_wrong(tmp_path, damage, message):
    path = tmp_path / "g.npz"
    save_model(path, trained_graph(), meta())
    damage(path)
    with pytest.raises(Exception, match=message) as caught:
        load_model(path)
    assert type(caught.value).__name__ == "InvalidModel" and str(path) in str(caught.value)


def test_a_version_1_header_with_batch_norm_is_refused(tmp_path):
    path = tmp_path / "v1.npz"
    shutil.copy(FIXTURES / "model_v1.npz", path)
    rewrite(path, lambda h: h.update(spec="conv3x4:p1,bn,relu,pool2,fc6,relu,fc3"))
    with pytest.raises(Exception, match="version 1 file cannot hold batch norm statistics"):
        load_model(path)
