"""The class layer: the rule by which a spec becomes a classifier of ``num_classes`` classes.

One rule for everything that needs it (building the network, and estimating the memory of
a run before anything is built), so it imports neither NumPy nor the layers.
"""

from __future__ import annotations

from cnnconv.errors import CnnconvError
from cnnconv.shape.layer import Layer, LayerSpecError


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


#: Kinds after which the network holds one vector per image (a prediction per image).
_REDUCING = ("gap", "gmp", "fc", "flatten")
#: Kinds that make maps larger (a decoder).
_UPSAMPLING = ("tconv", "upsample")


def refuse_dense_prediction(graph) -> None:
    """Refuse a network whose output is a per-pixel map (an encoder-decoder such as a U-Net).

    ``cnnconv train`` learns one class per image; a network that upsamples and never pools or
    flattens afterwards predicts a class per pixel, and an fc appended to its map would be a
    meaningless classifier of millions of weights. Checked on the parsed spec alone, before
    anything is built or decoded.

    Examples
    --------
    >>> from cnnconv.shape.grammar import parse_network
    >>> refuse_dense_prediction(parse_network("conv3x8,up2,conv3x8,gap"))   # pooled after: fine
    >>> refuse_dense_prediction(parse_network("conv3x8,pool2,up2,conv1x2"))
    Traceback (most recent call last):
    ...
    cnnconv.shape.layer.LayerSpecError: layer spec: up2 (at 14): layer 3 upsamples and nothing after it pools or flattens: the network predicts a class per pixel (an encoder-decoder such as a U-Net), but training learns one class per image; end it with gap and an fc, or use a network that classifies whole images
    """
    last_up = max((k for k, node in enumerate(graph.nodes) if node.layer.kind in _UPSAMPLING), default=None)
    if last_up is None:
        return
    if any(node.layer.kind in _REDUCING for node in graph.nodes[last_up + 1:]):
        return
    layer = graph.nodes[last_up].layer
    raise LayerSpecError(
        layer.text or layer.kind, layer.pos,
        f"layer {last_up + 1} upsamples and nothing after it pools or flattens: the network predicts a class "
        f"per pixel (an encoder-decoder such as a U-Net), but training learns one class per image; end it with "
        f"gap and an fc, or use a network that classifies whole images")


def classifier_graph(spec, num_classes: int):
    """The graph a classifier of ``num_classes`` trains, its spec text, and whether a trailing
    softmax is folded into the loss.

    ``spec`` is a spec string (a zoo name included) or a parsed
    :class:`~cnnconv.shape.layer.LayerGraph`. The rule of :func:`with_class_layer` applies to
    the network's end: an ``fc{num_classes}`` node is appended unless the last node is an fc
    (or an fc then softmax). A zoo name's own classifier is resized to ``num_classes``
    (as torchvision's ``num_classes=``): ``resnet20`` on a 3-class data set ends in ``fc3``.
    The spec text of a chain is its tokens joined by commas; of a graph, the spec as written.
    A network that predicts per pixel is refused (:func:`refuse_dense_prediction`).

    Returns
    -------
    graph : LayerGraph
    spec : str
        Text that :func:`~cnnconv.shape.grammar.parse_network` turns back into ``graph``.
    fold_softmax : bool

    Examples
    --------
    >>> classifier_graph("conv3x4,relu", 3)[1]
    'conv3x4,relu,fc3'
    >>> classifier_graph("add(conv3x4:p1|),gap", 2)[1]
    'add(conv3x4:p1|),gap,fc2'
    >>> classifier_graph("resnet20", 3)[1][-10:]
    '*2,gap,fc3'
    """
    from dataclasses import replace

    from cnnconv.shape.grammar import parse_network
    from cnnconv.shape.layer import LayerGraph, Node
    from cnnconv.shape.zoo import ZOO

    zoo = isinstance(spec, str) and spec.strip().lower() in ZOO
    graph = parse_network(spec) if isinstance(spec, str) else spec
    refuse_dense_prediction(graph)
    nodes, text = list(graph.nodes), graph.spec
    num_classes = int(num_classes)
    if zoo and nodes and nodes[-1].layer.kind == "fc" and nodes[-1].layer.out != num_classes:
        last = nodes[-1]
        token = f"fc{num_classes}"
        text = text[:last.layer.pos] + token + text[last.end:]
        nodes[-1] = replace(last, layer=replace(last.layer, out=num_classes, text=token), end=last.layer.pos + len(token))
    chain = all(node.inputs == (k,) for k, node in enumerate(nodes))
    layers, fold_softmax = with_class_layer([n.layer for n in nodes], num_classes)
    if fold_softmax and nodes[-1].inputs != (len(nodes) - 1,):
        fold_softmax = False  # a softmax that does not read the fc right before it is a layer of its own
    if len(layers) > len(nodes):  # the class layer, reading the last node
        added = layers[-1]
        sep = "," if text.strip() else ""
        added = replace(added, pos=len(text) + len(sep))
        text = f"{text}{sep}{added.text}"
        nodes.append(Node(added, (len(nodes),), end=len(text)))
    if chain:
        text = ",".join(n.layer.text or n.layer.kind for n in nodes)
    return LayerGraph(text, tuple(nodes)), text, fold_softmax
