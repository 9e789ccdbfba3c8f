"""Small helpers the model tests share: prompt building and a greedy decode loop over the binding."""

from __future__ import annotations

from paddler.llama import DecodeOutcome, LlamaBatch, LlamaContext, LlamaModel, LlamaSampler


def chat_prompt(question: str) -> str:
    return (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"
        f"<|im_start|>user\n{question}<|im_end|>\n<|im_start|>assistant\n"
    )


def prompt_tokens(model: LlamaModel, question: str) -> list[int]:
    return model.vocab.tokenize(chat_prompt(question), add_special=True, parse_special=True)


def generate(
    model: LlamaModel,
    context: LlamaContext,
    sampler: LlamaSampler,
    prompt: list[int],
    *,
    max_tokens: int,
    seq_id: int = 0,
) -> list[int]:
    """Decode `prompt` into sequence `seq_id`, then sample until end of generation or max_tokens."""
    batch = LlamaBatch(max(len(prompt), 1))
    last_index = batch.add_sequence(prompt, 0, seq_id)
    generated: list[int] = []
    position = len(prompt)
    while len(generated) < max_tokens:
        assert context.decode(batch) is DecodeOutcome.OK
        token = sampler.sample(context, last_index)
        if model.vocab.is_eog(token):
            break
        generated.append(token)
        batch.clear()
        last_index = batch.add(token, position, seq_id, output=True)
        position += 1
    return generated
