"""The HTTP and WebSocket services (Flask + flask-sock), one room per API: Paddler's inference and
management APIs, the OpenAI API (with llama-server's utility endpoints), the balancer's management
service for a fleet, and the web admin panel; `create_app.py` builds the apps from the rooms."""
