"""Fast implementations behind ``cnnconv.methods`` (direct strips, Toeplitz GEMM, separable, FFT)."""
