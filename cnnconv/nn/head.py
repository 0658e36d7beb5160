"""The class layer: the rule by which a spec becomes a classifier of ``num_classes`` classes.

One rule for everything that needs it (building the network, and estimating the memory of
a run before anything is built), so it imports neither NumPy nor the layers.
"""

from __future__ import annotations

from cnnconv.errors import CnnconvError
from cnnconv.shape.layer import Layer


def with_class_layer(layers, num_classes: int) -> tuple[list[Layer], bool]:
    """The layers a classifier trains, and whether a trailing softmax is folded into the loss.

    A final ``fc{num_classes}`` is appended when the spec does not end in an ``fc`` (an
    ``fc`` followed by ``softmax`` counts as ending in one; that softmax is folded into the
    loss). A final ``fc`` of another size is refused.

    Parameters
    ----------
    layers : sequence of Layer
    num_classes : int

    Returns
    -------
    layers : list of Layer
        A new list; the input is not changed.
    fold_softmax : bool

    Examples
    --------
    >>> [l.text for l in with_class_layer([Layer("conv", out=4, text="conv3x4")], 10)[0]]
    ['conv3x4', 'fc10']
    >>> with_class_layer([Layer("fc", out=10, text="fc10"), Layer("softmax", text="softmax")], 10)[1]
    True
    >>> with_class_layer([Layer("fc", out=5, text="fc5")], 10)
    Traceback (most recent call last):
    ...
    cnnconv.errors.CnnconvError: the last layer 'fc5' has 5 outputs but there are 10 classes: end the spec with fc10 or leave the class layer out
    """
    layers = list(layers)
    num_classes = int(num_classes)
    fold_softmax = len(layers) >= 2 and layers[-1].kind == "softmax" and layers[-2].kind == "fc"
    last = layers[-2] if fold_softmax else (layers[-1] if layers else None)
    if last is None or last.kind != "fc":
        layers.append(Layer("fc", out=num_classes, text=f"fc{num_classes}"))
    elif last.out != num_classes:
        raise CnnconvError(
            f"the last layer '{last.text or 'fc'}' has {last.out} outputs but there are {num_classes} "
            f"classes: end the spec with fc{num_classes} or leave the class layer out"
        )
    return layers, fold_softmax
