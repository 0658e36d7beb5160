"""Kernels: the :class:`Kernel` record, the parsers for kernel text, libvips ``.mat`` files
and inline matrices, and the parametric kernels (``gaussian:sigma=2``, ``box:7``, ...).

Reading a kernel *file* or a bundled name is :mod:`cnnconv.io.kernels`; everything here
works on text and numbers.

>>> from cnnconv.kernels import parse_inline
>>> parse_inline("1,2,1").weights.tolist()
[[1.0, 2.0, 1.0]]
"""

from __future__ import annotations

from cnnconv._lazy import lazy_exports

# name -> module that defines it, imported on first use (PEP 562), so that importing one
# module of the package does not load the others.
_EXPORTS = {
    "PARAMETRIC_FORMS": "cnnconv.kernels.parametric",
    "box": "cnnconv.kernels.parametric",
    "dog": "cnnconv.kernels.parametric",
    "gaussian": "cnnconv.kernels.parametric",
    "is_parametric": "cnnconv.kernels.parametric",
    "log": "cnnconv.kernels.parametric",
    "parse_parametric": "cnnconv.kernels.parametric",
    "closest_name": "cnnconv.kernels.parsers",
    "kernel_info": "cnnconv.kernels.parsers",
    "parse_inline": "cnnconv.kernels.parsers",
    "parse_kernel_text": "cnnconv.kernels.parsers",
    "parse_vips_mat": "cnnconv.kernels.parsers",
    "Kernel": "cnnconv.kernels.record",
}

__all__ = list(_EXPORTS)

__getattr__, __dir__ = lazy_exports("cnnconv.kernels", _EXPORTS)
