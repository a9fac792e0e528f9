"""Frames between the sandbox processes: 4-byte big-endian length + UTF-8 JSON (no pickle)."""

from __future__ import annotations

import json
import os
import struct

MAX_FRAME = 16 << 20


def encode(obj) -> bytes:
    data = json.dumps(obj, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return struct.pack(">I", len(data)) + data


def send_frame(fd: int, obj) -> None:
    view = memoryview(encode(obj))
    while view:
        view = view[os.write(fd, view):]


def _read_exact(fd: int, n: int) -> bytes | None:
    out = bytearray()
    while len(out) < n:
        chunk = os.read(fd, n - len(out))
        if not chunk:
            return None
        out += chunk
    return bytes(out)


def read_frame(fd: int):
    """Blocking read of one frame; None on EOF."""
    head = _read_exact(fd, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    if n > MAX_FRAME:
        raise ValueError("frame too large")
    body = _read_exact(fd, n)
    return None if body is None else json.loads(body.decode("utf-8", "surrogatepass"))


def split_frames(buf: bytearray) -> list:
    """Remove and decode the complete frames at the start of ``buf``."""
    frames = []
    while len(buf) >= 4:
        (n,) = struct.unpack(">I", bytes(buf[:4]))
        if n > MAX_FRAME:
            raise ValueError("frame too large")
        if len(buf) < 4 + n:
            break
        frames.append(json.loads(bytes(buf[4:4 + n]).decode("utf-8", "surrogatepass")))
        del buf[:4 + n]
    return frames
