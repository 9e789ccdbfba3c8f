"""Start-up of `paddler serve`, of the gunicorn worker and of `paddler balancer`: the command-line options,
the development servers, the port dispatch that lets one WSGI server serve every service, HAProxy's
configuration and process, and an agent's membership in a fleet."""
