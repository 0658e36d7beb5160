"""Fast implementations behind ``cnnconv.methods`` (direct strips, banded and Toeplitz GEMMs, separable, FFT)."""

from cnnconv.engines.banded import correlate_banded
from cnnconv.engines.direct import correlate_direct
from cnnconv.engines.fft import correlate_fft
from cnnconv.engines.im2col import correlate_im2col
from cnnconv.engines.separable import correlate_separable, rank1_factors
from cnnconv.engines.toeplitz import correlate_toeplitz

__all__ = [
    "correlate_banded",
    "correlate_direct",
    "correlate_fft",
    "correlate_im2col",
    "correlate_separable",
    "correlate_toeplitz",
    "rank1_factors",
]
