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


# The default model: WordLlama's 256-d static token embeddings (Llama-2 tokenizer), whose
# weights ship inside the `wordllama` wheel from the package registry, so semantic search
# works on a fresh install with no download at run time. Only its two data files are read
# (with numpy, safetensors and tokenizers): its own loader looks for the tokenizer in
# another folder and then tries to download it.
PACKAGED_MODEL = "wordllama-l2_supercat-256"
_PACKAGED_WEIGHTS = ("weights", "l2_supercat_256.safetensors")
_PACKAGED_TOKENIZER = ("tokenizers", "l2_supercat_tokenizer_config.json")
MAX_TOKENS = 512  # an insight is short; this bounds the work for a pasted essay
INLINE_CHARS = 1000  # up to this much text is embedded on the event loop (~0.2 ms)


class PackagedStaticEmbedder:
    """`Embedder` over a token → vector table: the mean of a text's token vectors.

    The table stays float16 (16 MB); rows are widened to float32 only when pooled."""

    local = True

    def __init__(self, table: Any, tokenizer: Any, name: str) -> None:
        self._table = table
        self._tokenizer = tokenizer
        self.name = f"local:{name}"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        if sum(len(t) for t in texts) <= INLINE_CHARS:
            return self.encode(list(texts))  # a search's words: quicker than a thread hop
        return await asyncio.to_thread(self.encode, list(texts))

    def encode(self, texts: list[str]) -> list[list[float]]:
        import numpy

        # lower case: the tokenizer tells "Meetings" from "meetings"; meaning does not
        encodings = self._tokenizer.encode_batch(
            [t.lower() for t in texts], add_special_tokens=False
        )
        rows = self._table.shape[0]
        vectors = numpy.zeros((len(texts), self._table.shape[1]), dtype=numpy.float32)
        for index, encoding in enumerate(encodings):
            ids = numpy.asarray(encoding.ids[:MAX_TOKENS], dtype=numpy.int64)
            ids = ids[(ids >= 0) & (ids < rows)]
            if ids.size:
                vectors[index] = self._table[ids].astype(numpy.float32).mean(axis=0)
        norms = numpy.linalg.norm(vectors, axis=1, keepdims=True)
        vectors /= numpy.where(norms > 0, norms, 1.0)
        result: list[list[float]] = vectors.tolist()
        return result


def load_packaged_model() -> PackagedStaticEmbedder:
    """The default embedder, from the files inside the installed `wordllama` package."""
    try:
        from importlib import resources

        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        root = resources.files("wordllama")
        weights = root.joinpath(*_PACKAGED_WEIGHTS)
        tokenizer_file = root.joinpath(*_PACKAGED_TOKENIZER)
        with resources.as_file(weights) as path:
            table = next(iter(load_file(str(path)).values()))
        tokenizer = Tokenizer.from_str(tokenizer_file.read_text(encoding="utf-8"))
    except Exception as exc:  # not installed, or a wheel without the files
        raise LocalModelUnavailable(
            f"the packaged embedding model ({PACKAGED_MODEL}) cannot be loaded: {exc}; "
            "reinstall Hearth (pip install -e .) or set assist.semantic_search = false"
        ) from exc
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return PackagedStaticEmbedder(table, tokenizer, PACKAGED_MODEL)
