"""The HTTP and WebSocket services (Flask + flask-sock), speaking Paddler's wire format."""
