"""The knowledge garden on the web: public pages of what communities chose to publish."""

from __future__ import annotations

from bot.garden.site import Garden, descriptions_of

__all__ = ["Garden", "descriptions_of"]
