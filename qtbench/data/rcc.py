"""A small reader for Qt binary resource bundles (``.rcc`` files, format versions 1 to 3).

Layout (all integers big-endian):

* header: magic ``qres``, version, tree offset, data offset, names offset (u32 each);
  version 3 adds a u32 of overall flags, so the header is 20 or 24 bytes;
* tree: fixed-size nodes (14 bytes in v1, 22 in v2/v3 which append a u64 modification time).
  Every node starts with ``name_offset: u32, flags: u16``. A directory (``flags & 2``) continues
  with ``child_count: u32, first_child: u32`` (children are consecutive node indices); a file
  continues with ``territory: u16, language: u16, data_offset: u32``. Node 0 is the root;
* names: ``length: u16`` (UTF-16 code units), ``hash: u32``, then UTF-16BE text;
* data: ``size: u32`` followed by ``size`` bytes. With ``flags & 1`` the bytes are Qt's ``qCompress``
  format (a u32 uncompressed length, then a zlib stream); ``flags & 4`` marks zstd, unsupported here.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

MAGIC = b"qres"
FLAG_COMPRESSED = 0x01
FLAG_DIRECTORY = 0x02
FLAG_COMPRESSED_ZSTD = 0x04


class RccError(ValueError):
    """The file is not a readable Qt resource bundle (or uses an unsupported feature)."""


@dataclass(frozen=True)
class RccEntry:
    """One node of the resource tree; ``path`` is ``/``-separated without a leading slash."""

    path: str
    is_dir: bool
    flags: int
    data_offset: int  # meaningless for directories


class RccFile:
    """An opened ``.rcc`` bundle, held in memory (GCompris bundles are at most a few tens of MB)."""

    def __init__(self, source: Path | bytes):
        self.name = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
        self._buf = bytes(source) if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
        if len(self._buf) < 20 or self._buf[:4] != MAGIC:
            raise RccError(f"{self.name}: not a Qt resource bundle (no 'qres' magic)")
        self.version, self._tree, self._data, self._names = struct.unpack_from(">4I", self._buf, 4)
        if self.version not in (1, 2, 3):
            raise RccError(f"{self.name}: unsupported rcc format version {self.version}")
        self._node_size = 14 if self.version == 1 else 22
        self._entries: dict[str, RccEntry] | None = None

    # -- low-level helpers -------------------------------------------------------------------
    def _u16(self, off: int) -> int:
        return struct.unpack_from(">H", self._buf, off)[0]

    def _u32(self, off: int) -> int:
        return struct.unpack_from(">I", self._buf, off)[0]

    def _name(self, name_offset: int) -> str:
        off = self._names + name_offset
        length = self._u16(off)
        raw = self._buf[off + 6 : off + 6 + 2 * length]  # skip length (2) and hash (4)
        return raw.decode("utf-16-be")

    def _walk(self) -> dict[str, RccEntry]:
        entries: dict[str, RccEntry] = {}
        # Iterative DFS from the root node; a visited set guards against corrupt cyclic trees.
        stack: list[tuple[int, str]] = [(0, "")]
        seen: set[int] = set()
        while stack:
            index, prefix = stack.pop()
            if index in seen:
                raise RccError(f"{self.name}: corrupt resource tree (node {index} reached twice)")
            seen.add(index)
            off = self._tree + index * self._node_size
            if off + self._node_size > len(self._buf):
                raise RccError(f"{self.name}: tree node {index} lies outside the file")
            name_off, flags = self._u32(off), self._u16(off + 4)
            name = "" if index == 0 else self._name(name_off)
            path = f"{prefix}/{name}" if prefix else name
            if flags & FLAG_DIRECTORY:
                count, first = self._u32(off + 6), self._u32(off + 10)
                if index:
                    entries[path] = RccEntry(path, True, flags, 0)
                stack.extend((first + i, path) for i in range(count))
            else:
                entries[path] = RccEntry(path, False, flags, self._u32(off + 10))
        return entries

    # -- public API ----------------------------------------------------------------------------
    def entries(self) -> list[RccEntry]:
        """Every file and directory in the bundle (the root excluded), sorted by path."""
        if self._entries is None:
            self._entries = self._walk()
        return [self._entries[p] for p in sorted(self._entries)]

    def files(self) -> list[str]:
        """Paths of all file entries, sorted."""
        return [e.path for e in self.entries() if not e.is_dir]

    def read(self, path: str) -> bytes:
        """The (decompressed) bytes of the file entry ``path``; raises ``KeyError`` if absent."""
        self.entries()
        assert self._entries is not None
        entry = self._entries.get(path.lstrip("/"))
        if entry is None or entry.is_dir:
            raise KeyError(f"{self.name}: no file entry {path!r}")
        off = self._data + entry.data_offset
        size = self._u32(off)
        blob = self._buf[off + 4 : off + 4 + size]
        if len(blob) != size:
            raise RccError(f"{self.name}: data of {path!r} is truncated")
        if entry.flags & FLAG_COMPRESSED_ZSTD:
            raise RccError(
                f"{self.name}: {path!r} is zstd-compressed (newer Qt rcc); this reader supports only "
                "raw and zlib entries"
            )
        if entry.flags & FLAG_COMPRESSED:
            expected = struct.unpack_from(">I", blob, 0)[0]
            out = zlib.decompress(blob[4:])
            if len(out) != expected:
                raise RccError(f"{self.name}: {path!r} inflated to {len(out)} bytes, expected {expected}")
            return out
        return blob


def list_entries(path: Path | bytes) -> list[tuple[str, bool]]:
    """``(path, is_dir)`` for every entry of the bundle at ``path``."""
    return [(e.path, e.is_dir) for e in RccFile(path).entries()]


def read_file(rcc_path: Path | bytes, entry: str) -> bytes:
    """The bytes of one file entry of a bundle."""
    return RccFile(rcc_path).read(entry)
