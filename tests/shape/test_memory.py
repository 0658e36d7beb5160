"""The training-memory estimate of cnnconv.shape.memory, checked against the network it describes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, strategies as st

from cnnconv.shape.memory import optimizer_slots, training_bytes
from cnnconv.errors import CnnconvError
from cnnconv.shape.summary import summarize_network
from cnnconv.nn.model import build_network
from cnnconv.nn.optim import make_optimizer

SPECS = ["conv3x4,relu,pool2,fc2", "conv5x8:p2,relu,pool2,conv5x16,relu,pool2,fc120,relu,fc84,relu,fc2",
         "conv3x6:same,tanh,avgpool2,lcn5,flatten,fc2"]


@pytest.mark.parametrize("spec", SPECS)
@pytest.mark.parametrize(("optimizer", "momentum"), [("adam", 0.9), ("sgd", 0.9), ("sgd", 0.0)])
def test_the_counts_are_those_of_the_built_network_and_its_optimiser(spec, optimizer, momentum):
    """Parameters and activations from the shape arithmetic equal what training allocates."""
    net = build_network(spec, (16, 16, 1), 2)
    rows = summarize_network((16, 16, 1), net.spec).rows
    assert sum(r.params for r in rows) == net.num_parameters()
    assert [r.output for r in rows] == net.activation_shapes()
    opt = make_optimizer(optimizer, net.parameters(), lr=0.01, momentum=momentum)
    slot_values = sum(v.size for v in opt.state().values() if isinstance(v, np.ndarray) and v.ndim)
    assert slot_values == optimizer_slots(optimizer, momentum) * net.num_parameters()


@given(layers=st.lists(st.tuples(st.integers(0, 10**12), st.integers(0, 10**12)), max_size=6),
       input_values=st.integers(0, 10**9), batch=st.integers(1, 4096), slots=st.integers(0, 2))
def test_the_total_is_the_sum_of_the_written_formula(layers, input_values, batch, slots):
    total, per_layer = training_bytes(layers, input_values=input_values, batch_size=batch, slots=slots)
    expected = [4 * p * (2 + slots) + 4 * 3 * a * batch for p, a in layers]  # weight+grad+slots; out+cache+grad
    assert per_layer == expected and total == sum(expected) + 4 * input_values * batch
    assert all(isinstance(v, int) for v in [total, *per_layer])  # exact integers, even for 10**12 values
    bigger, _ = training_bytes(layers, input_values=input_values, batch_size=batch + 1, slots=slots)
    assert bigger >= total


def test_absurd_sizes_stay_exact_integers():
    rows = summarize_network((8, 8, 1), "conv3x1000000000").rows
    total, (conv,) = training_bytes([(r.params, r.activations) for r in rows], input_values=64, batch_size=64, slots=2)
    assert conv == 10**10 * 16 + 36 * 10**9 * 64 * 12 and total == conv + 64 * 64 * 4


@pytest.mark.parametrize("bad", [dict(batch_size=0, slots=2), dict(batch_size=1, slots=-1)])
def test_bad_arguments_are_refused(bad):
    with pytest.raises(CnnconvError):
        training_bytes([(1, 1)], input_values=1, **bad)
