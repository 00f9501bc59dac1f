"""Sentence embeddings with a BERT-style model (all-MiniLM-L6-v2) through TensorFlow, offline."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any, List, Sequence

import numpy as np

BUCKETS = (16, 32, 64, 128)


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings; the forward pass is a compiled tf.function."""

    def __init__(self, model_dir: Path, max_length: int = 128) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import tensorflow as tf
        from transformers import AutoTokenizer, TFAutoModel
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        self.model_dir = Path(model_dir)
        self.max_length = max_length
        self._tf = tf
        self._tokenizer = AutoTokenizer.from_pretrained(str(self.model_dir), local_files_only=True)
        # The fast (Rust) tokenizer keeps its truncation/padding settings as mutable state: two threads
        # tokenizing at once fail with "RuntimeError: Already borrowed". The action server searches in
        # executor threads, so tokenization is serialized; the forward pass needs no lock.
        self._tokenizer_lock = threading.Lock()
        self._model = TFAutoModel.from_pretrained(str(self.model_dir), local_files_only=True)
        spec = tf.TensorSpec(shape=(None, None), dtype=tf.int32)

        @tf.function(input_signature=[spec, spec, spec], reduce_retracing=True)
        def forward(input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self._model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids, training=False
            ).last_hidden_state
            mask = tf.cast(tf.expand_dims(attention_mask, -1), hidden.dtype)
            summed = tf.reduce_sum(hidden * mask, axis=1)
            counts = tf.maximum(tf.reduce_sum(mask, axis=1), 1e-9)
            return tf.math.l2_normalize(summed / counts, axis=1)

        self._forward = forward

    @property
    def dimension(self) -> int:
        return int(self._model.config.hidden_size)

    def _bucket(self, length: int) -> int:
        for size in BUCKETS:
            if length <= size and size <= self.max_length:
                return size
        return self.max_length

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embeddings of `texts`, shape (len(texts), dimension), float32, unit length."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        chunks: List[np.ndarray] = []
        for start in range(0, len(texts), batch_size):
            batch = list(texts[start : start + batch_size])
            with self._tokenizer_lock:
                longest = max(len(ids) for ids in self._tokenizer(batch, truncation=True, max_length=self.max_length)["input_ids"])
                encoded = self._tokenizer(
                    batch,
                    padding="max_length",
                    truncation=True,
                    max_length=self._bucket(longest),
                    return_tensors="np",
                )
            tensors = [self._tf.constant(encoded[key], dtype=self._tf.int32) for key in ("input_ids", "attention_mask", "token_type_ids")]
            chunks.append(self._forward(*tensors).numpy())
        return np.concatenate(chunks).astype(np.float32)
