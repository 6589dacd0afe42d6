"""A local static embedding model (model2vec) as an `Embedder`: nothing leaves the machine.

Why model2vec: a static model is a token → vector table plus a tokenizer, so it embeds
with numpy alone (no torch, ~150 MB installed, milliseconds per text on a CPU). It is an
optional extra (`pip install 'hearth[embeddings]'`), imported only when configured.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from bot.assist.semantic import Embedder, EmbeddingFailed


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


def static_model_name(path_or_name: str) -> str:
    """What vectors of this model are labelled with, known before loading it."""
    local = Path(path_or_name).expanduser()
    if local.exists():
        # The folder name for people, a hash of where it is so two folders never mix.
        where = hashlib.sha256(str(local.resolve()).encode()).hexdigest()[:8]
        return f"{local.name[:100]}@{where}"
    return path_or_name[:150]


_NO_MODEL2VEC = (
    "assist.local_embedding_model is set but model2vec is not installed: "
    "pip install 'hearth[embeddings]'"
)


def _require_model2vec() -> None:
    if find_spec("model2vec") is None:
        raise LocalModelUnavailable(_NO_MODEL2VEC)


def load_static_model(path_or_name: str) -> LocalStaticEmbedder:
    """Load from a folder (e.g. saved with `save_pretrained`) or a model hub name such as
    `minishlab/potion-base-8M` (downloaded once into the hub cache)."""
    try:
        from model2vec import StaticModel
    except ImportError:  # absent, or present but broken
        raise LocalModelUnavailable(_NO_MODEL2VEC) from None

    local = Path(path_or_name).expanduser()
    name = static_model_name(path_or_name)
    try:
        if local.exists():
            model = StaticModel.from_pretrained(local)
        else:
            try:  # use the hub cache when the model is there (older model2vec: always fetch)
                model = StaticModel.from_pretrained(path_or_name, force_download=False)
            except TypeError:
                model = StaticModel.from_pretrained(path_or_name)
    except Exception as exc:  # the hub client and file loaders raise many kinds
        raise LocalModelUnavailable(
            f"cannot load the local embedding model {path_or_name!r}: {exc}"
        ) from exc
    return LocalStaticEmbedder(model, name)


# The default before MiniLM on numpy (adapters/minilm.py), now opt-in
# (`local_embedding_model = "packaged:wordllama"`, extra `wordllama`): WordLlama's 256-d
# static token embeddings (Llama-2 tokenizer), whose weights ship inside the `wordllama`
# wheel. Only its two data files are read (with numpy, safetensors and tokenizers): its own
# loader looks for the tokenizer in another folder and then tries to download it. It
# embeds in 0.2 ms against MiniLM's ~15 ms but finds fewer paraphrases (recall@5 0.74
# against 0.84, bench/search_relevance.py).
PACKAGED_MODEL = "wordllama-l2_supercat-256"
WORDLLAMA_SETTING = "packaged:wordllama"  # assist.local_embedding_model's value for it
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
    """The WordLlama embedder, from the files inside the installed `wordllama` package."""
    try:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        root = _packaged_root()
        table = next(iter(load_file(str(root.joinpath(*_PACKAGED_WEIGHTS))).values()))
        tokenizer_file = root.joinpath(*_PACKAGED_TOKENIZER)
        tokenizer = Tokenizer.from_str(tokenizer_file.read_text(encoding="utf-8"))
    except Exception as exc:  # not installed, or a wheel without the files
        raise LocalModelUnavailable(
            f"the packaged embedding model ({PACKAGED_MODEL}) cannot be loaded: {exc}; "
            "pip install -e '.[wordllama]', or leave assist.local_embedding_model empty"
        ) from exc
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return PackagedStaticEmbedder(table, tokenizer, PACKAGED_MODEL)


def _packaged_root() -> Path:
    """The installed wordllama package's folder, found without importing it (its
    `__init__` imports its own model code, numpy and tokenizers)."""
    spec = find_spec("wordllama")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the wordllama package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def _packaged_files_present() -> None:
    """The packaged model's two files are installed (without reading them)."""
    try:
        root = _packaged_root()
        missing = [
            "/".join(parts)
            for parts in (_PACKAGED_WEIGHTS, _PACKAGED_TOKENIZER)
            if not root.joinpath(*parts).is_file()
        ]
    except FileNotFoundError:
        missing = ["the wordllama package"]
    if missing:
        raise LocalModelUnavailable(
            f"the packaged embedding model ({PACKAGED_MODEL}) cannot be loaded: "
            f"{', '.join(missing)} not installed; pip install -e '.[wordllama]', "
            "or leave assist.local_embedding_model empty"
        )


class LazyEmbedder:
    """An `Embedder` that loads its model at the first embedding, not at start.

    Why: the model and numpy add ~70 MiB to an idle bot that may never search; loading
    takes about half a second, once, in a worker thread, while concurrent first callers
    wait for the same load. If loading fails, that call (and each later one, which
    retries) raises EmbeddingFailed, so search falls back to full text and saves are
    embedded later (the search back-fill, `hearth reindex`).
    """

    local = True

    def __init__(self, name: str, load: Callable[[], Embedder]) -> None:
        self.name = name
        self._load = load
        self._model: Embedder | None = None
        self._loading: asyncio.Lock | None = None

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> Embedder:
        """Load now (blocking): `hearth check-config` proves the model works."""
        if self._model is None:
            self._model = self._load()
        return self._model

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        model = self._model
        if model is None:
            self._loading = self._loading or asyncio.Lock()
            async with self._loading:
                if self._model is None:
                    try:
                        self._model = await asyncio.to_thread(self._load)
                    except LocalModelUnavailable as exc:
                        raise EmbeddingFailed(str(exc)) from exc
                model = self._model
        return await model.embed(texts)


def packaged_model() -> LazyEmbedder:
    """The WordLlama embedder, loaded at its first use; its files are checked now."""
    _packaged_files_present()
    return LazyEmbedder(f"local:{PACKAGED_MODEL}", load_packaged_model)


def static_model(path_or_name: str) -> Embedder:
    """A configured model2vec model: from a folder, loaded at its first use (model2vec is
    checked now); a hub name is loaded now, so a wrong name or a missing download is
    said at start rather than at the first search."""
    _require_model2vec()
    if not Path(path_or_name).expanduser().is_dir():
        return load_static_model(path_or_name)
    return LazyEmbedder(
        f"local:{static_model_name(path_or_name)}", lambda: load_static_model(path_or_name)
    )
