"""How much memory training a network takes, from the shape arithmetic alone (no array built).

The estimate is what a run holds at its peak, in float32 bytes:

* per trainable value: the weight, its gradient, and the optimiser's slots (Adam keeps two
  moments, SGD with momentum one velocity, plain SGD none);
* per activation of a sample in flight: the output, the cache the backward pass keeps and
  the gradient flowing back, about three values (the factor ``ACTIVATION_COPIES``);
* the input batch itself.

It is an order of magnitude, meant to refuse a spec like ``conv3x1000000000`` before
NumPy is asked for terabytes, not to predict the resident size to the megabyte.
"""

from __future__ import annotations

from collections.abc import Sequence

from cnnconv.errors import CnnconvError

FLOAT32_BYTES = 4
#: Values kept per activation during training: the output, the backward cache, the gradient.
ACTIVATION_COPIES = 3


def optimizer_slots(optimizer: str, momentum: float = 0.0) -> int:
    """Arrays the optimiser keeps per parameter: 2 for Adam, 1 for SGD with momentum, else 0.

    >>> optimizer_slots("adam"), optimizer_slots("sgd", 0.9), optimizer_slots("sgd", 0.0)
    (2, 1, 0)
    """
    if optimizer == "adam":
        return 2
    return 1 if momentum else 0


def training_bytes(
    layers: Sequence[tuple[int, int]], *, input_values: int, batch_size: int, slots: int
) -> tuple[int, list[int]]:
    """Peak float32 bytes of training, in total and per layer.

    Parameters
    ----------
    layers : sequence of (params, activations)
        Each layer's trainable values and the values of its output for one sample
        (``LayerRow.params`` and ``LayerRow.activations`` of ``summarize_network``).
    input_values : int
        Values of one input sample (H·W·C).
    batch_size : int
        Samples in flight at once.
    slots : int
        Optimiser arrays per parameter (:func:`optimizer_slots`).

    Returns
    -------
    total : int
        ``Σ params·(2 + slots)·4 + Σ activations·batch·3·4 + input·batch·4``.
    per_layer : list of int
        Each layer's share of the total (the input batch is in no layer's share).

    Examples
    --------
    conv5x8 then fc10 on 28×28×1 (208 and 46,090 parameters; 4,608 and 10 outputs), Adam,
    batches of 64 (208·16 + 4,608·64·12 = 3,542,272 bytes for the conv):

    >>> total, per_layer = training_bytes([(208, 4608), (46090, 10)], input_values=784,
    ...                                   batch_size=64, slots=2)
    >>> per_layer, total
    ([3542272, 745120], 4488096)
    """
    if batch_size < 1 or slots < 0 or input_values < 0:
        raise CnnconvError(f"batch_size >= 1, slots >= 0, input_values >= 0; got {batch_size}, {slots}, {input_values}")
    per_layer = [
        params * (2 + slots) * FLOAT32_BYTES + activations * batch_size * ACTIVATION_COPIES * FLOAT32_BYTES
        for params, activations in layers
    ]
    return sum(per_layer) + input_values * batch_size * FLOAT32_BYTES, per_layer
