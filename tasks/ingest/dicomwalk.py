"""A fast path for reading a few header elements of a DICOM file: a plain element walk.

Ingestion reads about a dozen elements of every new file (UIDs, patient, geometry, the pixel
data's offset). pydicom builds a dataset for that and costs about half a millisecond per
file, as much as dcm2niix spends converting the file. This module walks the elements of the
common encodings (explicit or implicit VR little endian, the encodings of nearly every file
a scanner sends) and returns the raw bytes of the elements asked for, skipping nested
sequences of defined or undefined length.

It never guesses: anything it does not fully understand (no ``DICM`` preamble, big endian or
deflated data, a header cut in the middle of an element, a missing transfer syntax, an
unexpected VR for a numeric element) returns ``None`` and the caller reads the file with
pydicom instead. ``tests/tasks/ingest/test_dicomwalk.py`` checks that both paths give identical
results on every kind of file the tests and the simulator make.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

#: transfer syntaxes whose data set is implicit VR little endian
IMPLICIT_LE = "1.2.840.10008.1.2"
#: data sets not walked here (big endian, deflated): pydicom reads them
NOT_WALKED = {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}
#: explicit VRs with a 2-byte reserved field and a 4-byte length
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT",
            b"UV"}
#: explicit VRs with a 2-byte length
SHORT_VRS = {b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FD", b"FL", b"IS", b"LO", b"LT",
             b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"}
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_TAG = struct.Struct("<HH")
_EXPLICIT = struct.Struct("<HH2sH")


class _Stop(Exception):
    """The walk cannot go on (the caller falls back to pydicom)."""


class Element:
    """One element found: its VR (``None`` in implicit VR), value offset and length."""

    __slots__ = ("length", "offset", "vr")

    def __init__(self, vr: bytes | None, offset: int, length: int):
        self.vr, self.offset, self.length = vr, offset, length


class Header:
    """Elements of one file by tag, the transfer syntax and the raw bytes."""

    __slots__ = ("data", "elements", "syntax")

    def __init__(self, data: bytes, syntax: str, elements: dict[int, Element]):
        self.data, self.syntax, self.elements = data, syntax, elements

    def raw(self, tag: int) -> bytes | None:
        """The element's value bytes, or ``None`` when absent."""
        e = self.elements.get(tag)
        return None if e is None else self.data[e.offset:e.offset + e.length]

    def us(self, tag: int) -> int | None:
        """An unsigned short (US) element; ``_Stop`` when it is not one 2-byte value."""
        e = self.elements.get(tag)
        if e is None:
            return None
        if e.length != 2 or e.vr not in (None, b"US"):
            raise _Stop
        return _U16.unpack_from(self.data, e.offset)[0]


def _element_head(data: bytes, pos: int, explicit: bool) -> tuple[int, bytes | None, int, int]:
    """(tag, VR, length, value offset) of the element at ``pos``."""
    if pos + 8 > len(data):
        raise _Stop
    group, elem = _TAG.unpack_from(data, pos)
    tag = (group << 16) | elem
    if tag in (ITEM, ITEM_END, SEQ_END) or not explicit:
        return tag, None, _U32.unpack_from(data, pos + 4)[0], pos + 8
    vr = data[pos + 4:pos + 6]
    if vr in LONG_VRS:
        if pos + 12 > len(data):
            raise _Stop
        return tag, vr, _U32.unpack_from(data, pos + 8)[0], pos + 12
    if not (65 <= vr[0] <= 90 and 65 <= vr[1] <= 90):
        raise _Stop  # not a VR: damaged, or an encoding this walk does not know
    return tag, vr, _U16.unpack_from(data, pos + 6)[0], pos + 8


def _skip_undefined(data: bytes, pos: int, explicit: bool, end_tag: int) -> int:
    """Position after the delimiter ``end_tag`` of an undefined-length sequence or item."""
    while True:
        tag, _vr, length, pos = _element_head(data, pos, explicit)
        if tag == end_tag:
            return pos
        if length == UNDEFINED:
            # an item (ends with ITEM_END) or a nested sequence/UN value (ends with SEQ_END);
            # a UN value of undefined length is encoded in implicit VR
            pos = _skip_undefined(data, pos, explicit and _vr != b"UN",
                                  ITEM_END if tag == ITEM else SEQ_END)
        else:
            pos += length
        if pos > len(data):
            raise _Stop


def walk(data: bytes, wanted: Iterable[int]) -> Header | None:
    """Elements ``wanted`` (top-level tags) of a DICOM file's bytes, or ``None`` (use pydicom).

    Stops at the pixel data (its offset and length are recorded when wanted) or after the
    largest tag wanted. Meta elements (group 0002) are always recorded.
    """
    if len(data) < 132 or data[128:132] != b"DICM":
        return None
    wanted = set(wanted)
    last = max(wanted) if wanted else 0
    found: dict[int, Element] = {}
    try:
        pos = 132
        # file meta information: always explicit VR little endian
        while pos + 8 <= len(data) and _U16.unpack_from(data, pos)[0] == 0x0002:
            tag, vr, length, pos = _element_head(data, pos, True)
            if length == UNDEFINED:
                return None
            found[tag] = Element(vr, pos, length)
            pos += length
        ts = found.get(0x00020010)
        if ts is None or pos > len(data):
            return None
        syntax = data[ts.offset:ts.offset + ts.length].decode("ascii").strip("\x00 ")
        if syntax in NOT_WALKED:
            return None
        explicit = syntax != IMPLICIT_LE
        if explicit:
            return _walk_explicit(data, pos, wanted, last, syntax, found)
        while pos < len(data):
            tag, vr, length, pos = _element_head(data, pos, explicit)
            if tag in (ITEM, ITEM_END, SEQ_END):
                return None  # a delimiter at the top level: damaged
            if tag in wanted:
                found[tag] = Element(vr, pos, length)
            if tag == PIXEL_DATA or tag > last:
                break
            if length == UNDEFINED:
                pos = _skip_undefined(data, pos, explicit and vr != b"UN", SEQ_END)
            else:
                pos += length
            if pos > len(data):
                return None  # the header ends inside an element
    except (_Stop, struct.error, UnicodeDecodeError):
        return None
    return Header(data, syntax, found)


def _walk_explicit(data: bytes, pos: int, wanted: set[int], last: int, syntax: str,
                   found: dict[int, Element]) -> Header | None:
    """The top-level walk of :func:`walk` for explicit VR little endian, in one loop (one
    ``unpack`` per element: this loop runs some 70 times per file)."""
    n = len(data)
    unpack = _EXPLICIT.unpack_from
    u32 = _U32.unpack_from
    try:
        while pos < n:
            if pos + 8 > n:
                return None
            group, elem, vr, length = unpack(data, pos)
            tag = (group << 16) | elem
            if vr in LONG_VRS:
                if pos + 12 > n:
                    return None
                length = u32(data, pos + 8)[0]
                value = pos + 12
            elif vr in SHORT_VRS:
                value = pos + 8
            else:
                return None  # a delimiter at the top level, an unknown VR: damaged
            if tag in wanted:
                found[tag] = Element(vr, value, length)
            if tag == PIXEL_DATA or tag > last:
                break
            if length == UNDEFINED:
                pos = _skip_undefined(data, value, vr != b"UN", SEQ_END)
            else:
                pos = value + length
            if pos > n:
                return None  # the header ends inside an element
    except (_Stop, struct.error):
        return None
    return Header(data, syntax, found)
