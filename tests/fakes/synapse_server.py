"""A real Synapse homeserver on 127.0.0.1 for the Matrix adapter tests.

One server per test session (start-up is seconds of imports), its data on tmpfs (SQLite
fsync dominates otherwise), every rate limit raised so tests are never slowed by 429s,
users registered through the shared-secret admin API (fresh random users per test).
`HEARTH_TEST_SYNAPSE=off` skips the Matrix tests; otherwise a server that cannot be
installed or started fails them, loudly, with the reason and the tail of its log.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

SERVER_NAME = "hearth.test"
SHARED_SECRET = "hearth-test-shared-secret"
START_TIMEOUT = 60.0
_BIG = {"per_second": 10000, "burst_count": 10000}


@dataclass(frozen=True)
class MatrixUser:
    user_id: str
    access_token: str
    device_id: str
    password: str


@dataclass
class SynapseServer:
    url: str
    server_name: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    _admin: MatrixUser | None = None

    def request(
        self, method: str, path: str, body: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        """One client-server API call (blocking; the server is another process)."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                result: dict[str, Any] = json.loads(response.read() or b"{}")
                return result
        except urllib.error.HTTPError as exc:
            raise AssertionError(
                f"{method} {path} -> {exc.code}: {exc.read().decode(errors='replace')}"
            ) from exc

    def register(self, prefix: str = "user", *, admin: bool = False) -> MatrixUser:
        """A fresh user with an access token, through the shared-secret admin API."""
        localpart = f"{prefix}-{uuid.uuid4().hex[:8]}"
        password = uuid.uuid4().hex
        nonce = self.request("GET", "/_synapse/admin/v1/register")["nonce"]
        digest = hmac.new(
            SHARED_SECRET.encode(),
            b"\x00".join(
                p.encode() for p in (nonce, localpart, password, "admin" if admin else "notadmin")
            ),
            hashlib.sha1,
        ).hexdigest()
        answer = self.request(
            "POST",
            "/_synapse/admin/v1/register",
            {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": digest,
            },
        )
        return MatrixUser(
            answer["user_id"], answer["access_token"], answer.get("device_id", ""), password
        )

    def admin_token(self) -> str:
        """A server admin's token (registered on first use), for the admin API."""
        if self._admin is None:
            self._admin = self.register("admin", admin=True)
        return self._admin.access_token

    def override_ratelimit(self, user_id: str, messages_per_second: int, burst_count: int) -> None:
        """Set one user's event-sending limit (`rc_message`); 0 lifts it altogether.

        Why per user: the server's own limits are raised for every test, so only the test
        that exercises the 429 path pays for it, on its own fresh bot account.
        """
        self.request(
            "POST",
            f"/_synapse/admin/v1/users/{quote(user_id)}/override_ratelimit",
            {"messages_per_second": messages_per_second, "burst_count": burst_count},
            self.admin_token(),
        )

    def tail_log(self, lines: int = 40) -> str:
        path = self.data_dir / "homeserver.log"
        if not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(data: Path, port: int) -> Path:
    """A hand-written homeserver.yaml (JSON is YAML): client API only, no federation."""
    (data / "log.config").write_text(
        json.dumps(
            {
                "version": 1,
                "formatters": {
                    "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
                },
                "handlers": {
                    "file": {
                        "class": "logging.FileHandler",
                        "formatter": "plain",
                        "filename": str(data / "homeserver.log"),
                    }
                },
                "root": {"level": "WARNING", "handlers": ["file"]},
                "disable_existing_loggers": False,
            }
        )
    )
    config: dict[str, Any] = {
        "server_name": SERVER_NAME,
        "public_baseurl": f"http://127.0.0.1:{port}/",
        "pid_file": str(data / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(data / "homeserver.db")}},
        "log_config": str(data / "log.config"),
        "media_store_path": str(data / "media"),
        "signing_key_path": str(data / "signing.key"),
        "registration_shared_secret": SHARED_SECRET,
        "macaroon_secret_key": uuid.uuid4().hex,
        "form_secret": uuid.uuid4().hex,
        "report_stats": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "presence": {"enabled": False},
        "url_preview_enabled": False,
        # media only for signed-in clients (/_matrix/client/v1/media/...), as current
        # Synapse does by default: relayed attachments must not rely on the old path
        "enable_authenticated_media": True,
        "enable_registration": False,
        "bcrypt_rounds": 4,
        # A /sync repeated within this time gets the earlier answer: a Hearth restarted
        # without its sync token would be handed its previous start's first sync, and the
        # tests of a lost token would see a replay instead of the gap they are about.
        "caches": {"sync_response_cache_duration": 0},
        "rc_message": _BIG,
        "rc_registration": _BIG,
        "rc_login": {"address": _BIG, "account": _BIG, "failed_attempts": _BIG},
        "rc_joins": {"local": _BIG, "remote": _BIG},
        "rc_joins_per_room": _BIG,
        "rc_invites": {"per_room": _BIG, "per_user": _BIG, "per_issuer": _BIG},
        "rc_room_creation": _BIG,
        "rc_profile": _BIG,
        "rc_admin_redaction": _BIG,
        "rc_3pid_validation": _BIG,
        "rc_presence": {"per_user": _BIG},
        "rc_delayed_event_mgmt": _BIG,
        "rc_reports": _BIG,
    }
    path = data / "homeserver.yaml"
    path.write_text(json.dumps(config, indent=1))
    return path


