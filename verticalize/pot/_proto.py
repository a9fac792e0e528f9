"""Frames between the sandbox processes, and bounded decoding of what a program sends back.

A frame is ``u32 header length | header | u32 payload length | payload`` (big-endian lengths).
The header is a small JSON object written by trusted code (the parent or the zygote); the
payload is raw bytes - a program's UTF-8 source, or the JSON result a program process produced.
Sources travel unescaped, so a program's size is counted in one unit (UTF-8 bytes) everywhere.
Nothing here is ever unpickled; :func:`loads_bounded` parses untrusted JSON with limits on size
and nesting depth and never raises anything but ``ValueError``.
"""

from __future__ import annotations

import json
import os
import re
import struct

MAX_HEADER = 1 << 16
_U32 = struct.Struct(">I")


def pack_header(header: dict, payload_len: int) -> bytes:
    head = json.dumps(header, separators=(",", ":")).encode("ascii")
    return _U32.pack(len(head)) + head + _U32.pack(payload_len)


def write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def send(fd: int, header: dict, payload=b"") -> None:
    """Blocking write of one frame (payload: bytes, bytearray or memoryview)."""
    write_all(fd, pack_header(header, len(payload)))
    if len(payload):
        write_all(fd, payload)


def _read_exact_into(fd: int, buf: bytearray) -> bool:
    view, got = memoryview(buf), 0
    while got < len(buf):
        n = os.readv(fd, [view[got:]])
        if n == 0:
            return False
        got += n
    return True


def recv(fd: int, max_payload: int):
    """Blocking read of one frame: (header, payload bytearray), or None on EOF.
    Raises ValueError for a malformed or oversized frame."""
    head = bytearray(4)
    if not _read_exact_into(fd, head):
        return None
    (n,) = _U32.unpack(head)
    if n > MAX_HEADER:
        raise ValueError("frame header too large")
    hbuf = bytearray(n + 4)
    if not _read_exact_into(fd, hbuf):
        return None
    header = json.loads(bytes(hbuf[:n]))
    (m,) = _U32.unpack(hbuf[n:])
    if m > max_payload:
        raise ValueError(f"frame payload too large ({m} > {max_payload} bytes)")
    payload = bytearray(m)
    if m and not _read_exact_into(fd, payload):
        return None
    if not isinstance(header, dict):
        raise ValueError("frame header is not an object")
    return header, payload


class Splitter:
    """Incremental frame parser over a growing buffer (non-blocking readers)."""

    def __init__(self, max_payload: int):
        self.buf = bytearray()
        self.max_payload = max_payload

    def feed(self, chunk: bytes) -> list[tuple[dict, bytes]]:
        self.buf += chunk
        out = []
        while len(self.buf) >= 4:
            (n,) = _U32.unpack_from(self.buf, 0)
            if n > MAX_HEADER:
                raise ValueError("frame header too large")
            if len(self.buf) < 8 + n:
                break
            (m,) = _U32.unpack_from(self.buf, 4 + n)
            if m > self.max_payload:
                raise ValueError(f"frame payload too large ({m} > {self.max_payload} bytes)")
            if len(self.buf) < 8 + n + m:
                break
            header = json.loads(bytes(self.buf[4:4 + n]))
            if not isinstance(header, dict):
                raise ValueError("frame header is not an object")
            out.append((header, bytes(self.buf[8 + n:8 + n + m])))
            del self.buf[:8 + n + m]
        return out


# ------------------------------------------------------------------ untrusted JSON
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def json_depth_ok(text: str, max_depth: int) -> bool:
    """True when the brackets of a JSON text nest at most ``max_depth`` deep (linear time per
    level, all in C; no recursion)."""
    skeleton = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    for _ in range(max_depth):
        if not skeleton:
            return True
        shorter = skeleton.replace("[]", "").replace("{}", "")
        if len(shorter) == len(skeleton):
            return False  # unbalanced or mismatched brackets
        skeleton = shorter
    return not skeleton


def loads_bounded(data: bytes, max_bytes: int, max_depth: int):
    """Parse untrusted JSON (ASCII only) with a size and depth limit; only raises ValueError."""
    if len(data) > max_bytes:
        raise ValueError(f"result too large ({len(data)} > {max_bytes} bytes)")
    try:
        text = bytes(data).decode("ascii")
    except UnicodeDecodeError:
        raise ValueError("result is not ASCII JSON") from None
    if not json_depth_ok(text, max_depth):
        raise ValueError(f"result nested deeper than {max_depth} levels (or unbalanced)")
    try:
        return json.loads(text)
    except (ValueError, RecursionError, MemoryError, OverflowError) as e:
        raise ValueError(f"result is not valid JSON: {type(e).__name__}: {str(e)[:200]}") from None
