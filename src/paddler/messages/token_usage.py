"""Token counts reported with the end of every generation (Paddler's `TokenUsage`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TokenUsage:
    prompt_tokens: int = 0
    # Prompt tokens whose KV cache was reused from an earlier request on the same slot.
    cached_prompt_tokens: int = 0
    input_image_tokens: int = 0
    input_audio_tokens: int = 0
    content_tokens: int = 0
    reasoning_tokens: int = 0
    tool_call_tokens: int = 0
    undeterminable_tokens: int = 0

    @property
    def completion_tokens(self) -> int:
        return self.content_tokens + self.reasoning_tokens + self.tool_call_tokens + self.undeterminable_tokens

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def input_tokens(self) -> int:
        """What OpenAI counts as the prompt: its text, image and audio tokens."""
        return self.prompt_tokens + self.input_image_tokens + self.input_audio_tokens