def _wait_ready(server: SynapseServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(server.url + "/_matrix/client/versions", timeout=2):
                return
        except (OSError, urllib.error.URLError):
            pass
        # Synapse has no readiness signal but its HTTP answer: between tries, wait on the
        # one event that would end the wait early, the process exiting.
        try:
            code = server.process.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"Synapse exited with code {code}")
    raise RuntimeError(f"Synapse did not answer within {START_TIMEOUT:.0f}s")


class SynapseStartError(RuntimeError):
    """The server could not be started; the message carries the tail of its output."""


def synapse_data_dir() -> Path:
    """A fresh data directory on tmpfs (where available) for `running_synapse()`."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix="hearth-synapse-", dir=shm if shm.is_dir() else None))


@contextlib.contextmanager
def running_synapse(data_dir: Path | None = None, port: int = 0) -> Iterator[SynapseServer]:
    """Start a Synapse on a free port with its data on tmpfs; SIGTERM and delete at the end.

    Why a context manager apart from the fixture: the Matrix round-trip benchmark
    (`bench/matrix_roundtrip.py`) starts the very same server outside pytest.
    Given `data_dir` (and the `port` of its first start) the server restarts with the
    same users, rooms and tokens: its config is written once and the directory, owned by
    the caller, is kept at the end.
    """
    data = data_dir or synapse_data_dir()
    port = port or _free_port()
    config = data / "homeserver.yaml"
    if data_dir is None or not config.exists():
        config = write_config(data, port)
    process = subprocess.Popen(
        [sys.executable, "-m", "synapse.app.homeserver", "-c", str(config)],
        cwd=data,
        stdout=open(data / "stdout.log", "wb"),  # noqa: SIM115 - lives as long as the server
        stderr=subprocess.STDOUT,
    )
    server = SynapseServer(f"http://127.0.0.1:{port}", SERVER_NAME, data, process)
    try:
        _wait_ready(server)
    except RuntimeError as exc:
        process.kill()
        process.wait()
        output = (data / "stdout.log").read_text(errors="replace")[-3000:]
        if data_dir is None:
            shutil.rmtree(data, ignore_errors=True)
        raise SynapseStartError(f"{exc}. Output:\n{output}") from None
    try:
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if data_dir is None:
            shutil.rmtree(data, ignore_errors=True)


def require_synapse() -> None:
    """Skip without `HEARTH_TEST_SYNAPSE`, fail loudly when matrix-synapse is missing."""
    if os.environ.get("HEARTH_TEST_SYNAPSE", "").lower() == "off":
        pytest.skip("HEARTH_TEST_SYNAPSE=off: the Matrix tests need a real Synapse")
    try:
        import synapse as _synapse  # noqa: F401
    except ImportError as exc:
        pytest.fail(
            f"matrix-synapse is not installed ({exc}); `pip install -e .[dev]` installs it, "
            "or set HEARTH_TEST_SYNAPSE=off to skip the Matrix tests"
        )


@pytest.fixture(scope="session")
def synapse() -> Iterator[SynapseServer]:
    """A running Synapse for the whole session; stopped with SIGTERM at the end."""
    require_synapse()
    try:
        with running_synapse() as server:
            yield server
    except SynapseStartError as exc:
        pytest.fail(f"{exc} (set HEARTH_TEST_SYNAPSE=off to skip)")


def in_thread(root: str) -> dict[str, Any]:
    """The relation a threads-aware client puts on a message sent inside a thread."""
    return {
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": root},
        }
    }
