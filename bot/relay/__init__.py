"""Constellation relays: threads copied between linked communities, in both directions."""
