"""Image semantics: what filtering or pooling does to a picture's samples (alpha, range,
depth, combining several kernels), as functions over arrays that the commands call.

:func:`filter_image` and :func:`pool_image` take the samples of a picture (H×W or
H×W×C, any integer or float type) and frozen settings, and return the output samples
with a report of the cast; ``cnnconv filter`` and ``cnnconv pool`` read a file, call
them and write what they return.

>>> import numpy as np
>>> from cnnconv.image import FilterSettings, filter_image
>>> from cnnconv.kernels import Kernel
>>> (out,) = filter_image(np.full((3, 3), 7, np.uint8), FilterSettings((Kernel("box", np.ones((3, 3)) / 9),)))
>>> out.samples[1, 1], out.samples.dtype
(np.uint8(7), dtype('uint8'))
"""

from __future__ import annotations

from cnnconv._lazy import lazy_exports

# name -> module that defines it, imported on first use (PEP 562)
_EXPORTS = {
    "split_alpha": "cnnconv.image.alpha",
    "weighted": "cnnconv.image.alpha",
    "ImageOutput": "cnnconv.image.samples",
    "effective_kernels": "cnnconv.image.filtering",
    "filter_image": "cnnconv.image.filtering",
    "kernel_for": "cnnconv.image.filtering",
    "pool_image": "cnnconv.image.pooling",
    "SampleReport": "cnnconv.image.samples",
    "to_samples": "cnnconv.image.samples",
    "FilterSettings": "cnnconv.image.settings",
    "GEOMETRY_FIELDS": "cnnconv.image.settings",
    "Geometry": "cnnconv.image.settings",
    "PoolSettings": "cnnconv.image.settings",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports("cnnconv.image", _EXPORTS)
