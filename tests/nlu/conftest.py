"""The NLU components built as Rasa builds them: `create(config, model_storage, resource, execution_context)`.

The fixtures are those of Rasa's own component tests (`default_model_storage`,
`default_execution_context`); `parse` turns a user message into the NLU `Message` the way Rasa does
at run time (its `NLUMessageConverter`) and runs the project's pipeline head on it: the tokenizer,
then the entity extractor.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.graph_components.converters.nlu_message_converter import NLUMessageConverter
from rasa.shared.nlu.training_data.message import Message

from nlu.components.mixed_tokenizer import MixedTokenizer
from nlu.components.tax_entities import TaxEntityExtractor


@pytest.fixture()
def default_model_storage(tmp_path: Path) -> ModelStorage:
    return LocalModelStorage.create(tmp_path)


@pytest.fixture()
def default_execution_context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), uuid.uuid4().hex)


@pytest.fixture()
def tokenizer(default_model_storage: ModelStorage, default_execution_context: ExecutionContext) -> MixedTokenizer:
    return MixedTokenizer.create(
        {**MixedTokenizer.get_default_config()}, default_model_storage, Resource("tokenizer"), default_execution_context
    )


@pytest.fixture()
def make_extractor(
    default_model_storage: ModelStorage, default_execution_context: ExecutionContext
) -> Callable[..., TaxEntityExtractor]:
    def make(**config: Any) -> TaxEntityExtractor:
        return TaxEntityExtractor.create(
            {**TaxEntityExtractor.get_default_config(), **config},
            default_model_storage,
            Resource("tax_entities"),
            default_execution_context,
        )

    return make


@pytest.fixture()
def to_message(
    default_model_storage: ModelStorage, default_execution_context: ExecutionContext
) -> Callable[..., Message]:
    """The NLU Message Rasa makes of a user's text (and the page's metadata)."""
    converter = NLUMessageConverter.create({}, default_model_storage, Resource("converter"), default_execution_context)

    def convert(text: str, metadata: Optional[Dict[str, Any]] = None) -> Message:
        (message,) = converter.convert_user_message([UserMessage(text, metadata=metadata)])
        return message

    return convert


@pytest.fixture()
def parse(
    tokenizer: MixedTokenizer, make_extractor: Callable[..., TaxEntityExtractor], to_message: Callable[..., Message]
) -> Callable[..., Message]:
    """A user's text through the tokenizer and the entity extractor, in the pipeline's order (config.yml)."""
    extractor = make_extractor()

    def run(text: str, metadata: Optional[Dict[str, Any]] = None) -> Message:
        message = to_message(text, metadata)
        tokenizer.process([message])
        extractor.process([message])
        return message

    return run
