"""Start-up of `paddler serve` and of the gunicorn worker: the command-line options, the development
servers, and the port dispatch that lets one WSGI server serve every service."""
