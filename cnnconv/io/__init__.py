"""Everything that touches the disk or Pillow: images, arrays, kernel files, models, data sets.

The core (``cnnconv.conv.correlation``, ``pool``, ``shapes``, ``kernels``, ``nn``) never imports this
package; the command line does.
"""
