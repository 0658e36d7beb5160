"""Small labelled image folders drawn in the tests: stripes whose direction is the class."""

from __future__ import annotations

import numpy as np
from PIL import Image

CLASSES = ("horizontal", "vertical", "diagonal")


def make_stripes(root, per_class=12, size=32, seed=0, mode="L"):
    """``root/<class>/NNN.png``: noisy stripes, horizontal, vertical or diagonal, of random period and phase."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    for name in CLASSES:
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            period, phase = rng.uniform(4, 9), rng.uniform(0, 2 * np.pi)
            axis = {"horizontal": yy, "vertical": xx, "diagonal": (xx + yy) / np.sqrt(2)}[name]
            wave = 0.5 + 0.4 * np.sin(2 * np.pi * axis / period + phase) + rng.normal(0, 0.08, (size, size))
            pixels = np.clip(wave * 255, 0, 255).astype(np.uint8)
            if mode == "RGB":
                tint = rng.uniform(0.5, 1.0, 3)
                pixels = np.clip(pixels[..., None] * tint, 0, 255).astype(np.uint8)
            Image.fromarray(pixels, mode).save(root / name / f"{i:03d}.png")
    return root
