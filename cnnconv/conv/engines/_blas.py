"""Run a block of many small GEMMs with OpenBLAS limited to one thread.

The Toeplitz and im2col engines issue one GEMM per row strip, hundreds per image. OpenBLAS
splits each across its threads and busy-waits at the end of every call; when another process
holds a core, each call waits for a time slice. Measured on this 2-core machine with other jobs
running (2048x2048 float32, Toeplitz 5x5 / 7x7 / 15x15): 2 BLAS threads 133-150 / 118-574 /
226-883 ms, 1 thread 23-45 / 35-62 / 92-166 ms; with less load 1 thread was still as fast
(23.8 against 28.6 ms, BENCHMARKS.md "BLAS threads"). numpy has no API for this, so the
OpenBLAS it loaded is found in /proc/self/maps; elsewhere (MKL, Accelerate) nothing changes.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools

_NAMES = (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "64_"), ("openblas", ""))


@functools.lru_cache(maxsize=1)
def _openblas_thread_functions():
    """(get, set) of the loaded OpenBLAS's thread count, or None; looked up once per process."""
    try:
        with open("/proc/self/maps") as fh:
            paths = {ln.split()[-1] for ln in fh if "openblas" in ln.lower()}
    except OSError:
        return None
    for path in sorted(p for p in paths if p.startswith("/") and ".so" in p):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in _NAMES:
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and put is not None:
                return get, put
    return None


@contextlib.contextmanager
def single_threaded_blas():
    """Within the block OpenBLAS uses one thread; the previous count is restored after.

    >>> with single_threaded_blas():
    ...     pass
    """
    funcs = _openblas_thread_functions()
    if funcs is None:
        yield
        return
    get, put = funcs
    before = get()
    put(1)
    try:
        yield
    finally:
        put(before)
