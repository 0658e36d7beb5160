"""PNG pictures of a network, drawn with Pillow alone: kernels, feature maps, learning curves.

No plotting library is needed: grids are tiled NumPy arrays enlarged with nearest-neighbour
(so each weight stays a visible square), and the curves are drawn with ``ImageDraw`` on a
white canvas with axes, ticks and a legend.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cnnconv.errors import CnnconvError

GAP = 3
BACKGROUND = (46, 84, 140)  # a tint no gray kernel pixel has, so the cells stand apart
COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40))


def grid_shape(n: int) -> tuple[int, int]:
    """Rows and columns of a near-square grid of ``n`` cells.

    Examples
    --------
    >>> grid_shape(8), grid_shape(9), grid_shape(1)
    ((3, 3), (3, 3), (1, 1))
    """
    cols = max(1, math.ceil(math.sqrt(n)))
    return max(1, math.ceil(n / cols)), cols


def zoom_for(height: int, width: int, target: int = 48) -> int:
    """Integer enlargement that brings the larger side near ``target`` pixels (at least 1).

    Examples
    --------
    >>> zoom_for(5, 5), zoom_for(3, 7), zoom_for(100, 80)
    (10, 7, 1)
    """
    return max(1, round(target / max(height, width)))


def _scale(cell: np.ndarray) -> np.ndarray:
    """Min-max scale one cell to uint8 (a constant cell becomes mid-gray)."""
    cell = np.asarray(cell, dtype=np.float64)
    lo, hi = float(np.min(cell)), float(np.max(cell))
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo < 1e-12:
        return np.full(cell.shape, 128, dtype=np.uint8)
    return np.rint((cell - lo) / (hi - lo) * 255.0).astype(np.uint8)


def tile(cells: list[np.ndarray], zoom: int) -> Image.Image:
    """Tile uint8 cells (all H×W, or all H×W×3) into a grid, each enlarged ``zoom`` times.

    Shape
    -----
    n cells of h×w give an RGB image of ``cols·h·zoom + (cols+1)·GAP`` wide and
    ``rows·h·zoom + (rows+1)·GAP`` high, ``rows, cols = grid_shape(n)``.

    Examples
    --------
    >>> tile([np.zeros((2, 3), np.uint8)] * 5, zoom=4).size
    (48, 25)
    """
    if not cells:
        raise CnnconvError("nothing to draw: no kernels or feature maps")
    h, w = cells[0].shape[:2]
    rows, cols = grid_shape(len(cells))
    ch, cw = h * zoom, w * zoom
    canvas = np.empty((rows * ch + (rows + 1) * GAP, cols * cw + (cols + 1) * GAP, 3), dtype=np.uint8)
    canvas[:] = BACKGROUND
    for i, cell in enumerate(cells):
        rgb = cell if cell.ndim == 3 else np.repeat(cell[..., None], 3, axis=2)
        big = rgb.repeat(zoom, axis=0).repeat(zoom, axis=1)  # nearest-neighbour enlargement
        r, c = divmod(i, cols)
        y, x = GAP + r * (ch + GAP), GAP + c * (cw + GAP)
        canvas[y : y + ch, x : x + cw] = big
    return Image.fromarray(canvas, "RGB")


def kernel_grid(weights: np.ndarray, zoom: int | None = None) -> Image.Image:
    """The kernels of a convolution layer as a grid, one cell per output channel.

    Each kernel is min-max scaled on its own; three-channel kernels are drawn in colour
    (scaled jointly, so their hue shows what colour they respond to), one-channel kernels
    in gray, others as the mean over their input channels.

    Shape
    -----
    ``weights`` kh×kw×C_in×C_out (HWIO).

    Examples
    --------
    >>> kernel_grid(np.random.default_rng(0).normal(size=(5, 5, 3, 8))).size
    (162, 162)
    """
    weights = np.asarray(weights)
    if weights.ndim != 4:
        raise CnnconvError(f"kernels must be kh x kw x C_in x C_out, got shape {weights.shape}")
    kh, kw, c_in, c_out = weights.shape
    cells = []
    for o in range(c_out):
        k = weights[..., o]
        cells.append(_scale(k) if c_in == 3 else _scale(k.mean(axis=2)))
    return tile(cells, zoom or zoom_for(kh, kw))


def feature_map_grid(maps: np.ndarray, zoom: int | None = None) -> Image.Image:
    """The channels of one activation H×W×C as a grid of gray cells, each scaled on its own.

    Examples
    --------
    >>> feature_map_grid(np.zeros((12, 12, 6))).size
    (156, 105)
    """
    maps = np.asarray(maps)
    if maps.ndim == 2:
        maps = maps[..., None]
    if maps.ndim != 3:
        raise CnnconvError(f"feature maps must be H x W x C, got shape {maps.shape}")
    h, w, _ = maps.shape
    return tile([_scale(maps[..., c]) for c in range(maps.shape[2])], zoom or zoom_for(h, w))


def _signed(cell: np.ndarray) -> np.ndarray:
    """Scale one kernel to uint8 with 0 at mid-gray (128): white positive, black negative."""
    cell = np.asarray(cell, dtype=np.float64)
    peak = float(np.max(np.abs(cell))) if cell.size else 0.0
    if not math.isfinite(peak) or peak < 1e-12:
        return np.full(cell.shape, 128, dtype=np.uint8)
    return np.rint(128 + cell / peak * 127).astype(np.uint8)


def _centred(weights: np.ndarray, shape: tuple[int, int]) -> np.ndarray | None:
    """``weights`` zero-padded to ``shape``, centred (None if it does not fit)."""
    h, w = weights.shape
    if h > shape[0] or w > shape[1]:
        return None
    out = np.zeros(shape)
    top, left = (shape[0] - h) // 2, (shape[1] - w) // 2
    out[top : top + h, left : left + w] = weights
    return out


def nearest_bundled(kernel: np.ndarray, candidates=None) -> tuple[str, float, np.ndarray] | None:
    """The bundled kernel most like ``kernel`` by normalised correlation: (name, score, weights).

    The score is the cosine of the angle between the two kernels' weights (the normalised
    correlation at zero shift, ``sum(a·b) / (|a|·|b|)``, from -1 to 1). A bundled kernel
    smaller than ``kernel`` is compared zero-padded to its size (a 3x3 Sobel is the same
    operator on a 5x5 support); a larger one is left out. The best is the one of largest
    ``|score|``; a negative score means the learned kernel is the negated one (its name
    then starts with ``-``). The weights are not mean-subtracted first: a blur's constant part
    is what makes it a blur. None when no bundled kernel fits or ``kernel`` is all zeros.

    Examples
    --------
    >>> name, score, _ = nearest_bundled(np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]]))
    >>> name, round(score, 3)
    ('-sobel-x', -1.0)
    >>> nearest_bundled(np.ones((3, 3)))[:2]
    ('box3', 1.0)
    """
    kernel = np.asarray(kernel, dtype=np.float64)
    norm = float(np.linalg.norm(kernel))
    if norm < 1e-12 or not math.isfinite(norm):
        return None
    if candidates is None:
        from cnnconv.io.kernels import list_bundled

        candidates = [(k.name, k.effective()) for k in list_bundled() if np.ndim(k.weights) == 2]
    best = None
    for name, weights in candidates:
        padded = _centred(np.asarray(weights, dtype=np.float64), kernel.shape)
        if padded is None or np.linalg.norm(padded) < 1e-12:
            continue
        score = float(np.sum(kernel * padded) / (norm * np.linalg.norm(padded)))
        if best is None or abs(score) > abs(best[1]) + 1e-12:
            best = (name, score, padded)
    if best is None:
        return None
    name, score, padded = best
    return ("-" + name if score < 0 else name), score, (-padded if score < 0 else padded)


def kernel_sheet(weights: np.ndarray, layer: str = "layer 1", text: str = "", side: int = 72) -> Image.Image:
    """A labelled card per learned kernel, beside it the bundled kernel it most resembles.

    Each card reads ``{layer} · kernel {o}`` (``text``, the layer's spec, heads the sheet): the learned kernel enlarged (nearest
    neighbour) to about ``side`` pixels, 0 at mid-gray, white positive, black negative
    (three-channel kernels in colour, scaled jointly); next to it the bundled kernel of
    :func:`nearest_bundled` on the same scale with its name and score. Kernels of more than
    one input channel are compared by their mean over the channels.

    Shape
    -----
    ``weights`` kh×kw×C_in×C_out (HWIO); cards in rows of at most 4.

    Examples
    --------
    >>> w = np.zeros((3, 3, 1, 2)); w[:, :, 0, 0] = [[1, 0, -1]] * 3; w[1, 1, 0, 1] = 1
    >>> image = kernel_sheet(w)
    >>> image.mode, image.size
    ('RGB', (424, 174))
    """
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim != 4:
        raise CnnconvError(f"kernels must be kh x kw x C_in x C_out, got shape {weights.shape}")
    kh, kw, c_in, c_out = weights.shape
    zoom = max(1, round(side / max(kh, kw)))
    cw, ch = kw * zoom, kh * zoom
    font, small = _font(13), _font(11)
    card_w = max(2 * cw + 3 * 10, 200)
    card_h = 24 + ch + 40
    cols = min(c_out, 4)
    rows = math.ceil(c_out / cols)
    image = Image.new("RGB", (cols * card_w + (cols + 1) * 8, rows * card_h + (rows + 1) * 8 + 22), "white")
    draw = ImageDraw.Draw(image)
    heading = f"{layer} ({text})" if text else layer
    draw.text((8, 6), f"{heading}: learned kernels (left) beside the bundled kernel each most resembles "
                      "(gray 0, white +, black -)", fill="black", font=small)  # fmt: skip
    for o in range(c_out):
        k = weights[..., o]
        r, c = divmod(o, cols)
        x, y = 8 + c * (card_w + 8), 30 + r * (card_h + 8)
        draw.rectangle((x, y, x + card_w - 1, y + card_h - 1), outline=(170, 170, 170))
        draw.text((x + 8, y + 5), f"{layer} · kernel {o}", fill="black", font=font)
        if c_in == 3:
            learned = _scale(k)
        else:
            learned = np.repeat(_signed(k.mean(axis=2))[..., None], 3, axis=2)
        image.paste(Image.fromarray(learned.repeat(zoom, 0).repeat(zoom, 1), "RGB"), (x + 10, y + 24))
        draw.rectangle((x + 9, y + 23, x + 10 + cw, y + 24 + ch), outline=(110, 110, 110))
        match = nearest_bundled(k.mean(axis=2))
        if match is None:
            draw.text((x + 10, y + 30 + ch), "no bundled kernel fits", fill=(85, 85, 85), font=small)
            continue
        name, score, bundled = match
        gray = _signed(bundled)
        bx = x + 20 + cw
        image.paste(Image.fromarray(np.repeat(gray[..., None], 3, 2).repeat(zoom, 0).repeat(zoom, 1), "RGB"), (bx, y + 24))
        draw.rectangle((bx - 1, y + 23, bx + cw, y + 24 + ch), outline=(110, 110, 110))
        said = f"{name[1:]}, negated" if name.startswith("-") else name
        draw.text((x + 10, y + 30 + ch), f"most like {said}", fill="black", font=small)
        draw.text((x + 10, y + 44 + ch), f"normalised correlation {score:+.2f}", fill=(85, 85, 85), font=small)
    return image


def feature_map_sheet(maps: np.ndarray, title: str, zoom: int | None = None) -> Image.Image:
    """:func:`feature_map_grid` with ``title`` above it and each map's channel number on it.

    Examples
    --------
    >>> image = feature_map_sheet(np.zeros((12, 12, 6)), "layer 1: conv5x6")
    >>> image.size
    (156, 127)
    >>> feature_map_sheet(np.zeros((12, 12, 6)), "layer 1: conv5x6, a title wider than the grid").width > 156
    True
    """
    grid = feature_map_grid(maps, zoom)
    maps = np.asarray(maps)
    maps = maps[..., None] if maps.ndim == 2 else maps
    h, w, n = maps.shape
    z = zoom or zoom_for(h, w)
    font, small = _font(12), _font(10)
    width = max(grid.width, math.ceil(font.getlength(title)) + 2 * GAP)
    image = Image.new("RGB", (width, grid.height + 22), "white")
    image.paste(grid, (0, 22))
    draw = ImageDraw.Draw(image)
    draw.text((GAP, 5), title, fill="black", font=font)
    _, cols = grid_shape(n)
    if min(h, w) * z < 24:  # a label would hide most of a small map
        return image
    for i in range(n):
        r, c = divmod(i, cols)
        x, y = GAP + c * (w * z + GAP), 22 + GAP + r * (h * z + GAP)
        label = str(i)
        tw = draw.textlength(label, font=small)
        draw.rectangle((x, y, x + tw + 3, y + 11), fill=BACKGROUND)
        draw.text((x + 2, y), label, fill="white", font=small)
    return image


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 2.5, 5 × 10^k apart) covering [lo, hi].

    Examples
    --------
    >>> nice_ticks(0.12, 0.93)
    [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    >>> nice_ticks(3.0, 3.0)
    [2.6, 2.8, 3.0, 3.2, 3.4]
    """
    scale = max(abs(lo), abs(hi))
    if hi - lo <= 1e-9 * scale or hi - lo < 1e-12:  # one value (or nearly): give it room
        pad = scale * 0.1 if scale > 1e-9 else 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * 0.999)
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [float(f"{i * step:.12g}") for i in range(first, last + 1)]


