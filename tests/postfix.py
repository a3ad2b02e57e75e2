"""A throwaway Postfix (Debian's ``postfix`` package) for the tests: its own configuration and
queue in a temporary folder, its SMTP listener on a free loopback port, no system service and
nothing on port 25. ``master -d`` runs in the foreground and logs to standard output (a file).

``mailflow_for_pipe_user`` gives Postfix's ``pipe`` a ``mailflow`` command its unprivileged
user may run (the checkout's code, not an installed copy).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import mailflow
from tests.conftest import free_port, require_service

MASTER = Path("/usr/lib/postfix/sbin/master")
POST_INSTALL = Path("/etc/postfix/post-install")

# The services a relay and an LMTP hand-over need (Debian's master.cf, chroot off).
SERVICES = """\
pickup    unix  n  -  n  60    1  pickup
cleanup   unix  n  -  n  -     0  cleanup
qmgr      unix  n  -  n  300   1  qmgr
tlsmgr    unix  -  -  n  1000? 1  tlsmgr
rewrite   unix  -  -  n  -     -  trivial-rewrite
bounce    unix  -  -  n  -     0  bounce
defer     unix  -  -  n  -     0  bounce
trace     unix  -  -  n  -     0  bounce
verify    unix  -  -  n  -     1  verify
flush     unix  n  -  n  1000? 0  flush
proxymap  unix  -  -  n  -     -  proxymap
smtp      unix  -  -  n  -     -  smtp
relay     unix  -  -  n  -     -  smtp
showq     unix  n  -  n  -     -  showq
error     unix  -  -  n  -     -  error
retry     unix  -  -  n  -     -  error
discard   unix  -  -  n  -     -  discard
lmtp      unix  -  -  n  -     -  lmtp
anvil     unix  -  -  n  -     1  anvil
scache    unix  -  -  n  -     1  scache
postlog   unix-dgram n - n - 1 postlogd
"""


class Postfix:
    """Postfix with ``settings`` (main.cf lines) on ``127.0.0.1:port``, in a folder of its own
    (under /tmp, where its unprivileged daemons can reach it: pytest's folders are root's only)."""

    def __init__(self, settings: dict[str, str], services: str = "") -> None:
        """``services``: more master.cf entries (a ``pipe`` transport), after Debian's."""
        if not MASTER.exists() or not POST_INSTALL.exists():
            require_service("Postfix not installed (Debian package postfix)")
        root = Path(tempfile.mkdtemp(prefix="mailflow-postfix-"))
        root.chmod(0o755)
        self.root = root
        self.port = free_port()
        self.log = root / "maillog"
        etc, spool, data = root / "etc", root / "spool", root / "data"
        for folder in (etc, spool, data):
            folder.mkdir(parents=True, exist_ok=True)
        main = {
            "compatibility_level": "3.6",
            "queue_directory": str(spool),
            "data_directory": str(data),
            "command_directory": "/usr/sbin",
            "daemon_directory": "/usr/lib/postfix/sbin",
            "shlib_directory": "/usr/lib/postfix",
            "meta_directory": "/etc/postfix",
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "maillog_file": "/dev/stdout",
            "myhostname": "mx.postfix.test",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "queue_run_delay": "1s",
            "minimal_backoff_time": "1s",
            "maximal_backoff_time": "2s",
            "smtp_tls_security_level": "none",
            "biff": "no",
            # "{root}" in a value stands for this Postfix's folder (made just above).
            **{key: value.replace("{root}", str(root)) for key, value in settings.items()},
        }
        (etc / "main.cf").write_text("".join(f"{key} = {value}\n" for key, value in main.items()))
        (etc / "master.cf").write_text(f"127.0.0.1:{self.port} inet n - n - - smtpd\n{SERVICES}{services}")
        subprocess.run(
            [
                "sh",
                str(POST_INSTALL),
                f"config_directory={etc}",
                "meta_directory=/etc/postfix",
                "create-missing",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        shutil.chown(data, user="postfix")
        self.etc = etc
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Postfix:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [str(MASTER), "-c", str(self.etc), "-d"], stdout=handle, stderr=subprocess.STDOUT
        )
        handle.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return self
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        raise AssertionError(f"Postfix did not start: {self.tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def flush(self) -> None:
        """Try every deferred message now (``postqueue -f``), not at the next queue run."""
        subprocess.run(
            ["/usr/sbin/postqueue", "-c", str(self.etc), "-f"], check=True, capture_output=True, timeout=30
        )

    def wait_log(self, pattern: str, timeout: float = 30) -> re.Match[str]:
        """The first line of Postfix's log that matches ``pattern`` (a regular expression)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log.read_text(errors="replace"), re.MULTILINE)
            if found is not None:
                return found
            time.sleep(0.2)
        raise AssertionError(f"nothing like {pattern!r} in Postfix's log within {timeout} s\n{self.tail()}")

    def tail(self, characters: int = 3000) -> str:
        """The end of Postfix's log, for a failing test's message."""
        return self.log.read_text(errors="replace")[-characters:] if self.log.exists() else "(no log)"


PIPE_USER, PIPE_GROUP = "nobody", "nogroup"
"""Who Postfix's ``pipe`` runs mailflow as here (``user=`` in master.cf), and that user's group."""


def as_pipe_user(*command: str) -> list[str]:
    """``command`` run as ``PIPE_USER``, with its group and no other (as ``pipe`` runs it)."""
    return ["setpriv", f"--reuid={PIPE_USER}", f"--regid={PIPE_GROUP}", "--clear-groups", *command]


def mailflow_for_pipe_user(folder: Path, copy: bool = False) -> Path:
    """``folder/bin/mailflow``: the installed console script's stand-in, which ``PIPE_USER`` may run.

    The venv's interpreter may be a link into a folder that user cannot enter (a pyenv Python under
    /root, mode 700): then Debian's python3.X of the same version runs the checkout and the venv's
    packages (same ABI). When that user cannot read those either (or ``copy``), they are hard-linked
    (copied where linking fails or the file is not world-readable) into ``folder``, which must be
    readable by everyone.
    """
    checkout = Path(mailflow.__file__).resolve().parents[1]
    packages = dict.fromkeys(Path(sysconfig.get_paths()[name]) for name in ("purelib", "platlib"))
    path = [checkout, *packages]
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    # Each interpreter's real file, checked with access(2): running one is no proof here, as
    # some sandboxes quietly run another Python in place of one the user may not reach.
    runnable = [
        interpreter
        for interpreter in (os.path.realpath(sys.executable), f"/usr/bin/python{version}")
        if _runs_as_pipe_user(["/usr/bin/test", "-x", interpreter])
    ]
    if not runnable:
        require_service(f"no Python {version} that {PIPE_USER} may run (Debian package python{version})")
    interpreter = runnable[0]
    if copy or not _imports_mailflow(interpreter, path):
        readable = folder / "python"
        path = [readable / "checkout", *(readable / f"packages{n}" for n in range(len(packages)))]
        _readable_copy(checkout / "mailflow", path[0] / "mailflow")
        for source, target in zip(packages, path[1:], strict=True):
            _readable_copy(source, target)
        assert _imports_mailflow(interpreter, path), f"{PIPE_USER} cannot import mailflow from {readable}"
    script = folder / "bin" / "mailflow"
    script.parent.mkdir(parents=True, exist_ok=True)
    script.parent.chmod(0o755)
    pythonpath = ":".join(map(str, path))
    script.write_text(
        f'#!/bin/sh\nPYTHONPATH={pythonpath}\nexport PYTHONPATH\nexec {interpreter} -m mailflow "$@"\n'
    )
    script.chmod(0o755)
    return script


def _runs_as_pipe_user(command: list[str], pythonpath: list[Path] | None = None) -> bool:
    env = {"PATH": "/usr/bin:/bin"}
    if pythonpath is not None:
        env["PYTHONPATH"] = ":".join(map(str, pythonpath))
    done = subprocess.run(as_pipe_user(*command), env=env, cwd="/", capture_output=True, timeout=60)
    return done.returncode == 0


def _imports_mailflow(interpreter: str, path: list[Path]) -> bool:
    return _runs_as_pipe_user([interpreter, "-c", "import mailflow.cli, psycopg"], path)


def _readable_copy(source: Path, target: Path) -> None:
    """``source``'s tree at ``target``, like ``cp -al``: each world-readable file hard-linked (its
    cached bytecode too), other files copied with mode 644, every folder 755."""

    def link_or_copy(src: str, dst: str) -> str:
        if os.stat(src).st_mode & 0o004:
            try:
                os.link(src, dst)
                return dst
            except OSError:  # another file system
                pass
        shutil.copy2(src, dst)
        os.chmod(dst, 0o644)
        return dst

    shutil.copytree(
        source, target, copy_function=link_or_copy, ignore_dangling_symlinks=True, dirs_exist_ok=True
    )
    for folder, _, _ in os.walk(target):
        os.chmod(folder, 0o755)  # noqa: S103 - readable by the pipe's user is the point
