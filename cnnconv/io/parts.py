"""Pictures read and written a part at a time, for images larger than ``--max-memory``.

Inputs that can be read in parts: ``.npy`` (memory-mapped), Zarr stores
(:mod:`cnnconv.io.zarr_store`) and TIFF/BigTIFF, tiled or in strips (through ``tifffile``'s
Zarr view, which reads only the tiles a slice touches; the ``large`` extra). Outputs written
as they are computed: ``.npy`` (header, then the rows in order), Zarr (band by band into
its chunks) and tiled BigTIFF (``tifffile`` takes the tiles from a generator), each to a
temporary file or directory renamed into place (:mod:`cnnconv.io.atomic`). PNG and JPEG
are compressed as one stream and cannot be read in parts: an image of those that does not
fit is refused with the command that converts it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnconv.errors import CnnconvError

IN_PARTS = (".npy", ".zarr", ".tif", ".tiff")
OUT_PARTS = IN_PARTS
#: Of those, the arrays: their numbers are computed as arrays', not as an image's samples.
ARRAY_PARTS = (".npy", ".zarr")
#: Rows and columns of a tile of a streamed TIFF (the bands are cut into rows of tiles).
TILE = 256
_LARGE = "pip install 'cnnconv[large]'"


def machine_memory() -> int | None:
    """Physical memory in bytes, or None where the system does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_budget() -> int | None:
    """``--max-memory``'s default: half the machine's memory (None: no limit known)."""
    total = machine_memory()
    return None if total is None else total // 2


@dataclass(frozen=True)
class Header:
    """An input's shape and sample type, read from its header alone."""

    shape: tuple
    dtype: np.dtype


def read_header(path: str) -> Header | None:
    """The shape and dtype of a picture or array from its header, or None when that is unknown.

    >>> import tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "a.npy"); np.save(p, np.zeros((3, 4), np.uint16))
    >>> read_header(p)
    Header(shape=(3, 4), dtype=dtype('uint16'))
    """
    suffix = Path(path).suffix.lower()
    try:
        if suffix == ".npy":
            a = np.load(path, mmap_mode="r")
            return Header(tuple(a.shape), a.dtype)
        if suffix == ".zarr":
            from cnnconv.io.zarr_store import open_store

            a = open_store(path)
            return Header(tuple(a.shape), np.dtype(a.dtype))
        if suffix in (".tif", ".tiff"):
            try:
                import tifffile
            except ImportError:
                return None
            with tifffile.TiffFile(path) as tif:
                series = tif.series[0]
                shape, axes = tuple(series.shape), series.axes
            if axes == "SYX":  # planar: one plane a channel, read as (H, W, C) like the rest
                shape = shape[1:] + shape[:1]
            elif axes not in ("YX", "YXS"):
                return None  # pages or stacks: the reader proper reads it (or says why not)
            return Header(shape, np.dtype(series.dtype))
        import warnings

        from PIL import Image

        # the header only: Pillow's decompression-bomb warning is the reader's to turn into its message
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            im = Image.open(path)
        with im:
            bands = len(im.getbands())
            return Header((im.height, im.width) + ((bands,) if bands > 1 else ()), np.dtype(np.uint8))
    except Exception:  # the reader proper says what is wrong with the file
        return None


def working_set(header: Header, out_dtype, outputs: int) -> int:
    """Bytes the in-memory path holds for an input: its samples, a decoded copy and the outputs.

    >>> working_set(Header((1000, 1000, 3), np.dtype(np.uint8)), np.uint8, 1)
    9000000
    """
    count = int(np.prod(header.shape))
    out = np.dtype(out_dtype if out_dtype is not None else np.float64).itemsize
    return 2 * count * header.dtype.itemsize + outputs * count * out


