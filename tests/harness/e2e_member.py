"""A room member with a real matrix-nio E2E client (keys, Olm/Megolm), as Element would be.

The client syncs in the background (`sync_forever`: key upload, query and claim, to-device
messages), shares its room keys with every device in the room (as Element does for
unverified devices) and keeps every decrypted message it sees. Waiting is on its own
sync notifications (`client.synced`), never on sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nio import (  # type: ignore[import-untyped]
    AsyncClient,
    AsyncClientConfig,
    InviteMemberEvent,
    MatrixRoom,
    MegolmEvent,
    RoomMessage,
    RoomSendResponse,
)

from tests.fakes.synapse_server import MatrixUser, SynapseServer

WAIT = 60.0


class E2EMember:
    def __init__(self, server: SynapseServer, user: MatrixUser, store: Path) -> None:
        store.mkdir(parents=True, exist_ok=True)
        self.user = user
        self.client = AsyncClient(
            server.url,
            user.user_id,
            device_id=user.device_id,
            store_path=str(store),
            config=AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True),
        )
        self.client.restore_login(user.user_id, user.device_id, user.access_token)
        self.messages: dict[str, list[dict[str, Any]]] = {}  # room id → decrypted sources
        self.undecrypted: list[str] = []
        self.invites: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self.client.add_event_callback(self._message, RoomMessage)
        self.client.add_event_callback(self._encrypted, MegolmEvent)
        self.client.add_event_callback(self._invited, InviteMemberEvent)

    async def _message(self, room: MatrixRoom, event: RoomMessage) -> None:
        self.messages.setdefault(room.room_id, []).append(event.source)

    async def _encrypted(self, room: MatrixRoom, event: MegolmEvent) -> None:
        self.undecrypted.append(event.event_id)

    async def _invited(self, room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key == self.user.user_id and event.membership == "invite":
            self.invites.append(room.room_id)

    async def start(self) -> None:
        if self.client.should_upload_keys:
            await self.client.keys_upload()
        self._task = asyncio.create_task(self.client.sync_forever(timeout=1000))
        await self.synced()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.client.close()

    async def synced(self) -> None:
        async with asyncio.timeout(WAIT):
            await self.client.synced.wait()

    async def until(self, condition: Callable[[], bool]) -> None:
        """Sync by sync until `condition` holds."""
        async with asyncio.timeout(WAIT):
            while not condition():
                await self.client.synced.wait()

    async def join(self, room_id: str) -> None:
        await self.client.join(room_id)
        await self.until(lambda: room_id in self.client.rooms)

    async def knows_devices_of(self, user_id: str, room_id: str) -> None:
        """Until `user_id` is in the room and one of their devices is known here (so the
        next message's room key reaches them)."""

        def ready() -> bool:
            room = self.client.rooms.get(room_id)
            devices = self.client.device_store.active_user_devices(user_id)
            return room is not None and user_id in room.users and any(True for _ in devices)

        await self.until(ready)

    async def send(self, room_id: str, content: dict[str, Any]) -> str:
        response = await self.client.room_send(
            room_id, "m.room.message", content, ignore_unverified_devices=True
        )
        assert isinstance(response, RoomSendResponse), response
        return str(response.event_id)

    async def say(self, room_id: str, text: str, **extra: Any) -> str:
        return await self.send(room_id, {"msgtype": "m.text", "body": text, **extra})

    def seen(self, room_id: str) -> list[dict[str, Any]]:
        return list(self.messages.get(room_id, []))

    async def reply_to(self, room_id: str, event_id: str) -> dict[str, Any]:
        """The one notice (decrypted) that answers `event_id`."""

        def answers() -> list[dict[str, Any]]:
            return [
                e["content"]
                for e in self.seen(room_id)
                if e["content"].get("msgtype") == "m.notice"
                and ((e["content"].get("m.relates_to") or {}).get("m.in_reply_to") or {}).get(
                    "event_id"
                )
                == event_id
            ]

        await self.until(lambda: bool(answers()))
        (answer,) = answers()
        return answer
