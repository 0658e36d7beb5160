"""Image semantics: what filtering or pooling does to a picture's samples (alpha, range,
depth, combining several kernels), as functions over arrays that the commands call."""