class AsType:
    """An array-like whose slices are ``source``'s, converted to ``dtype`` and checked finite (``name``: for messages).

    >>> a = AsType(np.arange(6, dtype=np.uint8).reshape(2, 3), np.float64, "a.npy")
    >>> a.shape, a.dtype, a[1:, :2].tolist()
    ((2, 3), dtype('float64'), [[3.0, 4.0]])
    """

    def __init__(self, source, dtype, name: str) -> None:
        self.source, self.dtype, self.name = source, np.dtype(dtype), name
        self.shape, self.ndim = tuple(source.shape), len(source.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        part = np.asarray(self.source[key]).astype(self.dtype)
        if self.dtype.kind == "f" and not np.isfinite(part).all():
            raise CnnconvError(f"{self.name}: {int(np.count_nonzero(~np.isfinite(part)))} NaN or infinite values "
                               "in the rows being read; replace them with numbers first")
        return part


class OpenedLazily:
    """:func:`open_in_parts` of ``path`` (as ``dtype`` when given), opened at its first slice in each process.

    It pickles as its path alone, so a band computed on another machine (a cluster worker
    with the same files) opens the file there.

    >>> import pickle, tempfile
    >>> p = os.path.join(tempfile.mkdtemp(), "a.npy"); np.save(p, np.arange(6, dtype=np.uint8).reshape(2, 3))
    >>> a = pickle.loads(pickle.dumps(OpenedLazily(p, read_header(p), np.float64)))
    >>> a.shape, a[1:, 1:].tolist()
    ((2, 3), [[4.0, 5.0]])
    """

    def __init__(self, path: str, header: Header, dtype=None) -> None:
        self.path, self.as_dtype = path, None if dtype is None else np.dtype(dtype)
        self.shape, self.ndim = tuple(header.shape), len(header.shape)
        self.dtype = self.as_dtype or np.dtype(header.dtype)
        self._opened = None

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        if self._opened is None:
            source = open_in_parts(self.path)
            self._opened = source if self.as_dtype is None else AsType(source, self.as_dtype, self.path)
        return self._opened[key]

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_opened": None}


class ChunkRows:
    """An array-like over a chunked ``source`` (a TIFF's tiles or strips, a Zarr store's chunks)
    that reads whole rows of chunks and keeps the last few.

    A band of output rows is often lower than a row of tiles (a band reads about a million
    samples; a 32,768-pixel-wide TIFF's band is 32 rows, its tiles 256): read alone, each band
    would decode its tiles' whole rows again, eight times over. Here a row of chunks is decoded
    once and the bands cut from it. The bands are read in order, two at a time, and a band's
    halo lies in the row of chunks before its own: the last three rows read are kept (with
    two, the threads' reads evict each other's rows and decode them again).

    >>> a = ChunkRows(np.arange(40).reshape(10, 4), 3)
    >>> a[2:5, 1:3].tolist(), a.reads
    ([[9, 10], [13, 14], [17, 18]], 2)
    """

    KEPT = 3

    def __init__(self, source, rows: int) -> None:
        import threading
        from collections import OrderedDict

        self.source, self.rows = source, max(1, int(rows))
        self.shape, self.ndim, self.dtype = tuple(source.shape), len(source.shape), np.dtype(source.dtype)
        self.reads = 0
        self._kept: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.shape[0]

    def _chunk_row(self, k: int) -> np.ndarray:
        with self._lock:  # the bands' threads share the rows read (tifffile reads one segment at a time anyway)
            if k in self._kept:
                self._kept.move_to_end(k)
                return self._kept[k]
            block = np.asarray(self.source[k * self.rows:(k + 1) * self.rows])
            self.reads += 1
            self._kept[k] = block
            if len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)
            return block

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        first, rest = key[0], key[1:]
        if isinstance(first, slice) and first.step in (None, 1):
            start, stop, _ = first.indices(self.shape[0])
            return self._rows(start, max(start, stop))[(slice(None),) + rest]
        picked = np.arange(self.shape[0])[first]  # a row, a strided or reversed slice: the rows it covers
        low = int(picked.min()) if picked.size else 0
        high = int(picked.max()) + 1 if picked.size else 0
        return self._rows(low, high)[(picked - low,) + rest]

    def _rows(self, start: int, stop: int) -> np.ndarray:
        if stop <= start:
            return np.empty((0,) + self.shape[1:], self.dtype)
        parts = [self._chunk_row(k)[max(start - k * self.rows, 0):stop - k * self.rows]
                 for k in range(start // self.rows, (stop - 1) // self.rows + 1)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


def open_in_parts(path: str):
    """An array-like over ``path`` that reads only what a slice asks for."""
    suffix = Path(path).suffix.lower()
    if suffix in ARRAY_PARTS:
        if suffix == ".npy":
            a = np.load(path, mmap_mode="r")
        else:
            from cnnconv.io.zarr_store import open_store

            a = open_store(path)
        if np.dtype(a.dtype).kind not in "uif" or a.ndim not in (2, 3):
            raise CnnconvError(f"{path}: a streamed array must be (H, W) or (H, W, C) numbers, got {a.dtype} "
                               f"{a.shape}")
        return a if suffix == ".npy" else ChunkRows(a, a.chunks[0])
    try:
        import tifffile
        import zarr
    except ImportError:
        raise CnnconvError(f"{path}: reading a TIFF in parts needs tifffile and zarr: {_LARGE}") from None
    direct = TiffChunkRows.of(path)
    if direct is not None:
        return ChunkRows(direct, direct.rows)
    store = tifffile.imread(path, aszarr=True)
    z = zarr.open(store, mode="r")
    if not hasattr(z, "shape"):
        z = z["0"]  # a pyramid: the full-resolution level
    if read_header(path).shape != tuple(z.shape):  # planar (C, H, W): its channels moved last
        return ChunkRows(SamplesLast(z), z.chunks[1])
    return ChunkRows(z, z.chunks[0])


class SamplesLast:
    """A planar picture's (C, H, W) array seen as (H, W, C), as the bands read it.

    >>> a = SamplesLast(np.arange(24).reshape(2, 3, 4))
    >>> a.shape, a[1:2, 0:2].tolist()
    ((3, 4, 2), [[[4, 16], [5, 17]]])
    """

    def __init__(self, planes) -> None:
        self.planes = planes
        self.shape = tuple(planes.shape[1:]) + (planes.shape[0],)
        self.ndim, self.dtype = 3, np.dtype(planes.dtype)

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        return np.moveaxis(np.asarray(self.planes[(slice(None),) + key[:2]]), 0, -1)[(Ellipsis,) + key[2:]]


class TiffChunkRows:
    """A plain TIFF page's rows of tiles (or strips), read and decoded through tifffile's own
    segment reader, for :class:`ChunkRows`.

    tifffile's Zarr view reads any region of any TIFF, but through Zarr's per-chunk machinery:
    1.6 s for the 16,384 tiles of a 1-gigapixel picture, 1.0 s here. A row of tiles is one run
    of segments, read as one (``FileHandle.read_segments``), each tile decoded by the page's own
    decoder (``TiffPage.decode``: any compression and predictor tifffile knows); uncompressed
    tiles one after the other are one read and one copy. Only a first page of
    interleaved samples (planar configuration 1, no depth) whose shape is its series' is read
    so; anything else goes through the Zarr view. One file handle: :class:`ChunkRows` reads
    one row of tiles at a time.
    """

    def __init__(self, tif, page, shape: tuple) -> None:
        self._tif, self._page, self.shape = tif, page, tuple(shape)
        self.ndim, self.dtype = len(self.shape), np.dtype(page.dtype)
        self._file_dtype = self.dtype.newbyteorder(tif.byteorder)
        self.rows = int(page.chunks[0])
        self._width = int(page.chunks[1]) if page.is_tiled else self.shape[1]
        self._across = -(-self.shape[1] // self._width)

    @classmethod
    def of(cls, path: str) -> "TiffChunkRows | None":
        """The reader of ``path``'s first page, or None when it is not such a plain page."""
        import tifffile

        try:
            tif = tifffile.TiffFile(path)
        except Exception:  # noqa: BLE001 - the Zarr view (and then the reader proper) says what is wrong
            return None
        try:
            page, series = tif.pages[0], tif.series[0]
            shape = tuple(series.shape)
            plain = (int(page.planarconfig) == 1 and page.shaped[:2] == (1, 1) and len(shape) in (2, 3)
                     and shape[:2] == (page.imagelength, page.imagewidth) and series.levels[0].pages[0] is page and (len(shape) == 2) == (page.samplesperpixel == 1)
                     and len(page.dataoffsets) == -(-shape[0] // int(page.chunks[0])) * (
                         -(-shape[1] // int(page.chunks[1])) if page.is_tiled else 1))
        except Exception:  # noqa: BLE001
            plain = False
        if not plain:
            tif.close()
            return None
        return cls(tif, page, shape)

    def __getitem__(self, key):
        """Rows ``k * rows`` to ``(k + 1) * rows`` (``key`` a slice of whole rows of tiles, as ChunkRows asks)."""
        start, stop, _ = key.indices(self.shape[0])
        k = start // self.rows
        height = min(self.rows, self.shape[0] - k * self.rows)
        block = np.empty((height, self._across * self._width) + self.shape[2:], self.dtype)
        first = k * self._across
        page, fh = self._page, self._tif.filehandle
        offsets = page.dataoffsets[first:first + self._across]
        counts = page.databytecounts[first:first + self._across]
        tile_bytes = self.rows * self._width * math.prod(self.shape[2:]) * self.dtype.itemsize
        if (int(page.compression) == 1 and int(page.predictor) == 1 and page.is_tiled and all(
                c == tile_bytes for c in counts) and all(b - a == tile_bytes for a, b in zip(offsets, offsets[1:]))):
            # uncompressed tiles one after the other: one read, laid out by one transposing copy
            fh.seek(offsets[0])
            raw = fh.read(tile_bytes * self._across)
            tiles = np.frombuffer(raw, self._file_dtype).reshape(
                (self._across, self.rows, self._width) + self.shape[2:])
            block.reshape((height, self._across, self._width) + self.shape[2:])[:] = tiles[:, :height].swapaxes(0, 1)
        else:
            for data, index in fh.read_segments(offsets, counts, indices=range(first, first + self._across)):
                decoded, _, _ = page.decode(data, index)
                column = (index - first) * self._width
                tile = decoded.reshape(decoded.shape[1:3] + self.shape[2:])
                block[:, column:column + tile.shape[1]] = tile[:height]
        return block[start - k * self.rows:stop - k * self.rows, :self.shape[1]]


def refuse_whole(path: str, need: int, budget: int) -> CnnconvError:
    """The error for a picture that must be decoded whole and does not fit ``budget``."""
    return CnnconvError(
        f"{path}: decoding it whole needs about {need / 2**20:.0f} MB, over --max-memory {budget / 2**20:.0f} MB, "
        "and its format cannot be read in parts; convert it to a tiled TIFF "
        f"(vips tiffsave {Path(path).name} big.tif --tile --bigtiff) or raise --max-memory")


def tile_rows(bands, shape: tuple, dtype):
    """The rows of ``bands`` (arrays of whole rows of an image of ``shape``, top to bottom) in
    blocks of :data:`TILE` rows, the last one fewer; a block is reused once the next is asked for.

    >>> [b[:, 0].tolist() for b in tile_rows([np.arange(300)[:, None], np.arange(300, 600)[:, None]], (600, 1), int)]
    ... # doctest: +ELLIPSIS
    [[0, 1, ..., 255], [256, ..., 511], [512, ..., 599]]
    """
    block = np.empty((TILE,) + tuple(shape[1:]), dtype)
    filled = 0
    for band in bands:
        band, taken = np.asarray(band), 0
        while taken < len(band):
            n = min(TILE - filled, len(band) - taken)
            block[filled:filled + n] = band[taken:taken + n]
            filled, taken = filled + n, taken + n
            if filled == TILE:
                yield block
                filled = 0
    if filled:
        yield block[:filled]


def write_in_parts(path: str, shape: tuple, dtype, bands) -> None:
    """Write the bands (arrays of whole rows, top to bottom) of an image of ``shape`` to ``path``.

    ``.npy``: the header, then each band's bytes. Zarr: each band into its chunks
    (:func:`cnnconv.io.zarr_store.write_store`). TIFF: a tiled BigTIFF of
    :data:`TILE`-square tiles, the bands (of any heights) cut into rows of tiles.
    """
    from cnnconv.io.atomic import write_atomic

    dtype = np.dtype(dtype)
    suffix = Path(path).suffix.lower()
    if suffix == ".zarr":
        from cnnconv.io.zarr_store import write_store

        write_store(path, shape, dtype, bands)
        return
    if suffix == ".npy":
        def write(f):
            np.lib.format.write_array_header_2_0(
                f, {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": tuple(shape)})
            for band in bands:
                f.write(np.ascontiguousarray(band, dtype=dtype).data)
    elif suffix in (".tif", ".tiff"):
        try:
            import tifffile
        except ImportError:
            raise CnnconvError(f"{path}: writing a TIFF in parts needs tifffile: {_LARGE}") from None

        def tiles():
            for band in tile_rows(bands, shape, dtype):
                for c in range(0, shape[1], TILE):
                    tile = band[:, c:c + TILE]
                    if tile.shape[:2] != (TILE, TILE):
                        full = np.zeros((TILE, TILE) + tile.shape[2:], dtype)
                        full[:tile.shape[0], :tile.shape[1]] = tile
                        tile = full
                    yield tile

        channels = shape[2] if len(shape) == 3 else 1
        photometric = "rgb" if channels in (3, 4) else "minisblack"
        extra = {"extrasamples": ["unassalpha"]} if channels in (2, 4) else {}

        def write(f):
            # a handle from os.fdopen is named by its descriptor, which tifffile cannot split as a path
            f = tifffile.FileHandle(f, mode="wb", name=Path(path).name)
            tifffile.imwrite(f, data=tiles(), shape=tuple(shape), dtype=dtype, tile=(TILE, TILE), bigtiff=True,
                             photometric=photometric, **extra)
    else:
        raise CnnconvError(f"{path}: a streamed output must be .npy, .zarr or .tif (written as computed), "
                           f"not {suffix}")
    write_atomic(path, write)
