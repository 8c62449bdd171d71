"""Sandbox processes: spawn, request/reply with a deadline, fork, death detection and reaping.

Every sandbox is a child of the controller (forks use ``clone(CLONE_PARENT)``), held through a
pidfd, so the controller can reap it and report how it ended, and a pid is never reused under
us. A sandbox is killed and reaped by :meth:`Sandbox.close`, by a ``weakref.finalize`` when its
object is collected, and at interpreter exit (``finalize`` runs atexit). A sandbox also exits by
itself when its socket reaches EOF and is sent SIGKILL (``PR_SET_PDEATHSIG``) if the controller
thread that spawned it exits.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import weakref
from dataclasses import dataclass, field
from typing import NoReturn

from pytest_anonvma.contract import ImplementationDied
from pytest_anonvma.live.build import sandbox_binary
from pytest_anonvma.live.procfs import read_pagemap
from pytest_anonvma.live.protocol import REPLY, Op, Reply, encode_request

__all__ = ["Sandbox", "SandboxDied", "SandboxError", "SandboxTimeout"]

#: fd number the sandbox expects its socket on
_SANDBOX_FD = 3
#: how long to wait for a killed or exiting sandbox to become reapable
_REAP_SECONDS = 10.0


class SandboxError(RuntimeError):
    """The sandbox process cannot serve a request (closed, died, or timed out)."""


class SandboxDied(SandboxError, ImplementationDied):
    """The sandbox process ended while or before serving a request; the message names how
    (exit status or signal) and the request."""


class SandboxTimeout(SandboxError, ImplementationDied, TimeoutError):
    """The sandbox did not answer within its timeout; it has been killed and reaped."""


def _describe(status: os.waitid_result | None) -> str:
    if status is None:
        return "status unavailable (reaped elsewhere)"
    if status.si_code == os.CLD_EXITED:
        return f"exited with status {status.si_status}"
    try:
        name = signal.Signals(status.si_status).name
    except ValueError:
        name = f"signal {status.si_status}"
    return f"killed by {name}"


def _readable(fd: int, timeout: float) -> bool:
    """Does ``fd`` poll readable within ``timeout`` seconds (a pidfd: has the process ended)?"""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(int(timeout * 1000)))


@dataclass
class _Process:
    """What the finalizer needs to end a sandbox: no reference back to the Sandbox object."""

    pid: int
    pidfd: int
    sock: socket.socket
    #: /proc/PID/pagemap, opened at first use
    pagemap_fd: int | None = field(default=None)
    #: how the process ended, once reaped (its fds are closed then)
    outcome: str | None = field(default=None)

    def exited(self) -> bool:
        """Has the process ended? Never blocks."""
        return self.outcome is not None or _readable(self.pidfd, 0)

    def reap(self) -> str:
        """Wait (bounded) for the process to end, reap it and release its fds; returns how."""
        if self.outcome is None:
            if _readable(self.pidfd, _REAP_SECONDS):
                try:
                    status = os.waitid(os.P_PIDFD, self.pidfd, os.WEXITED)
                except ChildProcessError:
                    status = None
                self.outcome = _describe(status)
            else:
                self.outcome = f"still running after {_REAP_SECONDS:g}s, left unreaped"
            os.close(self.pidfd)
            if self.pagemap_fd is not None:
                os.close(self.pagemap_fd)
            self.sock.close()
        return self.outcome

    def terminate(self) -> str:
        """SIGKILL the process (if not yet reaped) and reap it."""
        if self.outcome is None:
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
        return self.reap()


class Sandbox:
    """One running sandbox process and its socket; ``call`` performs one request."""

    def __init__(self, pid: int, sock: socket.socket, timeout: float) -> None:
        self._proc = _Process(pid, os.pidfd_open(pid), sock)
        self._finalizer = weakref.finalize(self, _Process.terminate, self._proc)
        self._closed = False
        self.pid = pid
        self.timeout = timeout

    @classmethod
    def spawn(cls, timeout: float) -> Sandbox:
        """Start a new sandbox from the compiled binary and check it answers."""
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(
                f"sandbox timeout must be a positive number of seconds, got {timeout!r}"
            )
        binary = str(sandbox_binary())
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # posix_spawn's dup2 onto the same number would not clear close-on-exec
        source = theirs.fileno() if theirs.fileno() != _SANDBOX_FD else os.dup(_SANDBOX_FD)
        try:
            pid = os.posix_spawn(
                binary,
                [binary, str(os.getpid())],
                {},
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, source, _SANDBOX_FD),
                    (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
                    (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
                ],
            )
        except BaseException:
            ours.close()
            raise
        finally:
            if source != theirs.fileno():
                os.close(source)
            theirs.close()
        sandbox = cls(pid, ours, timeout)
        sandbox.ping()
        return sandbox

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran or the process was found dead and reaped."""
        return self._closed or self._proc.outcome is not None

    def ping(self) -> None:
        """Check the sandbox answers and is the process we think it is."""
        reply = self.call(Op.PING)
        if reply.ret != self.pid:
            self.close()
            raise SandboxError(f"live sandbox pid {self.pid} answered as pid {reply.ret}")

    def check_alive(self, what: str) -> None:
        """Raise :class:`SandboxDied` (or SandboxError once closed) unless the process runs;
        ``what`` says what was about to be done ("reading smaps")."""
        if self._closed or self._proc.exited():
            self._raise_dead(f"before {what}")

    def _raise_dead(self, when: str) -> NoReturn:
        """Reap the dead process and raise SandboxDied: "died (killed by SIGKILL) ``when``"."""
        if self._closed:
            raise SandboxError(f"live sandbox pid {self.pid} is closed ({when})")
        outcome = self._proc.reap()
        raise SandboxDied(f"live sandbox pid {self.pid} died ({outcome}) {when}")

    def _exchange(
        self, op: Op, args: tuple[int, ...], name: bytes, want_fd: bool
    ) -> tuple[Reply, int | None]:
        what = f"{op.name.lower()}({', '.join(hex(a) for a in args)})"
        if self.closed or self._proc.exited():
            self._raise_dead(f"before {what}")
        sock = self._proc.sock
        sock.settimeout(self.timeout)
        fd: int | None = None
        try:
            sock.send(encode_request(op, args, name))
            if want_fd:
                data, fds, _, _ = socket.recv_fds(sock, REPLY.size, 1, socket.MSG_CMSG_CLOEXEC)
                fd = fds[0] if fds else None
            else:
                data = sock.recv(REPLY.size)
        except TimeoutError:
            self._proc.terminate()
            self._proc.outcome = f"killed by the controller: no answer within {self.timeout:g}s"
            raise SandboxTimeout(
                f"live sandbox pid {self.pid} did not answer {what} within {self.timeout:g}s; "
                "killed and reaped it"
            ) from None
        except (BrokenPipeError, ConnectionResetError):
            data = b""
        except BaseException as exc:
            # interrupted between request and reply (e.g. a test time limit): the answer would
            # be read as the next request's, so this sandbox cannot be used any more
            self._proc.terminate()
            self._proc.outcome = (
                f"killed by the controller: {what} was interrupted by {type(exc).__name__}"
            )
            raise
        if len(data) != REPLY.size:
            self._raise_dead(f"while executing {what}")
        return Reply(*REPLY.unpack(data)), fd

    def call(self, op: Op, *args: int, name: bytes = b"") -> Reply:
        """Send one request and wait for its reply (at most ``timeout`` seconds)."""
        return self._exchange(op, args, name, want_fd=False)[0]

    def fork(self) -> Sandbox:
        """Fork the sandbox; the returned Sandbox drives the child. Raises OSError on failure."""
        reply, fd = self._exchange(Op.FORK, (), b"", want_fd=True)
        if reply.err:
            raise OSError(reply.err, os.strerror(reply.err))
        if fd is None:
            raise SandboxError(f"live sandbox pid {self.pid} forked {reply.ret} but sent no socket")
        child = Sandbox(reply.ret, socket.socket(fileno=fd), self.timeout)
        child.ping()
        return child

    def smaps(self) -> str:
        """The text of ``/proc/PID/smaps`` (the process must be alive)."""
        self.check_alive("reading smaps")
        with open(f"/proc/{self.pid}/smaps", "rb") as f:
            text = f.read().decode("utf-8", "replace")
        if not text:  # a live sandbox always has its own VMAs: it died after the check
            self._raise_dead("while reading smaps")
        return text

    def pagemap(self, addr: int, npages: int = 1) -> list[int]:
        """Raw ``/proc/PID/pagemap`` entries for ``npages`` pages from ``addr``."""
        what = f"reading pagemap at {addr:#x}"
        self.check_alive(what)
        if self._proc.pagemap_fd is None:
            self._proc.pagemap_fd = os.open(f"/proc/{self.pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
        try:
            return read_pagemap(self._proc.pagemap_fd, addr, npages)
        except OSError:
            if self._proc.exited():  # died after the check: the mm is gone
                self._raise_dead(f"while {what}")
            raise

    def close(self) -> None:
        """Kill and reap the process (idempotent)."""
        self._closed = True
        self._proc.terminate()
        self._finalizer.detach()
