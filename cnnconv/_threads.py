"""Work on a few threads, in order and a few items ahead: the picture bands and the PNG pieces.

NumPy's loops and zlib let go of the GIL, so two threads keep two cores busy. ``pool.map``
would submit every item at once and hold every result until it is taken: a writer slower than
the threads would then have every band's samples (or every deflated piece) queued in memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor


def ordered_map(function: Callable, items: Iterable, threads: int) -> Iterator:
    """``function(item)`` of every item, in order, computed on ``threads`` threads, ``threads + 1`` ahead at most.

    >>> list(ordered_map(lambda n: n * n, range(6), 2))
    [0, 1, 4, 9, 16, 25]
    """
    if threads <= 1:
        yield from map(function, items)
        return
    with ThreadPoolExecutor(threads) as pool:
        ahead: deque = deque()
        for item in items:
            ahead.append(pool.submit(function, item))
            if len(ahead) > threads:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()
