"""Emoji and CJK split across byte-level tokens arrive whole: no message carries half a character."""

from __future__ import annotations

from paddler.messages.generate_tokens_params import GenerateTokensParams, GrammarConstraint
from paddler.messages.generated_token_result import GeneratedToken, GenerationDone
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory, chat_prompt

TEXT = "🦙🔥 你好，世界 👩‍👩‍👧 café"


def test_multi_byte_characters_stream_whole(engine_factory: EngineFactory) -> None:
    engine = engine_factory(slots=1)
    grammar = GrammarConstraint('root ::= "' + TEXT + '"')
    results = list(engine.submit_generation(GenerateTokensParams(chat_prompt("Say something."), 64, GREEDY, grammar)))
    done = results[-1]
    assert isinstance(done, GenerationDone)
    pieces = [result.text for result in results if isinstance(result, GeneratedToken)]
    assert "".join(pieces) == TEXT
    assert all("\ufffd" not in piece for piece in pieces)
    assert done.usage.completion_tokens > len(pieces), "some tokens were partial characters held back"
