"""The OpenAI-compatible API as llama-server extends it: chat completions, completions, the Responses API,
embeddings and models, with OpenAI's request and error shapes, and llama-server's utility endpoints
(tokenize, detokenize, apply-template, props)."""
