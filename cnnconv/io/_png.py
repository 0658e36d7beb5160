"""PNG written fast: the Sub filter on every row and zlib's run-length strategy, deflated in parallel pieces.

Pillow's PNG writer picks a filter for every row by trying them all and compresses in one
thread: a 4096x4096 RGB picture took it 1.4 s at the fastest settings it offers, most of a
``cnnconv filter`` of that picture. This writer takes the settings OpenCV writes PNG with
by default (filter Sub, zlib level 1, run-length strategy), filters with NumPy, and
deflates the rows in pieces on threads, which the format allows as pigz does it: each
piece is a raw deflate stream ended on a byte boundary (a sync flush), so the pieces
joined are one deflate stream, framed by the zlib header and the Adler-32 of the whole.
The same picture takes 0.3 s on two cores, for a file within 1 % of OpenCV's size. The
pieces depend on the picture's size only, never on the thread count, so the bytes are the
same on every machine with the same deflate library (zlib-ng's when the ``large`` extra put
it there, else zlib's: :func:`deflate_library`). Decoders see an ordinary PNG (checked with Pillow
and libpng in the tests).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterator

import numpy as np

from cnnconv._threads import ordered_map

#: PNG colour type by channel count: gray, gray+alpha, RGB, RGBA.
_COLOUR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}
#: Filtered bytes per piece deflated on its own: large enough that the lost matches across
#: piece borders cost nothing measurable, small enough for two threads to share a picture.
PIECE_BYTES = 4 << 20
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: The zlib stream header for deflate with a 32 KiB window at the fastest level (FLEVEL 0).
_ZLIB_HEADER = b"\x78\x01"


def chunk(kind: bytes, data: bytes) -> bytes:
    """A PNG chunk: length, type, data, CRC-32 of type and data (the PNG specification's layout)."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def sub_filtered(array: np.ndarray) -> np.ndarray:
    """The picture's rows as PNG stores them with filter Sub: a filter-type byte, then byte differences.

    Each byte less the byte one pixel to its left (modulo 256; the first pixel as it is).
    16-bit samples are big-endian, as PNG stores them.

    Shape
    -----
    (H, W) or (H, W, C) samples in, (H, 1 + W·C·bytes) ``uint8`` out.

    >>> sub_filtered(np.array([[10, 12, 9]], np.uint8)).tolist()
    [[1, 10, 2, 253]]
    """
    h, w = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    samples = np.ascontiguousarray(array, dtype=">u2" if array.dtype == np.uint16 else np.uint8)
    pixel = channels * samples.itemsize
    rows = samples.view(np.uint8).reshape(h, w * pixel)
    out = np.empty((h, 1 + w * pixel), np.uint8)
    out[:, 0] = 1
    out[:, 1:1 + pixel] = rows[:, :pixel]
    np.subtract(rows[:, pixel:], rows[:, :-pixel], out=out[:, 1 + pixel:])  # uint8 wraps: modulo 256
    return out


def adler32_combine(first: int, second: int, second_length: int) -> int:
    """The Adler-32 of two byte strings joined, from each one's and the second's length.

    zlib's ``adler32_combine``, which Python's ``zlib`` module does not offer: the pieces
    are checksummed on their threads and the sums joined here.

    >>> a, b = b"row one", b"and row two"
    >>> adler32_combine(zlib.adler32(a), zlib.adler32(b), len(b)) == zlib.adler32(a + b)
    True
    """
    base = 65521
    rem = second_length % base
    low = first & 0xFFFF
    high = (rem * low) % base
    low += (second & 0xFFFF) + base - 1
    high += ((first >> 16) & 0xFFFF) + ((second >> 16) & 0xFFFF) + base - rem
    return (low % base) | ((high % base) << 16)


def deflate_library():
    """The deflate the pieces go through: zlib-ng's (the ``large`` extra) when installed, else zlib's.

    zlib-ng is zlib's API with SIMD inside: the same run-length deflate of a 4 MiB piece of a
    photo in ~25 ms instead of ~38 ms, to a stream of the same size, and its Adler-32 20x faster.
    The file then differs from zlib's in its bytes, never in its samples.
    """
    try:
        from zlib_ng import zlib_ng
    except ImportError:
        return zlib
    return zlib_ng


def _piece(part: tuple[np.ndarray, bool]) -> tuple[bytes, int, int]:
    """Rows filtered and deflated as a piece of the stream (the last one ended): the bytes, their
    Adler-32 and length. On its own thread: zlib lets go of the GIL as it compresses, and no
    filtered copy of the whole picture is ever held."""
    array, last = part
    deflate = deflate_library()
    rows = memoryview(sub_filtered(array).reshape(-1))
    compressor = deflate.compressobj(1, deflate.DEFLATED, -15, 8, deflate.Z_RLE)
    deflated = compressor.compress(rows) + compressor.flush(deflate.Z_FINISH if last else deflate.Z_SYNC_FLUSH)
    return deflated, deflate.adler32(rows), len(rows)


def encode_png(array: np.ndarray, chunks: bytes = b"", *, threads: int = 2) -> bytes:
    """PNG bytes of 8- or 16-bit gray, gray+alpha, RGB or RGBA samples; ``chunks`` go after the IHDR.

    The :func:`png_pieces` joined.

    ``chunks`` are whole PNG chunks (iCCP, pHYs, eXIf: :func:`cnnconv.io._metadata.png_chunks`).
    ``threads`` deflate the pieces; the bytes do not depend on it.

    Shape
    -----
    (H, W) gray, (H, W, 2) gray+alpha, (H, W, 3) RGB, (H, W, 4) RGBA; ``uint8`` or ``uint16``.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> x = np.arange(24, dtype=np.uint8).reshape(2, 4, 3)
    >>> back = Image.open(io.BytesIO(encode_png(x)))
    >>> back.mode, bool((np.asarray(back) == x).all())
    ('RGB', True)
    """
    return b"".join(png_pieces(array, chunks, threads=threads))


def png_pieces(array: np.ndarray, chunks: bytes = b"", *, threads: int = 2) -> Iterator[bytes]:
    """The PNG file of :func:`encode_png` as the pieces it is made of, to write one after the other.

    The samples are checked here; the pieces are then made as they are asked for, at most
    ``threads`` + 1 ahead of the writer, so a picture's compressed file is never held whole.

    >>> b"".join(png_pieces(np.zeros((1, 1), np.uint8)))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    if array.dtype not in (np.uint8, np.uint16) or array.ndim not in (2, 3) or \
            (array.ndim == 3 and array.shape[2] not in _COLOUR_TYPE):
        raise ValueError(f"PNG holds 8- or 16-bit samples in 1 to 4 channels, not {array.dtype} {array.shape}")
    return _pieces(array, chunks, threads)


def _pieces(array: np.ndarray, chunks: bytes, threads: int) -> Iterator[bytes]:
    h, w = array.shape[:2]
    channels = 1 if array.ndim == 2 else array.shape[2]
    header = struct.pack(">IIBBBBB", w, h, 8 * array.dtype.itemsize, _COLOUR_TYPE[channels], 0, 0, 0)
    yield _SIGNATURE + chunk(b"IHDR", header) + chunks
    row_bytes = 1 + w * channels * array.dtype.itemsize
    per_piece = max(1, PIECE_BYTES // row_bytes)  # whole rows: the split depends on the size only
    parts = [array[r:r + per_piece] for r in range(0, h, per_piece)]
    lasts = [i == len(parts) - 1 for i in range(len(parts))]
    checksum = None
    for i, (deflated, adler, length) in enumerate(ordered_map(_piece, zip(parts, lasts), threads)):
        # the Adler-32 of the whole goes after the last piece, when every piece's sum is known
        checksum = adler if checksum is None else adler32_combine(checksum, adler, length)
        if i == 0:
            deflated = _ZLIB_HEADER + deflated
        if lasts[i]:
            deflated += struct.pack(">I", checksum)
        yield chunk(b"IDAT", deflated)
    yield chunk(b"IEND", b"")


def find_chunk(data: bytes, kind: bytes) -> bytes | None:
    """The data of the first ``kind`` chunk of PNG bytes, or None; only the chunk headers are read.

    Pillow finds a chunk stored after the image data (an ``eXIf`` often is) only by decoding
    the whole image; this walk lets the reader skip that when another decoder does the work.

    >>> png = encode_png(np.zeros((1, 1), np.uint8), chunk(b"eXIf", b"MM\\0*"))
    >>> find_chunk(png, b"eXIf"), find_chunk(png, b"tEXt")
    (b'MM\\x00*', None)
    """
    at = 8
    while at + 8 <= len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        name = data[at + 4:at + 8]
        if name == kind:
            return bytes(data[at + 8:at + 8 + length])
        if name == b"IEND":
            return None
        at += 12 + length
    return None
