"""Prompts with images through the engine (the default model with a tiny random projector): each image is
written into its slot between the prompt's text runs, tokens stream after it, usage counts it apart from
the text, and the same image in the next turn is kept from the cache instead of being encoded again."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy
import pytest

from paddler.engine.engine_errors import InvalidRequestError
from paddler.engine.prompt_media import image_token
from paddler.messages.generate_tokens_params import GenerateTokensParams
from paddler.messages.generated_token_result import GeneratedToken, GeneratedTokenResult, GenerationDone
from paddler.messages.prompt_image import IMAGE_MARKER, PromptImage
from paddler.messages.sampling_params import GREEDY

from .conftest import EngineFactory, chat_prompt, text_of

IMAGE_TOKENS = 4  # the tiny projector's embeddings per image


def picture(seed: int, width: int = 40, height: int = 30) -> PromptImage:
    pixels = numpy.random.default_rng(seed).integers(0, 256, size=width * height * 3, dtype=numpy.uint8)
    return PromptImage(width, height, pixels.tobytes())


def ask(engine_prompt: str, *images: PromptImage, max_tokens: int = 8) -> GenerateTokensParams:
    return GenerateTokensParams(engine_prompt, max_tokens, GREEDY, images=images)


def done_of(results: list[GeneratedTokenResult]) -> GenerationDone:
    done = results[-1]
    assert isinstance(done, GenerationDone), done
    return done


def test_a_prompt_with_an_image_streams_tokens_and_counts_the_image_apart(
    engine_factory: EngineFactory, tiny_projector_path: Path
) -> None:
    engine = engine_factory(slots=2, projector_path=tiny_projector_path)
    assert engine.model_info is not None
    assert engine.model_info.supports_images
    results = list(engine.submit_generation(ask(chat_prompt(f"What is this? {IMAGE_MARKER}"), picture(1))))
    done = done_of(results)
    assert any(isinstance(result, GeneratedToken) for result in results)
    assert done.usage.input_image_tokens == IMAGE_TOKENS
    text_only = engine.tokenize(chat_prompt("What is this? "))
    # The projector's markers around the image (Gemma 3's <start_of_image>, <end_of_image>) are text.
    assert done.usage.prompt_tokens > len(text_only)
    assert done.usage.content_tokens + done.usage.undeterminable_tokens > 0


def test_the_same_image_in_the_next_turn_comes_from_the_cache(
    engine_factory: EngineFactory, tiny_projector_path: Path
) -> None:
    engine = engine_factory(slots=1, projector_path=tiny_projector_path)
    first_prompt = chat_prompt(f"Describe {IMAGE_MARKER} please")
    first = list(engine.submit_generation(ask(first_prompt, picture(2))))
    first_done = done_of(first)
    follow_up = first_prompt + text_of(first) + "<|im_end|>\n<|im_start|>user\nAnd more?<|im_end|>\n"
    # The same pixels, decoded anew by the client: the same digest, so the same pseudo-tokens.
    second_done = done_of(list(engine.submit_generation(ask(follow_up, picture(2)))))
    first_length = first_done.usage.prompt_tokens + first_done.usage.input_image_tokens
    assert second_done.usage.cached_prompt_tokens >= first_length
    # Another picture in the same place: the cache stops where that picture starts.
    other = done_of(list(engine.submit_generation(ask(follow_up, picture(3)))))
    image_start = len(engine.tokenize(chat_prompt("Describe ")[: -len(" please<|im_end|>\n<|im_start|>assistant\n")]))
    assert other.usage.cached_prompt_tokens < first_length
    assert other.usage.cached_prompt_tokens >= image_start


def test_images_and_text_requests_batch_together(engine_factory: EngineFactory, tiny_projector_path: Path) -> None:
    engine = engine_factory(slots=3, projector_path=tiny_projector_path)
    requests = [
        ask(chat_prompt(f"One {IMAGE_MARKER} and two {IMAGE_MARKER}"), picture(4), picture(5), max_tokens=12),
        ask(chat_prompt(f"{IMAGE_MARKER}{IMAGE_MARKER} side by side"), picture(6), picture(6), max_tokens=12),
        ask(chat_prompt("Just text, no picture"), max_tokens=12),
    ]
    outcomes: dict[int, GenerationDone] = {}

    def run(index: int) -> None:
        outcomes[index] = done_of(list(engine.submit_generation(requests[index])))

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [outcomes[index].usage.input_image_tokens for index in range(3)] == [8, 8, 0]
    assert all(outcome.usage.completion_tokens > 0 for outcome in outcomes.values())


def test_what_can_never_run_is_refused_before_it_is_queued(
    engine_factory: EngineFactory, tiny_projector_path: Path
) -> None:
    text_engine = engine_factory(slots=1)
    with pytest.raises(InvalidRequestError, match="does not support multimodal"):
        text_engine.submit_generation(ask(chat_prompt(IMAGE_MARKER), picture(1)))
    engine = engine_factory(slots=1, n_batch=2, n_ubatch=2, projector_path=tiny_projector_path)
    with pytest.raises(InvalidRequestError, match="image required 4 tokens but n_batch is 2"):
        engine.submit_generation(ask(chat_prompt(IMAGE_MARKER), picture(1)))
    # Gemma 3's images are attended non-causally: one micro-batch holds each whole.
    narrow = engine_factory(slots=1, n_ubatch=2, projector_path=tiny_projector_path)
    with pytest.raises(InvalidRequestError, match="4 tokens in one micro-batch but n_ubatch is 2"):
        narrow.submit_generation(ask(chat_prompt(IMAGE_MARKER), picture(1)))
    with pytest.raises(InvalidRequestError, match="2 image places for 1 images"):
        engine.submit_generation(ask(chat_prompt(IMAGE_MARKER * 2), picture(1)))


def test_pseudo_tokens_are_negative_and_follow_the_pixels() -> None:
    assert image_token(picture(1).digest) == image_token(picture(1).digest) < 0
    assert image_token(picture(1).digest) != image_token(picture(2).digest)
    assert picture(1).digest != picture(1, width=30, height=40).digest


def test_an_image_without_room_in_the_kv_cache_makes_room_as_a_decode_does(
    engine_factory: EngineFactory, tiny_projector_path: Path
) -> None:
    # One pool of 256 cells (llama.cpp's smallest); idle caches stay in it (no host offload).
    engine = engine_factory(slots=2, context_size=256, prompt_cache_bytes=0, projector_path=tiny_projector_path)
    prompt = chat_prompt(f"Look {IMAGE_MARKER} now")
    _, media = engine._status.tokenizer.tokenize_with_images(prompt, (picture(7),))
    head = media.images[0].start
    # An idle slot keeps just enough cells that the image's text fits and the image does not.
    filler = "x" + " a" * (256 - head - 2)
    while len(engine.tokenize(filler)) > 256 - head - 2:
        filler = filler[:-2]
    assert isinstance(list(engine.submit_generation(GenerateTokensParams(filler, 1, GREEDY)))[-1], GenerationDone)
    done = done_of(list(engine.submit_generation(ask(prompt, picture(7), max_tokens=4))))
    assert done.usage.input_image_tokens == IMAGE_TOKENS
    assert engine.stats().kv_evictions == 0  # the idle cache made the room, no request was evicted


def test_requests_sharing_an_opening_with_an_image_answer_as_without_sharing(
    engine_factory: EngineFactory, tiny_projector_path: Path
) -> None:
    """The image sits inside the common opening: the requests after the first take it, image included,
    from the first one's slot (prefix sharing across slots) instead of writing it again."""
    opening = "Notes: " + " ".join(["lantern", "harbor", "meadow", "copper"] * 20) + f" {IMAGE_MARKER} "
    questions = ["What is in the picture?", "Name its colours.", "Is it large?", "Where was it taken?"]
    requests = [ask(chat_prompt(opening + question), picture(7), max_tokens=6) for question in questions]
    alone = engine_factory(slots=1, projector_path=tiny_projector_path, prefix_sharing=False)
    expected = [text_of(list(alone.submit_generation(request))) for request in requests]
    engine = engine_factory(slots=4, projector_path=tiny_projector_path)
    outcomes: dict[int, list[GeneratedTokenResult]] = {}

    def run(index: int) -> None:
        outcomes[index] = list(engine.submit_generation(requests[index]))

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert [text_of(outcomes[index]) for index in range(len(requests))] == expected
    # Every request counts the image in its usage; those that shared count it as cached too.
    assert all(done_of(outcomes[index]).usage.input_image_tokens == IMAGE_TOKENS for index in outcomes)
    assert engine.stats().shared_prompt_tokens > IMAGE_TOKENS
