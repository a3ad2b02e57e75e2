"""A throwaway Postfix (Debian's ``postfix`` package) for the tests: its own configuration and
queue in a temporary folder, its SMTP listener on a free loopback port, no system service and
nothing on port 25. ``master -d`` runs in the foreground and logs to standard output (a file)."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

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

    def __init__(self, settings: dict[str, str]) -> None:
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
            **settings,
        }
        (etc / "main.cf").write_text("".join(f"{key} = {value}\n" for key, value in main.items()))
        (etc / "master.cf").write_text(f"127.0.0.1:{self.port} inet n - n - - smtpd\n{SERVICES}")
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

    def tail(self, characters: int = 3000) -> str:
        """The end of Postfix's log, for a failing test's message."""
        return self.log.read_text(errors="replace")[-characters:] if self.log.exists() else "(no log)"
