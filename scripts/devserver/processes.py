"""What every process here does with child processes: reap them, report their exit, know when they
have exited, signal their group, and leave without Python's teardown.

A child's exit status travels through a pipe of its own (CPython's forkserver does the same):
whoever reaps the child writes the status there, the supervisor's handle on the child reads
it. No status table is shared between threads, and nobody polls for one.

Whether a process is alive comes from the process itself (a pidfd, Linux 5.3+), never from a
pipe or socket closing: a process the app forks inherits every descriptor, and a retired
process closes its channel long before it exits (hupper's worker.py makes the same point).
"""

from __future__ import annotations

import os
import select
import signal
import socket
import sys
from collections.abc import Callable, Iterator


def reap(waitpid: Callable = os.waitpid) -> Iterator[tuple[int, int]]:
    """Every child that has exited, as (pid, exit status: negative for a signal). `waitpid`: the
    fork server passes the original, unpatched one."""
    while True:
        try:
            pid, status = waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        yield pid, os.waitstatus_to_exitcode(status)


def write_status(fd: int, status: int) -> None:
    """Report a reaped child's exit status on its status pipe, and close our end of it."""
    try:
        os.write(fd, f"{status}\n".encode())
    except OSError:
        pass  # its reader is gone
    finally:
        os.close(fd)


def read_status(fd: int, timeout: float | None) -> int | None:
    """A child's exit status from its status pipe (None: not reported within `timeout`, or the
    reaper died first); closes the pipe."""
    try:
        if not select.select([fd], [], [], timeout)[0]:
            return None
        text = os.read(fd, 64).decode().strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None
    finally:
        os.close(fd)


PROCESS_GONE = -1  # what `pidfd` returns for a process that has exited and been reaped already


def pidfd(pid: int) -> int | None:
    """A descriptor that becomes readable once the process has exited (it need not be our child);
    PROCESS_GONE if it is gone already; None where there are none (macOS, a kernel before 5.3)."""
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return PROCESS_GONE
    except OSError:
        return None


def follow(control: socket.socket, process_fd: int | None, on_message: Callable[[bytes], None],
           on_closed: Callable[[], None] = lambda: None, *, size: int) -> None:
    """Hand each message from `control` to `on_message` until the process has exited (its pidfd,
    from `pidfd`, is readable), then return; closes the pidfd. `on_closed` is called once, when
    nothing more will be heard: the channel closed (the process may live on: retired, or a fork
    of it holds the other end) or the process exited. Without a pidfd (None) the close is the end."""
    reading = True
    try:
        while True:
            if process_fd == PROCESS_GONE:  # exited: what it said before is still to be read
                while reading and (message := _receive(control, size, socket.MSG_DONTWAIT)):
                    _hand_over(on_message, message)
                if reading:
                    on_closed()
                return
            watched = ([control] if reading else []) + ([process_fd] if process_fd is not None else [])
            if process_fd in select.select(watched, [], [])[0]:
                os.close(process_fd)
                process_fd = PROCESS_GONE
            elif message := _receive(control, size):
                _hand_over(on_message, message)
            else:
                reading = False
                on_closed()
                if process_fd is None:
                    return
    finally:
        if process_fd not in (None, PROCESS_GONE):
            os.close(process_fd)


def _hand_over(on_message: Callable[[bytes], None], message: bytes) -> None:
    """A message its reader cannot take (garbled, say) is dropped: the process is followed to its end."""
    try:
        on_message(message)
    except Exception:  # noqa: BLE001 - a reader thread that died would never say the process is gone
        import traceback

        traceback.print_exc()


def _receive(control: socket.socket, size: int, flags: int = 0) -> bytes:
    """One message; b"" once the channel is closed (or, with MSG_DONTWAIT, nothing is waiting)."""
    for _ in range(2):
        try:
            return control.recv(size, flags)
        except ConnectionResetError:
            continue  # it exited with a message of ours unread: said once, before what it had sent us
        except OSError:
            return b""
    return b""


def signal_group(pid: int, signum: int) -> None:
    """Signal a process and everything it started (its process group); gone already is fine."""
    try:
        os.killpg(pid, signum)
    except OSError:  # gone already, or never ours
        pass


def close_quietly(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def describe_exit(status: int | None) -> str:
    if status is None:
        return "exited"
    if status < 0:
        try:
            return f"was killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"was killed by signal {-status}"
    return f"exited with status {status}"


def exit_now(code: int) -> None:
    """Flush what was said, then leave at once: no interpreter teardown (greenlets the app left
    behind must not delay the exit, and a forked child must never run its parent's clean-up)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
