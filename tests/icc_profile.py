"""A real ICC v2 display profile with the Adobe RGB (1998) primaries, built from the ICC
specification's byte layout, for the tests that check a tagged photo stays tagged.

Pillow's ImageCms can only create sRGB, LAB and XYZ profiles; an Adobe RGB profile file
cannot ship with the tests under its vendor's licence, so it is assembled here
(header, tag table, desc/cprt/wtpt/rXYZ/gXYZ/bXYZ/rTRC/gTRC/bTRC).
"""

from __future__ import annotations

import struct

# D50-adapted colorants of Adobe RGB (1998) and the D50 white point, as ICC profiles store them
_COLORANTS = {"rXYZ": (0.60974, 0.31111, 0.01947), "gXYZ": (0.20528, 0.62567, 0.06087),
              "bXYZ": (0.14919, 0.06322, 0.74457), "wtpt": (0.96420, 1.0, 0.82491)}


def _s15(v: float) -> bytes:
    return struct.pack(">i", round(v * 65536))


def _pad(data: bytes) -> bytes:
    return data + bytes(-len(data) % 4)


def icc_profile(description: str = "Adobe RGB (1998)") -> bytes:
    """The profile's bytes; ``description`` is its 'desc' text (what viewers show as its name)."""
    text = description.encode("ascii") + b"\0"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(4 + 4 + 2 + 1 + 67)
    tags = {"desc": desc, "cprt": b"text" + bytes(4) + b"No copyright, test profile\0"}
    for name, xyz in _COLORANTS.items():
        tags[name] = b"XYZ " + bytes(4) + b"".join(_s15(v) for v in xyz)
    curve = b"curv" + bytes(4) + struct.pack(">IH", 1, 563)  # gamma 563/256 = 2.19921875
    for name in ("rTRC", "gTRC", "bTRC"):
        tags[name] = curve
    offset = 128 + 4 + 12 * len(tags)
    table, body = [], b""
    for name, data in tags.items():
        table.append(name.encode() + struct.pack(">II", offset + len(body), len(data)))
        body += _pad(data)
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"none" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
              + struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"APPL" + bytes(4) + bytes(4) + bytes(4)
              + bytes(8) + bytes(4) + _s15(0.9642) + _s15(1.0) + _s15(0.8249) + bytes(4) + bytes(16) + bytes(28))
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + b"".join(table) + body
