"""Benchmarks against llama.cpp's own tools, built from the same vendored source: the binding against
llama-bench, and the server against llama-server over HTTP (ratios in one run; results in docs/benchmarks/)."""
