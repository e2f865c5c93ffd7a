"""The Qt resource (.rcc) reader, on bundles hand-built byte by byte from the documented layout."""

from __future__ import annotations

import struct
import zlib

import pytest

from qtbench.data.rcc import RccError, RccFile, list_entries, read_file

RAW = b"hello, raw entry"
PACKED = b"zlib entry " * 50


def _name(text: str) -> bytes:
    # u16 length in UTF-16 units, u32 hash (the reader ignores it), UTF-16BE text
    return struct.pack(">HI", len(text), 0) + text.encode("utf-16-be")


def build_rcc(version: int = 3, zstd: bool = False) -> bytes:
    """Tree: / -> a.txt (raw), sub/ -> b.bin (zlib, or flagged zstd)."""
    names = b""
    offs = {}
    for n in ("a.txt", "sub", "b.bin"):
        offs[n] = len(names)
        names += _name(n)
    data = struct.pack(">I", len(RAW)) + RAW
    b_off = len(data)
    packed = struct.pack(">I", len(PACKED)) + zlib.compress(PACKED)
    data += struct.pack(">I", len(packed)) + packed

    def directory(name_off: int, count: int, first: int) -> bytes:
        node = struct.pack(">IHII", name_off, 0x02, count, first)
        return node + (b"\0" * 8 if version >= 2 else b"")  # v2+: u64 modification time

    def file(name_off: int, flags: int, data_off: int) -> bytes:
        node = struct.pack(">IHHHI", name_off, flags, 0, 0, data_off)
        return node + (b"\0" * 8 if version >= 2 else b"")

    # Nodes: 0 root (children 1..2), 1 a.txt, 2 sub/ (child 3), 3 b.bin
    tree = (directory(0, 2, 1) + file(offs["a.txt"], 0, 0) + directory(offs["sub"], 1, 3)
            + file(offs["b.bin"], 0x04 if zstd else 0x01, b_off))
    header_len = 24 if version >= 3 else 20
    tree_off = header_len
    data_off = tree_off + len(tree)
    names_off = data_off + len(data)
    header = b"qres" + struct.pack(">4I", version, tree_off, data_off, names_off)
    if version >= 3:
        header += struct.pack(">I", 0)  # overall flags
    return header + tree + data + names


@pytest.mark.parametrize("version", [1, 2, 3])
def test_list_and_read(version, tmp_path):
    path = tmp_path / "t.rcc"
    path.write_bytes(build_rcc(version))
    assert list_entries(path) == [("a.txt", False), ("sub", True), ("sub/b.bin", False)]
    rcc = RccFile(path)
    assert rcc.version == version
    assert rcc.files() == ["a.txt", "sub/b.bin"]
    assert rcc.read("a.txt") == RAW
    assert rcc.read("/sub/b.bin") == PACKED  # leading slash tolerated
    assert read_file(build_rcc(version), "sub/b.bin") == PACKED  # bytes input works too


def test_missing_and_directory_entries_raise_keyerror():
    rcc = RccFile(build_rcc())
    with pytest.raises(KeyError):
        rcc.read("nope.txt")
    with pytest.raises(KeyError):
        rcc.read("sub")


def test_zstd_entry_gives_clear_error():
    rcc = RccFile(build_rcc(zstd=True))
    assert rcc.read("a.txt") == RAW
    with pytest.raises(RccError, match="zstd"):
        rcc.read("sub/b.bin")


def test_rejects_non_rcc_and_unknown_version():
    with pytest.raises(RccError, match="qres"):
        RccFile(b"PK\x03\x04" + b"\0" * 40)
    bad = bytearray(build_rcc())
    bad[4:8] = struct.pack(">I", 9)
    with pytest.raises(RccError, match="version 9"):
        RccFile(bytes(bad))
