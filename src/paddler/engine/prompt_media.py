"""The images of one tokenized prompt, as the engine schedules them.

A prompt with images is tokenized by the projector into chunks: runs of text tokens and images. The
request's prompt tokens (what slots cache and prefix matching compares) stay one plain list of ints:
each image fills its positions with one pseudo-token, a negative int taken from the image's digest,
repeated once per KV cell the image takes. Real token ids are never negative, so a pseudo-token never
matches text, and the same image (same pixels, same size) gives the same run in the next turn: the
prefix cache keeps it without encoding it again. A cached prefix may only end at an image's edge:
`image_edge` moves a cut that falls inside one back to where it starts.

Pseudo-tokens never reach a decode batch: text runs are decoded as any prompt, and each image is
written into its slot's sequence by the projector when the request reaches it (evaluate_image).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from paddler.engine.engine_errors import InvalidRequestError

_PSEUDO_TOKEN_RANGE = 1 << 31


def image_token(digest: str) -> int:
    """The pseudo-token of an image: negative, from the first 32 bits of its hex digest."""
    return -1 - (int(digest[:8], 16) % _PSEUDO_TOKEN_RANGE)


@dataclass(frozen=True, slots=True)
class ImageSpan:
    # Offset of the image's first position in the prompt, its KV cells, and its chunk in `chunks`.
    start: int
    length: int
    chunk_index: int
    # Attended non-causally (Gemma 3): all its tokens must go in one micro-batch.
    whole: bool = False

    @property
    def end(self) -> int:
        return self.start + self.length


@dataclass(frozen=True, slots=True)
class PromptMedia:
    # The projector's chunks (paddler.llama.MultimodalChunks), opaque here; only the engine thread
    # evaluates them.
    chunks: Any
    images: tuple[ImageSpan, ...]

    @property
    def image_tokens(self) -> int:
        return sum(image.length for image in self.images)

    def image_at(self, position: int) -> ImageSpan | None:
        """The image whose first position is `position`, if any."""
        for image in self.images:
            if image.start == position:
                return image
        return None

    def text_ahead(self, position: int, pending: int) -> int:
        """How many of the `pending` tokens from `position` on are text before the next image."""
        for image in self.images:
            if image.start >= position:
                return min(pending, image.start - position)
        return pending

    def image_edge(self, length: int) -> int:
        """`length` cached positions, moved back to an image's start when they end inside it."""
        for image in self.images:
            if image.start < length < image.end:
                return image.start
        return length


def prompt_media(chunks: Any, whole: Callable[[int], bool]) -> tuple[list[int], PromptMedia]:
    """The prompt's tokens (pseudo-tokens for images) and its media, from the projector's chunks;
    `whole(index)` says whether image chunk `index` must be decoded in one micro-batch."""
    tokens: list[int] = []
    spans = []
    for index in range(len(chunks)):
        if chunks.kind(index) == "text":
            tokens.extend(int(token) for token in chunks.text_tokens(index))
            continue
        length = chunks.n_tokens(index)
        spans.append(ImageSpan(len(tokens), length, index, whole(index)))
        tokens.extend([image_token(chunks.chunk_id(index))] * length)
    return tokens, PromptMedia(chunks, tuple(spans))


def check_images(media: PromptMedia, prompt_length: int, n_batch: int, n_ubatch: int) -> None:
    """Raises InvalidRequestError for an image that cannot be written in one batch (one micro-batch
    when it must be whole), or a prompt ending with an image (the first token is sampled from the
    prompt's last text token)."""
    for image in media.images:
        if image.length > n_batch:
            raise InvalidRequestError(
                f"image required {image.length} tokens but n_batch is {n_batch}; rerun with a larger n_batch"
            )
        if image.whole and image.length > n_ubatch:
            raise InvalidRequestError(
                f"image required {image.length} tokens in one micro-batch but n_ubatch is {n_ubatch}; "
                "rerun with a larger n_ubatch"
            )
    if media.images and media.images[-1].end >= prompt_length:
        raise InvalidRequestError("the prompt ends with an image; some text must follow it")
