"""The named kernels, as data files (installed as ``cnnconv._kernels``; see README.md here)."""
