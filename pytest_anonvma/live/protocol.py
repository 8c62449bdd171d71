"""The wire format between the controller and ``sandbox.c``: one datagram a request or reply.

The socket is ``SOCK_SEQPACKET``, so each ``send`` is one message with its length kept by the
kernel; the structs below mirror ``struct av_request`` and ``struct av_reply`` in ``sandbox.c``.
"""

from __future__ import annotations

import enum
import struct
from typing import NamedTuple

__all__ = ["NAME_MAX", "REPLY", "REQUEST", "Op", "Reply", "encode_request"]

#: longest memfd name the request carries (the kernel's own limit is 249 bytes)
NAME_MAX = 255

#: u32 op, u32 name_len, u64 arg[6], char name[256]
REQUEST = struct.Struct("=II6Q256s")
#: i64 ret, i64 err, i64 sig, i64 code, u64 addr
REPLY = struct.Struct("=qqqqQ")

_U64 = 1 << 64


class Op(enum.IntEnum):
    """Request codes (``enum av_op`` in ``sandbox.c``)."""

    PING = 1
    MMAP = 2
    MUNMAP = 3
    MPROTECT = 4
    MADVISE = 5
    MLOCK = 6
    MUNLOCK = 7
    MREMAP = 8
    MEMFD = 9
    READ = 10
    WRITE = 11
    FORK = 12


class Reply(NamedTuple):
    """One answer: the syscall's return value and errno, or a touch's value or signal."""

    ret: int
    err: int
    sig: int
    code: int
    addr: int


def encode_request(op: Op, args: tuple[int, ...], name: bytes = b"") -> bytes:
    """Pack a request; each argument is passed as the 64-bit register value the syscall gets.

    Negative integers are sent in two's complement (``-1`` as an fd becomes ``0xffff...``).
    Raises ValueError naming the operation for an argument that does not fit in 64 bits or a name
    that is too long.
    """
    if len(args) > 6:
        raise ValueError(f"{op.name.lower()}: at most 6 arguments, got {len(args)}")
    words = []
    for index, value in enumerate(args):
        if not isinstance(value, int) or not -(1 << 63) <= value < _U64:
            raise ValueError(
                f"{op.name.lower()}: argument {index} ({value!r}) is not a 64-bit integer"
            )
        words.append(value % _U64)
    if len(name) > NAME_MAX:
        raise ValueError(f"{op.name.lower()}: name is {len(name)} bytes, at most {NAME_MAX}")
    words.extend([0] * (6 - len(words)))
    return REQUEST.pack(int(op), len(name), *words, name)
