"""The bot's direct rooms (DMs): where private replies go on Matrix.

Why `m.direct`: it is how Matrix marks a room as a DM (account data, user → rooms), so
it survives restarts and is shared by every Hearth instance on the account; a room with
two members is not a DM (a community's room can be that small). A DM someone starts with
the bot (an invite with `is_direct`) is added to it on join; a DM the bot needs is created
once (`is_direct`, encrypted when encryption is on) and reused while the member is in it.

Why the room is set up by hand after creating it: a private reply is sent from inside the
sync loop, before any sync has shown the new room; with encryption, nio needs the room,
its members and their devices to share the room key (the invited member's devices get
it before they join, as for any invited member).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import structlog
from aiohttp import ClientError
from nio import (  # type: ignore[import-untyped]
    AsyncClient,
    DirectRoomsResponse,
    MatrixRoom,
    RoomCreateResponse,
    SyncResponse,
)
from nio.api import RoomPreset  # type: ignore[import-untyped]

from adapters.matrix.e2e import Encryption
from adapters.matrix.errors import check
from bot.port import Transient

log = structlog.get_logger(__name__)

DIRECT = "m.direct"
ENCRYPTION_STATE = {
    "type": "m.room.encryption",
    "state_key": "",
    "content": {"algorithm": "m.megolm.v1.aes-sha2"},
}


class DirectRooms:
    def __init__(self, client: AsyncClient, encryption: Encryption) -> None:
        self.client = client
        self.encryption = encryption
        self._by_user: dict[str, list[str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def load(self) -> None:
        response = await self.client.list_direct_rooms()
        if isinstance(response, DirectRoomsResponse):
            self._set(response.rooms)

    def saw(self, response: SyncResponse) -> None:
        """Keep in step with `m.direct` changed by another instance or client."""
        for event in response.account_data_events:
            content = getattr(event, "content", None)
            if getattr(event, "type", None) == DIRECT and isinstance(content, dict):
                self._set(content)

    def _set(self, content: dict[str, Any]) -> None:
        self._by_user = {
            str(user): [str(r) for r in rooms]
            for user, rooms in content.items()
            if isinstance(rooms, list)
        }

    def is_direct(self, room_id: str) -> bool:
        return any(room_id in rooms for rooms in self._by_user.values())

    async def joined(self, user_id: str, room_id: str) -> None:
        """A DM someone started with the bot, now joined: mark it as theirs."""
        if room_id not in self._by_user.get(user_id, []):
            await self._remember(user_id, room_id)

    async def room_for(self, user_id: str) -> str:
        """The member's DM with the bot: an existing one they are in, else a new one."""
        async with self._locks.setdefault(user_id, asyncio.Lock()):
            for room_id in reversed(self._by_user.get(user_id, [])):
                room = self.client.rooms.get(room_id)
                if room is not None and user_id in room.users:
                    return room_id
            return await self._create(user_id)

    async def _create(self, user_id: str) -> str:
        encrypted = self.encryption.on
        created = check(
            await self.client.room_create(
                is_direct=True,
                preset=RoomPreset.trusted_private_chat,
                invite=[user_id],
                initial_state=[ENCRYPTION_STATE] if encrypted else [],
            )
        )
        assert isinstance(created, RoomCreateResponse)
        room_id = str(created.room_id)
        await self._remember(user_id, room_id)
        me = self.client.user_id
        room = MatrixRoom(room_id, me, encrypted=encrypted)
        room.add_member(me, None, None)
        room.add_member(user_id, None, None, invited=True)
        room.members_synced = True
        self.client.rooms.setdefault(room_id, room)
        if encrypted:
            self.client.encrypted_rooms.add(room_id)
            self.client.olm.users_for_key_query.add(user_id)
            await self.encryption.upkeep()
        log.info("matrix.dm_created", user=user_id, room=room_id, encrypted=encrypted)
        return room_id

    async def _remember(self, user_id: str, room_id: str) -> None:
        """Add the room to the account's `m.direct` (nio has no call to write it)."""
        rooms = [*self._by_user.get(user_id, []), room_id]
        content = {**self._by_user, user_id: rooms}
        me = quote(self.client.user_id, safe="")
        path = f"/_matrix/client/v3/user/{me}/account_data/{DIRECT}"
        try:
            response = await self.client.send(
                "PUT",
                path,
                json.dumps(content),
                headers={
                    "Authorization": f"Bearer {self.client.access_token}",
                    "Content-Type": "application/json",
                },
            )
        except (OSError, ClientError) as exc:
            raise Transient(f"m.direct not written: {exc!r}") from exc
        async with response:
            if response.status != 200:
                raise Transient(f"m.direct not written: HTTP {response.status}")
        self._by_user = content
