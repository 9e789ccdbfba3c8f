"""Continuous batching over the binding: one engine thread owns every llama.cpp handle."""
