"""Exclusive lock files shared by processes on any host, so that a sweep id is computed once
(two sweeps may write to one folder)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Seconds without a refresh after which another process may break a fit's lock.
LOCK_STALE_AFTER = 120.0
_HEARTBEAT = 10.0


# --- locks ------------------------------------------------------------------------------------
class FitLock:
    """An exclusive lock file ``<id>.lock`` shared by processes on any host.

    Created with ``O_CREAT | O_EXCL`` and refreshed (``mtime``) every few seconds while held.
    A lock is stale — and may be broken — when its owner runs on this host and its process is
    gone, or when it has not been refreshed for ``stale_after`` seconds.
    """

    def __init__(self, path: str | Path, *, stale_after: float = LOCK_STALE_AFTER):
        self.path = Path(path)
        self.stale_after = stale_after
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.token = f"{socket.gethostname()}:{os.getpid()}:{time.time_ns()}"

    def try_acquire(self) -> bool:
        """Take the lock if it is free or stale; never blocks."""
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                if not self._break_if_stale():
                    return False
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(
                    {"host": socket.gethostname(), "pid": os.getpid(), "token": self.token}, f
                )
            self._thread = threading.Thread(target=self._heartbeat, daemon=True)
            self._thread.start()
            return True
        return False

    def acquire(self, *, poll: float = 1.0, timeout: float | None = None) -> bool:
        """Wait for the lock (``timeout`` seconds at most; ``None``: no limit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.try_acquire():
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(poll)
        return True

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(FileNotFoundError):
            if self.owner().get("token") == self.token:
                os.unlink(self.path)

    def owner(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def is_stale(self) -> bool:
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return False
        owner = self.owner()
        here = owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int)
        if here and not _pid_alive(owner["pid"]):
            return True
        return age > self.stale_after

    def _break_if_stale(self) -> bool:
        if not self.is_stale():
            return False
        owner = self.owner()
        moved = self.path.with_name(f".{self.path.name}.stale-{os.getpid()}-{time.time_ns()}")
        try:
            os.rename(self.path, moved)
        except FileNotFoundError:
            return True  # someone else removed it: try again
        try:
            if json.loads(moved.read_text() or "{}") != owner:
                # it was replaced by a fresh lock between our check and the rename: restore it
                with contextlib.suppress(FileExistsError):
                    os.link(moved, self.path)
        except (OSError, ValueError):
            pass
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(moved)
        log.warning("broke stale lock %s (owner %s)", self.path, owner)
        return True

    def _heartbeat(self) -> None:
        interval = min(_HEARTBEAT, self.stale_after / 4)
        while not self._stop.wait(interval):
            with contextlib.suppress(FileNotFoundError):
                os.utime(self.path)

    def __enter__(self) -> FitLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
