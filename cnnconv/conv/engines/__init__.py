"""Fast implementations behind ``cnnconv.conv.dispatch`` (direct strips, banded and Toeplitz GEMMs, separable, FFT)."""

from cnnconv.conv.engines.banded import correlate_banded
from cnnconv.conv.engines.direct import correlate_direct
from cnnconv.conv.engines.fft import correlate_fft
from cnnconv.conv.engines.im2col import correlate_im2col
from cnnconv.conv.engines.separable import correlate_separable, rank1_factors
from cnnconv.conv.engines.toeplitz import correlate_toeplitz

__all__ = [
    "correlate_banded",
    "correlate_direct",
    "correlate_fft",
    "correlate_im2col",
    "correlate_separable",
    "correlate_toeplitz",
    "rank1_factors",
]
