"""Plain data shared by the web layer and the engine: validated request parameters and stream results."""