def _font(size: int = 12):
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):  # Pillow without FreeType: the bitmap font
        return ImageFont.load_default()


def _label(value: float, step: float, percent: bool) -> str:
    if percent:
        value, step = value * 100, step * 100
    # as many decimals as the tick step needs, no more (0.25 -> 2, 20 -> 0)
    decimals = next((d for d in range(7) if abs(step * 10**d - round(step * 10**d)) < 1e-6), 6)
    text = f"{value:.{decimals}f}"
    return text + ("%" if percent else "")


def _panel(draw, box, title: str, series: dict[str, list[float]], percent: bool, font) -> None:
    left, top, right, bottom = box
    pl, pt, pr, pb = left + 58, top + 26, right - 14, bottom - 40  # plot area inside margins
    values = [v for ys in series.values() for v in ys if v is not None and math.isfinite(v)]
    n = max((len(ys) for ys in series.values()), default=0)
    yt = nice_ticks(min(values), max(values)) if values else [0.0, 1.0]
    xt = [t for t in nice_ticks(1, max(n, 1), count=min(max(n - 1, 1), 8)) if t == int(t) and 1 <= t <= max(n, 1)] or [1]
    x0, x1 = (0.5, 1.5) if n <= 1 else (1.0 - 0.03 * (n - 1), n + 0.03 * (n - 1))
    y0, y1 = yt[0], yt[-1]

    def px(x: float, y: float) -> tuple[float, float]:
        return pl + (x - x0) / (x1 - x0) * (pr - pl), pb - (y - y0) / (y1 - y0) * (pb - pt)

    draw.text(((pl + pr) / 2, top + 6), title, fill="black", font=font, anchor="mt")
    for t in yt:
        _, y = px(x0, t)
        draw.line([(pl, y), (pr, y)], fill=(225, 225, 225))
        draw.line([(pl - 5, y), (pl, y)], fill="black")
        draw.text((pl - 8, y), _label(t, yt[1] - yt[0] if len(yt) > 1 else 1.0, percent), fill="black", font=font, anchor="rm")
    for t in xt:
        x, _ = px(t, y0)
        draw.line([(x, pb), (x, pb + 5)], fill="black")
        draw.text((x, pb + 8), str(int(t)), fill="black", font=font, anchor="mt")
    draw.text(((pl + pr) / 2, bottom - 6), "epoch", fill="black", font=font, anchor="mb")
    draw.line([(pl, pt), (pl, pb), (pr, pb)], fill="black", width=1)
    for colour, ys in zip(COLOURS, series.values()):
        points = [px(i + 1, v) if v is not None and math.isfinite(v) else None for i, v in enumerate(ys)]
        for a, b in zip(points, points[1:]):
            if a is not None and b is not None:
                draw.line([a, b], fill=colour, width=2)
        for p in points:
            if p is not None:
                draw.ellipse([p[0] - 3, p[1] - 3, p[0] + 3, p[1] + 3], fill=colour)
    shown = [(name, colour) for (name, ys), colour in zip(series.items(), COLOURS) if ys]
    if shown:
        width = max(draw.textlength(name, font=font) for name, _ in shown) + 34
        box_h = 18 * len(shown) + 6
        drawn = [p for ys in series.values() for p in (px(i + 1, v) for i, v in enumerate(ys) if v is not None and math.isfinite(v))]
        corners = [(pr - width - 6, pt + 6), (pr - width - 6, pb - box_h - 6), (pl + 6, pt + 6), (pl + 6, pb - box_h - 6)]
        # the corner that hides the fewest data points
        lx, ly = min(corners, key=lambda c: sum(c[0] - 12 <= x <= c[0] + width + 12 and c[1] - 12 <= y <= c[1] + box_h + 12 for x, y in drawn))
        draw.rectangle([lx, ly, lx + width, ly + box_h], fill="white", outline=(160, 160, 160))
        for i, (name, colour) in enumerate(shown):
            y = ly + 12 + 18 * i
            draw.line([(lx + 6, y), (lx + 24, y)], fill=colour, width=2)
            draw.text((lx + 28, y), name, fill="black", font=font, anchor="lm")


