"""Matrix: matrix-nio's AsyncClient against any homeserver (config in bot/config_matrix.py)."""

from adapters.matrix.adapter import MatrixAdapter
from adapters.matrix.content import permalink
from adapters.matrix.outbound import MatrixPort
from bot.config_matrix import MatrixConfig

__all__ = ["MatrixAdapter", "MatrixConfig", "MatrixPort", "permalink"]
