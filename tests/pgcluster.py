"""A throwaway PostgreSQL cluster: ``initdb`` into a fresh directory, ``pg_ctl`` to start and stop it.

For tests (and benchmarks) that must stop, crash or restart the database
server itself, which the shared server on port 5432 must never be. The
cluster listens on 127.0.0.1 at a free port and on a unix socket inside its
own directory, trusts every local connection and is deleted by ``cleanup``.

PostgreSQL refuses to run as root: as root, the directory is given to the
``postgres`` system user and ``initdb``/``pg_ctl`` run through
``runuser -u postgres --``. The binaries are found through
``MAILFLOW_PG_BINDIR``, ``pg_config --bindir``, ``PATH`` or
``/usr/lib/postgresql/<version>/bin``. Whatever is missing raises
:class:`ClusterUnavailable` with the reason; :func:`cluster_or_skip` turns that
into ``require_service`` (a skip, or a failure under
``MAILFLOW_REQUIRE_SERVICES=1``).

Example::

    cluster = PgCluster.create()
    try:
        cluster.start()
        engine = make_engine(cluster.url())
        cluster.restart(mode="immediate")
    finally:
        cluster.cleanup()
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal

from tests.conftest import free_port, require_service

StopMode = Literal["smart", "fast", "immediate"]
SYSTEM_USER = "postgres"
PG_CTL_TIMEOUT = 60  # seconds pg_ctl waits for a start or stop (-w -t)
# Fast to create and to run: an OS crash is not what these clusters are for, a server crash is
# (after ``stop(mode="immediate")`` committed data is still in the OS page cache).
DEFAULT_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "full_page_writes": "off",
    "max_connections": "50",
}


class ClusterUnavailable(RuntimeError):
    """PostgreSQL's server binaries, or a way to run them as a non-root user, are missing."""


def find_bindir() -> Path:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``; ``ClusterUnavailable`` if none."""
    candidates: list[Path] = []
    if os.environ.get("MAILFLOW_PG_BINDIR"):
        candidates.append(Path(os.environ["MAILFLOW_PG_BINDIR"]))
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        try:
            found = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            )
            candidates.append(Path(found.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).resolve().parent)
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    candidates.extend(versions)
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise ClusterUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found: install the postgresql package "
        "or set MAILFLOW_PG_BINDIR"
    )


def _version(bindir: Path) -> float:
    try:
        return float(bindir.parent.name)
    except ValueError:
        return 0.0


class PgCluster:
    """One throwaway cluster in its own directory; see the module docstring."""

    def __init__(self, root: Path, bindir: Path, port: int, as_user: list[str]) -> None:
        self.root = root
        self.bindir = bindir
        self.port = port
        self._as_user = as_user
        self.data = root / "data"
        self.sockets = root / "run"
        self.log = root / "postgresql.log"
        self.running = False

    @classmethod
    def create(cls, settings: Mapping[str, str] | None = None, port: int | None = None) -> PgCluster:
        """``initdb`` a new cluster (not started) with ``settings`` added to postgresql.conf."""
        bindir = find_bindir()
        as_user: list[str] = []
        owner: tuple[int, int] | None = None
        if os.geteuid() == 0:
            import pwd

            runuser = shutil.which("runuser")
            if runuser is None:
                raise ClusterUnavailable("running as root and runuser (util-linux) is missing")
            try:
                account = pwd.getpwnam(SYSTEM_USER)
            except KeyError:
                raise ClusterUnavailable(
                    f"running as root and there is no {SYSTEM_USER!r} system user to run PostgreSQL"
                ) from None
            as_user = [runuser, "-u", SYSTEM_USER, "--"]
            owner = (account.pw_uid, account.pw_gid)
        # Not pytest's tmp_path: that is private to root, and the server runs as postgres.
        root = Path(tempfile.mkdtemp(prefix="mailflow-pg-"))
        if owner is not None:
            os.chown(root, *owner)
        cluster = cls(root, bindir, port or free_port(), as_user)
        try:
            cluster.sockets.mkdir()
            if owner is not None:
                os.chown(cluster.sockets, *owner)
            cluster._run(
                "initdb",
                [
                    *("-D", str(cluster.data), "-U", "postgres", "-A", "trust", "-E", "UTF8"),
                    *("--locale=C", "--no-sync", "--no-instructions"),
                ],
            )
            lines = {**DEFAULT_SETTINGS, **(settings or {})}
            with (cluster.data / "postgresql.conf").open("a") as conf:
                conf.write("\n# mailflow throwaway cluster\n")
                conf.write(f"port = {cluster.port}\nlisten_addresses = '127.0.0.1'\n")
                conf.write(f"unix_socket_directories = '{cluster.sockets}'\n")
                for key, value in lines.items():
                    conf.write(f"{key} = '{value}'\n")
        except BaseException:
            cluster.cleanup()
            raise
        return cluster

    def _run(self, tool: str, args: list[str]) -> str:
        command = [*self._as_user, str(self.bindir / tool), *args]
        done = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            cwd=self.root,
            timeout=PG_CTL_TIMEOUT + 30,
            check=False,
        )
        if done.returncode != 0:
            failed = f"{tool} {' '.join(args)} failed ({done.returncode})"
            raise RuntimeError(f"{failed}:\n{done.stderr}{self.tail()}")
        return done.stdout

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        # -l sends the server's output to the log file: nothing keeps our pipes open.
        wait = ["-w", "-t", str(PG_CTL_TIMEOUT)]
        self._run("pg_ctl", ["start", "-D", str(self.data), "-l", str(self.log), *wait])
        self.running = True

    def stop(self, mode: StopMode = "fast") -> None:
        """Stop the server: ``fast`` ends sessions and rolls back their transactions cleanly,
        ``immediate`` kills every process without a checkpoint (a crash; recovery runs at start)."""
        self._run("pg_ctl", ["stop", "-D", str(self.data), "-m", mode, "-w", "-t", str(PG_CTL_TIMEOUT)])
        self.running = False

    def restart(self, mode: StopMode = "fast") -> None:
        """Stop (in ``mode``) and start again on the same port."""
        self.stop(mode)
        self.start()

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` over TCP on 127.0.0.1."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """Create database ``name``; returns its URL."""
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def tail(self, lines: int = 40) -> str:
        """The end of the server log, for failure messages."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def cleanup(self) -> None:
        """Stop the server if it runs (immediately: nothing is kept) and delete the directory."""
        if (self.data / "postmaster.pid").exists():
            with suppress(RuntimeError, subprocess.SubprocessError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def running_cluster(settings: Mapping[str, str] | None = None) -> Iterator[PgCluster]:
    """A started throwaway cluster, cleaned up on exit."""
    cluster = PgCluster.create(settings)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


def cluster_or_skip(settings: Mapping[str, str] | None = None) -> PgCluster:
    """``PgCluster.create``, or ``require_service`` (skip, or fail in CI) when it cannot be made."""
    try:
        return PgCluster.create(settings)
    except ClusterUnavailable as exc:
        require_service(str(exc))
