"""Paddler's management API: the agent list and its event stream, buffered requests, metrics, and the
desired state (model download, application, saved state file)."""
