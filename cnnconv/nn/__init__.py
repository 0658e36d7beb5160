"""A small CNN in NumPy: layers as pure forward/backward functions, losses, optimisers, training."""