def curves_image(
    loss: dict[str, list[float]], accuracy: dict[str, list[float]], size: tuple[int, int] = (960, 360)
) -> Image.Image:
    """Loss and accuracy per epoch, side by side, each with axes, ticks and a legend.

    ``loss`` and ``accuracy`` map a series name (``"train"``, ``"validation"``) to one
    value per epoch (accuracy as a fraction; drawn in percent). NaN values are left out.

    Examples
    --------
    >>> curves_image({"train": [1.0, 0.5]}, {"train": [0.5, 0.9], "validation": [0.4, 0.8]}).size
    (960, 360)
    """
    width, height = size
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = _font()
    _panel(draw, (0, 0, width // 2, height), "loss", loss, False, font)
    _panel(draw, (width // 2, 0, width, height), "accuracy", accuracy, True, font)
    return image


def save_png(image: Image.Image, path: str | Path) -> None:
    """Write ``image`` as a PNG, atomically."""
    from cnnconv.io.atomic import write_atomic

    write_atomic(path, lambda f: image.save(f, format="PNG"))


def first_conv_weights(network) -> np.ndarray | None:
    """The HWIO weights of a network's first convolution layer, or None if it has none."""
    found = first_conv(network)
    return None if found is None else found[2]


def first_conv(network) -> tuple[str, str, np.ndarray] | None:
    """(``"layer N"`` as ``cnnconv shape``'s table numbers it, the layer's text, HWIO weights)
    of the first convolution, or None."""
    for number, module in enumerate(network.modules, start=1):
        if module.spec.kind == "conv":
            return f"layer {number}", module.spec.text or "conv", module.params["weight"]
    return None


def save_training_plots(folder: str | Path, network, history: list[dict]) -> list[Path]:
    """Write ``kernels.png`` (the first convolution's kernels, if any) and ``curves.png``.

    ``kernels.png`` is :func:`kernel_sheet` (each learned kernel beside the bundled one it
    most resembles); ``curves.png`` the training and validation loss and accuracy.
    ``history`` is ``FitResult.history``: one dict per epoch with ``loss``, ``val_loss``,
    ``train_acc`` and ``val_acc``. ``folder`` is created if needed. Returns the paths written.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        from cnnconv.io.oserrors import describe

        raise CnnconvError(f"{folder}: cannot create the plots folder: {describe(exc)}") from None
    written = []
    first = first_conv(network)
    if first is not None:
        save_png(kernel_sheet(first[2], first[0], first[1]), folder / "kernels.png")
        written.append(folder / "kernels.png")
    keys = ("loss", "val_loss", "train_acc", "val_acc")
    series = {key: [entry.get(key) for entry in history] for key in keys}
    loss = {"train": series["loss"]}
    if any(v is not None for v in series["val_loss"]):
        loss["validation"] = series["val_loss"]
    curves = curves_image(loss, {"train": series["train_acc"], "validation": series["val_acc"]})
    save_png(curves, folder / "curves.png")
    written.append(folder / "curves.png")
    return written
