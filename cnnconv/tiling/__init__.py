"""Tile by tile: a correlation or a pooling computed one output tile at a time, each from the
window of the image it reads (its halo from the image, its border from the boundary rule),
equal to the whole-image result. The plan is integer arithmetic (:mod:`cnnconv.shape.tiles`);
this package fetches the windows from anything that slices like an array (a NumPy array, a
memory map, a Zarr array, a Dask array) and computes them.

>>> import numpy as np
>>> from cnnconv.tiling import correlate_tiled
>>> x = np.arange(36.0).reshape(6, 6)
>>> y = correlate_tiled(x, np.ones((3, 3)), mode="same", boundary="wrap", tile=4)
>>> from cnnconv.conv import correlate
>>> bool((y == correlate(x, np.ones((3, 3)), mode="same", boundary="wrap")).all())
True
"""

from __future__ import annotations

from cnnconv._lazy import lazy_exports

_EXPORTS = {
    "gather": "cnnconv.tiling.windows",
    "ConvTiles": "cnnconv.tiling.compute",
    "PoolTiles": "cnnconv.tiling.compute",
    "conv_tiles": "cnnconv.tiling.compute",
    "pool_tiles": "cnnconv.tiling.compute",
    "correlate_tiled": "cnnconv.tiling.compute",
    "pool_tiled": "cnnconv.tiling.compute",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports("cnnconv.tiling", _EXPORTS)
