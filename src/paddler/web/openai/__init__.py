"""The OpenAI-compatible API: chat completions, completions, the Responses API, embeddings and models,
with OpenAI's request and error shapes."""
