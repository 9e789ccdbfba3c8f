"""The development server's HTTP (Werkzeug's), writing each streamed chunk as one TCP segment."""

from __future__ import annotations

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from paddler.web.shared.thread_reserve import WsgiApp


class StreamingRequestHandler(WSGIRequestHandler):
    """Werkzeug writes a chunk of a streamed answer in four unbuffered writes (its size, CRLF, the data,
    CRLF), each a send() while Nagle's algorithm holds back the small ones: several segments and reader
    wake-ups per token, on the cores the model decodes on. Buffered until Werkzeug's flush after each
    chunk, and sent at once (TCP_NODELAY), a chunk is one send (one token of one stream: 4 -> 1)."""

    wbufsize = -1
    disable_nagle_algorithm = True


def make_wsgi_server(host: str, port: int, app: WsgiApp) -> BaseWSGIServer:
    """A threaded development server for `app` (a thread per connection)."""
    return make_server(host, port, app, threaded=True, request_handler=StreamingRequestHandler)
