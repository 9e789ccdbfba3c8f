"""Paddler's inference API: continue from a raw prompt or a conversation history, embedding batches (NDJSON
over HTTP), and the inference WebSocket; request and result shapes as Paddler's wire."""
