"""A local static embedding model (model2vec) as an `Embedder`: nothing leaves the machine.

Why model2vec: a static model is a token → vector table plus a tokenizer, so it embeds
with numpy alone (no torch, ~150 MB installed, milliseconds per text on a CPU). It is an
optional extra (`pip install 'hearth[embeddings]'`), imported only when configured.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class LocalModelUnavailable(Exception):
    """The configured local model cannot be used; the message says what to do."""


class LocalStaticEmbedder:
    """`Embedder` over a loaded model2vec `StaticModel`; encoding runs in a worker thread."""

    local = True

    def __init__(self, model: Any, name: str) -> None:
        self._model = model
        self.name = f"local:{name}"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self._encode, list(texts))

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vectors = self._model.encode(texts, show_progress_bar=False, use_multiprocessing=False)
        return [[float(x) for x in row] for row in vectors.tolist()]


def load_static_model(path_or_name: str) -> LocalStaticEmbedder:
    """Load from a folder (e.g. saved with `save_pretrained`) or a model hub name such as
    `minishlab/potion-base-8M` (downloaded once into the hub cache)."""
    try:
        from model2vec import StaticModel
    except ImportError:
        raise LocalModelUnavailable(
            "assist.local_embedding_model is set but model2vec is not installed: "
            "pip install 'hearth[embeddings]'"
        ) from None
    local = Path(path_or_name).expanduser()
    try:
        if local.exists():
            model = StaticModel.from_pretrained(local)
            # The folder name for people, a hash of where it is so two folders never mix.
            where = hashlib.sha256(str(local.resolve()).encode()).hexdigest()[:8]
            name = f"{local.name[:100]}@{where}"
        else:
            try:  # use the hub cache when the model is there (older model2vec: always fetch)
                model = StaticModel.from_pretrained(path_or_name, force_download=False)
            except TypeError:
                model = StaticModel.from_pretrained(path_or_name)
            name = path_or_name[:150]
    except Exception as exc:  # the hub client and file loaders raise many kinds
        raise LocalModelUnavailable(
            f"cannot load the local embedding model {path_or_name!r}: {exc}"
        ) from exc
    return LocalStaticEmbedder(model, name)
