"""End-to-end encryption for the Matrix adapter, when matrix-nio's `e2e` extra is installed.

Why nio's own store: its SQLite file holds the device's Olm account, the Olm and Megolm
sessions and the device keys it has seen; it lives in `store_path` (one file per
device), never in Hearth's database, so `/export` and database backups carry no key.
Why a stable device: the keys belong to one device id. With an access token the token's
device is used; with a password the device id is saved beside the store and reused at
every login, so a restart keeps its sessions instead of starting a new, keyless device.
Why our own key upkeep: the adapter runs its own sync loop (see adapter.py), so what
nio's `sync_forever` does after each sync (to-device messages, key upload, query, claim)
is done here, then the trust policy is applied to any device seen for the first time:
`tofu` marks it verified (nio pins its keys: a device whose keys change later is refused),
`listed` verifies only `trusted_devices` and blacklists the rest (they get no room keys).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import structlog
from nio import (  # type: ignore[import-untyped]
    AsyncClient,
    AsyncClientConfig,
    ErrorResponse,
    MegolmEvent,
)

from adapters.matrix.errors import check
from bot.config_matrix import MatrixConfig

log = structlog.get_logger(__name__)


def available() -> bool:
    """Whether matrix-nio can encrypt here (its `e2e` extra: vodozemac, peewee...).

    vodozemac is imported, not only looked up: nio's own flag is fixed when nio.crypto is
    first imported and says nothing of a wheel that is present but cannot load."""
    try:
        import vodozemac  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
        from nio.crypto import ENCRYPTION_ENABLED  # type: ignore[import-untyped]
    except ImportError:
        return False
    return bool(ENCRYPTION_ENABLED)


MISSING = (
    "Matrix has encryption = true, but matrix-nio's e2e extra (vodozemac) is not installed: "
    "encrypted rooms and DMs will only get a notice that I cannot read them; install it with "
    "pip install 'hearth[e2e]' (or set encryption = false)."
)


def missing_extra(config: MatrixConfig) -> str | None:
    """The sentence `hearth check-config` says when encryption is asked for but cannot be."""
    return MISSING if config.enabled and config.encryption and not available() else None


def wanted(config: MatrixConfig) -> bool:
    return config.encryption and available()


def store_dir(config: MatrixConfig) -> Path:
    """The account's own directory under `store_path` (created private to this user)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", config.user_id.lstrip("@"))
    path = config.store_path / safe
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def client_config(config: MatrixConfig, **limits: Any) -> AsyncClientConfig:
    if not wanted(config):
        return AsyncClientConfig(encryption_enabled=False, **limits)
    extra = {"pickle_key": config.store_passphrase} if config.store_passphrase else {}
    return AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False, **extra, **limits)


class DeviceFile:
    """The device id a password login reuses, saved beside the store."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "device_id"

    def read(self) -> str:
        return self.path.read_text().strip() if self.path.exists() else ""

    def write(self, device_id: str) -> None:
        if device_id and device_id != self.read():
            self.path.write_text(device_id + "\n")


class Encryption:
    """Key upkeep and the trust policy for one logged-in client with a loaded store."""

    def __init__(self, client: AsyncClient, config: MatrixConfig) -> None:
        self.client = client
        self.config = config
        self._listed = {tuple(entry.split("/", 1)) for entry in config.trusted_devices}

    @property
    def on(self) -> bool:
        return self.client.olm is not None

    async def upkeep(self) -> None:
        """What nio's sync_forever does after a sync: to-device, keys up, query, claim."""
        if not self.on:
            return
        client = self.client
        await client.send_to_device_messages()
        if client.should_upload_keys:
            response = await client.keys_upload()
            if isinstance(response, ErrorResponse):
                log.warning("matrix.keys_upload_failed", error=str(response))
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        self.apply_trust()

    def apply_trust(self) -> None:
        """Decide about every device not decided yet (policy in the module docstring)."""
        if not self.on:
            return
        for device in self.client.device_store:
            if device.verified or device.blacklisted or device.deleted:
                continue
            if device.user_id == self.client.user_id and device.id == self.client.device_id:
                continue
            if self.config.trust == "tofu" or (device.user_id, device.id) in self._listed:
                self.client.verify_device(device)
                log.info("matrix.device_trusted", user=device.user_id, device=device.id)
            elif not device.blacklisted:
                self.client.blacklist_device(device)
                log.info("matrix.device_refused", user=device.user_id, device=device.id)

    def readable(self, room_id: str, event: Any) -> Any:
        """A fetched event (`/event`, `/relations`) decrypted when it can be; else as is."""
        if not self.on or not isinstance(event, MegolmEvent):
            return event
        event.room_id = room_id
        try:
            return self.client.decrypt_event(event)
        except Exception as exc:  # no key for it (yet): the caller sees an encrypted event
            log.info("matrix.undecryptable", event_id=event.event_id, error=str(exc))
            return event

    def trusted_sender(self, room_id: str, event: Any) -> bool:
        """With `listed`, an event in an encrypted room counts only if it was encrypted by
        a listed device (matched by its curve25519 key, after this sync's key query)."""
        if self.config.trust != "listed" or not self.on:
            return True
        room = self.client.rooms.get(room_id)
        if room is None or not room.encrypted:
            return True
        if not getattr(event, "decrypted", False):
            return isinstance(event, MegolmEvent)  # undecryptable: logged, never acted on
        key = getattr(event, "sender_key", None)
        for device in self.client.device_store.active_user_devices(event.sender):
            if device.curve25519 == key:
                return (event.sender, device.id) in self._listed
        return False


async def sign_in(client: AsyncClient, config: MatrixConfig) -> None:
    """Log in (password) or restore the token, on a device that stays the same, and load
    the key store for that device when encryption is on."""
    if config.access_token:
        device = config.device_id
        if not device and wanted(config):  # the token's own device: the store is per device
            client.user_id, client.access_token = config.user_id, config.access_token
            device = str(getattr(check(await client.whoami()), "device_id", "") or "")
        client.restore_login(config.user_id, device, config.access_token)
    else:
        saved = DeviceFile(store_dir(config)) if wanted(config) else None
        if saved is not None and not client.device_id:
            client.device_id = saved.read() or None
        check(await client.login(config.password, device_name="Hearth"))
        if saved is not None:
            saved.write(client.device_id)
    whoami = check(await client.whoami())
    if getattr(whoami, "device_id", None) and not client.device_id:
        client.device_id = whoami.device_id
    if wanted(config) and client.olm is None:
        log.warning("matrix.e2e_off", reason="no device id: encrypted rooms get a notice")
    log.info("matrix.session", device=client.device_id, encryption=client.olm is not None)
