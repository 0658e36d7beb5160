"""Everything that touches the disk or Pillow: images, arrays, kernel files, models, data sets.

The core (``conv``, ``pooling``, ``kernels``, ``shape``, ``image``, ``tiling``, ``nn``, ``animate``,
``dask``) never imports this package; the command line does.
"""
