"""paddler: a self-hosted LLM serving engine for GGUF models, wire-compatible with Paddler."""

__version__ = "0.1.0"
