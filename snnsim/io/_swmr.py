"""HDF5 superblock and lock helpers shared by the writer and the reader.

HDF5 marks a file "open for writing" in its superblock while a writer has it open; a killed
writer leaves the marks (and a stale end-of-file address) behind. :func:`clear_write_flags`
does what ``h5clear -s`` does, :func:`repair_if_unused` applies it only when no other process
holds the file, and :func:`hold_shared_lock` keeps other writers out of a file an SWMR writer
is writing.
"""

from __future__ import annotations

import os
import struct

try:
    import fcntl
except ImportError:  # not POSIX: no locking, no repair
    fcntl = None

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_WRITE_FLAGS = 0x01 | 0x04  # superblock "open for write" and "open for SWMR write"
_M32 = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


def _lookup3(data: bytes) -> int:
    """Jenkins lookup3 ``hashlittle`` (initval 0), the checksum HDF5 uses for metadata."""
    n, pos = len(data), 0
    a = b = c = (0xDEADBEEF + n) & _M32
    while n - pos > 12:
        x, y, z = struct.unpack_from("<3I", data, pos)
        a, b, c = (a + x) & _M32, (b + y) & _M32, (c + z) & _M32
        a = ((a - c) & _M32) ^ _rot(c, 4)
        c = (c + b) & _M32
        b = ((b - a) & _M32) ^ _rot(a, 6)
        a = (a + c) & _M32
        c = ((c - b) & _M32) ^ _rot(b, 8)
        b = (b + a) & _M32
        a = ((a - c) & _M32) ^ _rot(c, 16)
        c = (c + b) & _M32
        b = ((b - a) & _M32) ^ _rot(a, 19)
        a = (a + c) & _M32
        c = ((c - b) & _M32) ^ _rot(b, 4)
        b = (b + a) & _M32
        pos += 12
    if pos == n:
        return c
    x, y, z = struct.unpack("<3I", data[pos:].ljust(12, b"\0"))
    a, b, c = (a + x) & _M32, (b + y) & _M32, (c + z) & _M32
    c = ((c ^ b) - _rot(b, 14)) & _M32
    a = ((a ^ c) - _rot(c, 11)) & _M32
    b = ((b ^ a) - _rot(a, 25)) & _M32
    c = ((c ^ b) - _rot(b, 16)) & _M32
    a = ((a ^ c) - _rot(c, 4)) & _M32
    b = ((b ^ a) - _rot(a, 14)) & _M32
    return ((c ^ b) - _rot(b, 24)) & _M32


def clear_write_flags(path: str | os.PathLike, *, raise_eoa: bool = True) -> bool:
    """Clear the "open for writing" flags HDF5 keeps in the superblock while writing.

    What ``h5clear -s`` does, for the version 2/3 superblock snnsim writes at
    offset 0. With ``raise_eoa`` the end-of-file address is also raised to the
    file size, so data is never placed over bytes written after the last
    flush (only for files no process has open). Returns True if the file was
    changed; raises ValueError for an unexpected superblock.
    """
    with open(path, "r+b") as fh:
        head = fh.read(12)
        if head[:8] != _SIGNATURE or head[8] not in (2, 3):
            raise ValueError(f"{os.fspath(path)}: not an HDF5 file with a version 2/3 superblock")
        size_o = head[9]
        body = bytearray(head + fh.read(4 * size_o))
        (stored,) = struct.unpack("<I", fh.read(4))
        if _lookup3(bytes(body)) != stored:
            raise ValueError(f"{os.fspath(path)}: superblock checksum mismatch; not touching it")
        eoa_at = 12 + 2 * size_o
        eoa = int.from_bytes(body[eoa_at:eoa_at + size_o], "little")
        new_eoa = max(eoa, os.fstat(fh.fileno()).st_size) if raise_eoa else eoa
        if not body[11] & _WRITE_FLAGS and new_eoa == eoa:
            return False
        body[11] &= ~_WRITE_FLAGS & 0xFF
        body[eoa_at:eoa_at + size_o] = new_eoa.to_bytes(size_o, "little")
        fh.seek(0)
        fh.write(bytes(body) + struct.pack("<I", _lookup3(bytes(body))))
    return True


def hold_shared_lock(path: str | os.PathLike) -> int | None:
    """Open ``path`` and hold a shared ``flock`` on it; return the fd (None if impossible).

    An SWMR writer drops HDF5's own exclusive lock; holding a shared one keeps
    other writers out (HDF5 wants an exclusive lock to write) while readers,
    which take shared locks, still get in.
    """
    if fcntl is None:
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def repair_if_unused(path: str | os.PathLike) -> bool | None:
    """Clear a killed writer's flags (see :func:`clear_write_flags`) if no process uses ``path``.

    Returns None if another process has the file open (or it cannot be
    locked or written), else whether the file was changed (False also for
    files whose superblock is not one snnsim writes).
    """
    if fcntl is None:
        return None
    try:
        with open(path, "r+b") as fh:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            try:
                return clear_write_flags(path)
            except ValueError:  # not a superblock we know: leave it to HDF5
                return False
    except OSError:
        return None


def superblock_info(path: str | os.PathLike) -> tuple[int, int, int] | None:
    """``(version, end_of_file_address, flags)`` of a superblock at offset 0 (None if none).

    Versions 0-3 (v0/v1: h5py's default format, v2/v3: what snnsim writes); the
    end-of-file address includes the base address. ``flags`` is the consistency
    flags byte of v2/v3 superblocks (0 for v0/v1).
    """
    with open(path, "rb") as fh:
        head = fh.read(96)
    if len(head) < 16 or head[:8] != _SIGNATURE:
        return None
    version = head[8]
    if version in (0, 1):
        size_o, at = head[13], 24 if version == 0 else 28
        flags = 0
    elif version in (2, 3):
        size_o, at, flags = head[9], 12, head[11]
    else:
        return None
    if size_o not in (2, 4, 8) or len(head) < at + 3 * size_o:
        return None
    base = int.from_bytes(head[at:at + size_o], "little")
    eoa = int.from_bytes(head[at + 2 * size_o:at + 3 * size_o], "little")
    return version, base + eoa, flags


def in_use(path: str | os.PathLike) -> bool:
    """True if another process holds an ``flock`` on ``path`` (HDF5 opens take one)."""
    if fcntl is None:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


class PatchedSuperblock:
    """Read-only file object over ``path`` whose v2/v3 superblock reads as repaired.

    For files a killed writer left flagged "open for writing" on media this process
    cannot write (read-only mounts, other users' files): h5py opens this object
    (``driver="fileobj"``) as if :func:`clear_write_flags` had run, without changing
    a byte on disk.
    """

    def __init__(self, path: str | os.PathLike):
        self._fh = open(path, "rb")
        head = self._fh.read(12)
        size_o = head[9]
        body = bytearray(head + self._fh.read(4 * size_o))
        eoa_at = 12 + 2 * size_o
        eoa = int.from_bytes(body[eoa_at:eoa_at + size_o], "little")
        size = os.fstat(self._fh.fileno()).st_size
        body[11] &= ~_WRITE_FLAGS & 0xFF
        body[eoa_at:eoa_at + size_o] = max(eoa, size).to_bytes(size_o, "little")
        self._head = bytes(body) + struct.pack("<I", _lookup3(bytes(body)))
        self._fh.seek(0)

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._fh.seek(pos, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def read(self, n: int = -1) -> bytes:
        pos = self._fh.tell()
        data = self._fh.read(n)
        if pos < len(self._head) and data:
            k = min(len(self._head) - pos, len(data))
            data = self._head[pos:pos + k] + data[k:]
        return data

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._fh.close()
