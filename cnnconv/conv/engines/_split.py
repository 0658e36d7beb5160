"""Run one valid correlation as row bands on two cores at once.

Every engine spends its time in NumPy ufuncs, ``np.fft`` and BLAS calls, which release the
GIL, so threads over disjoint bands of output rows run in parallel. Each band reads its own
input rows (overlapping the next band's by the kernel extent) and writes straight into its
rows of the one output array: no band result is copied and no input is duplicated. The
calling thread computes the first band and one pool thread per further band computes the
others; the pool lives for one call (creating it and its thread costs ~0.1 ms, measured in
BENCHMARKS.md "Row bands on two cores", which also gives the threshold below).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

from cnnconv.conv.engines._blas import single_threaded_blas

#: At most this many bands: the machine the thresholds were measured on has 2 cores.
MAX_BANDS = 2
#: Per engine, the outputs (Ho*Wo*channels) from which two bands beat one; below, the pool,
#: the thread hand-off and twice the per-strip set-up cost more than the halved work saves.
#: Measured at 5:50 UTC on the quiet 2-core machine (ms, one band / two, float32;
#: BENCHMARKS.md "Row bands on two cores"): direct 3x3 (4 MiB strips) 512² 0.55 / 0.55,
#: 1024² 2.3 / 1.4, 4096² 48 / 31; Toeplitz 5x5 512² 1.3 / 1.6, 1024² 6.0 / 4.2, 4096² 77 / 47; FFT 15x15
#: 512² 4.5 / 3.3, 4096² 190 / 110; im2col 3x3x8x16 512² 21.7 / 23.2, 1024² 76 / 50.
#: Separable passes gained only with 2 MiB strips (fewer, longer ufunc calls, so the two
#: threads wait less for the GIL): Gaussian 4096² 5x5 38 / 28, 15x15 205 / 111 (1 MiB
#: strips: 36 / 44, 61 / 67), 2048² 5x5 8.5 / 6.3, 31x31 24 / 26; so only from 2048².
SPLIT_MIN_OUTPUTS = {"banded": 1 << 20, "direct": 1 << 20, "toeplitz": 1 << 20, "fft": 1 << 18, "im2col": 1 << 23, "separable": 1 << 22}


def usable_cpus():
    """CPUs this process may run on (its affinity mask where the OS has one).

    >>> usable_cpus() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def band_count(ho, outputs, min_outputs):
    """How many row bands a result of ``ho`` rows and ``outputs`` values is computed in.

    >>> band_count(4096, 4096 * 4096, 1 << 20) in (1, 2), band_count(510, 510 * 510, 1 << 20)
    (True, 1)
    """
    if outputs < min_outputs:
        return 1
    return max(1, min(MAX_BANDS, usable_cpus(), ho))


def run_in_bands(run, xp, out, stride_h, extent_h, bands):
    """Fill ``out`` (Ho, ...) by ``run(xp_rows, out_rows)`` on ``bands`` bands of output rows.

    Output rows r0..r1-1 of a valid correlation with vertical stride ``stride_h`` and kernel
    extent ``extent_h`` (``dh*(kh-1)+1``) read input rows ``r0*stride_h`` to
    ``(r1-1)*stride_h + extent_h - 1``; each band gets exactly those rows as a view.
    ``run`` must write its whole ``out_rows`` and may raise: the first error is re-raised
    after every band has finished. OpenBLAS is held to one thread per band for the duration
    (two bands with two BLAS threads each would busy-wait on two cores).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(10.0)[:, None]
    >>> out = np.empty((8, 1))
    >>> def run(xr, orows):
    ...     orows[:] = xr[:-2] + xr[1:-1] + xr[2:]
    >>> run_in_bands(run, x, out, 1, 3, 2)[:, 0].tolist()
    [3.0, 6.0, 9.0, 12.0, 15.0, 18.0, 21.0, 24.0]
    """
    ho = out.shape[0]
    edges = [ho * i // bands for i in range(bands + 1)]
    jobs = [
        (xp[r0 * stride_h : (r1 - 1) * stride_h + extent_h], out[r0:r1])
        for r0, r1 in zip(edges[:-1], edges[1:])
        if r1 > r0
    ]
    if len(jobs) == 1:
        run(*jobs[0])
        return out
    with single_threaded_blas(), ThreadPoolExecutor(max_workers=len(jobs) - 1) as pool:
        futures = [pool.submit(run, *job) for job in jobs[1:]]
        try:
            run(*jobs[0])
        finally:
            for future in futures:
                future.exception()  # wait for every band before the buffers can go away
        for future in futures:
            future.result()
    return out
