"""The configuration HAProxy runs with in a fleet: one frontend on the balancer's inference address, one
backend whose servers (the agents) are added and removed at run time through the admin socket.
With the stream relay (HAProxy 3.0+), every request but a WebSocket passes through stream_relay.lua to
an inner frontend on a private socket, so a stream cut by an agent's death ends with an error line.

docs/fleet.md explains every line. Slots are HAProxy's connection limits (each agent's `maxconn`), and
the request buffer is the backend's queue: overflow and queue timeouts are answered with Paddler's
Error envelope. While no agent is up, requests wait at the balancer's waiting room (a backup server)
until one is, as Paddler buffers them until an agent joins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from paddler.web.balancer.haproxy_runtime import BACKEND, WAITING_ROOM
from paddler.web.shared.retry_elsewhere import RETRY_STATUS

# How often HAProxy asks each agent's /ready, and how many answers change its mind.
CHECK_INTERVAL_MS = 500
# Prefix-affinity routing (`--affinity`): the header a client names its conversation with, and how much
# busier than the fleet's average an agent may get before its conversations go to the next agent.
AFFINITY_MODES = ("off", "session", "conversation")
SESSION_HEADER = "X-Session-Id"
HASH_BALANCE_FACTOR = 125
# The buffer a request must fit in for HAProxy to retry it elsewhere (after the waiting room's 425) and
# for `conversation` to read its first messages: HAProxy's default, 16 KB, is a short conversation.
BUFFER_BYTES = 131072
# The largest body the waiting room holds: the rest of the buffer is the request's headers and HAProxy's
# room to rewrite them (tune.maxrewrite).
RETRIED_BODY_BYTES = BUFFER_BYTES - 16384
# The conversation's list under Paddler's API and under OpenAI's.
CONVERSATION_FIELDS = ("conversation_history", "messages")
# The relay's Lua service, and the description of the error line it ends a cut stream with.
RELAY_SCRIPT = Path(__file__).with_name("stream_relay.lua")
CUT_DESCRIPTION = "The agent serving this request stopped answering"
_ENVELOPE = '{"Error":{"request_id":"%[uuid]","error":{"code":CODE,"description":"DESCRIPTION"}}}\n'


@dataclass(frozen=True, slots=True)
class HaproxySettings:
    inference_host: str
    inference_port: int
    max_buffered_requests: int
    buffered_request_timeout_ms: int
    # Where the admin socket, the error bodies and the configuration itself are written.
    directory: Path
    # One of AFFINITY_MODES.
    affinity: str = "off"
    # The loopback port of the balancer's waiting room (0: none, for checking a configuration alone).
    waiting_room_port: int = 0
    # Pass requests through the stream relay (HaproxyProcess turns it on when HAProxy can run it).
    relay: bool = False

    @property
    def admin_socket(self) -> Path:
        return self.directory / "admin.sock"

    @property
    def relay_socket(self) -> Path:
        return self.directory / "relay.sock"

    @property
    def config_path(self) -> Path:
        return self.directory / "haproxy.cfg"


def _envelope(code: int, description: str) -> str:
    return _ENVELOPE.replace("CODE", str(code)).replace("DESCRIPTION", description)


def _bind_address(settings: HaproxySettings) -> str:
    host = settings.inference_host
    return f"[{host}]:{settings.inference_port}" if ":" in host else f"{host}:{settings.inference_port}"


def _conversation_key_rules() -> str:
    """The conversation's key, when the client sent no header: its first message, and the first user
    message after a system prompt (a system prompt alone is shared by many conversations)."""
    no_header = f"!{{ req.hdr({SESSION_HEADER}) -m found }}"
    rules = []
    for name in CONVERSATION_FIELDS:
        rules.append(
            f"    http-request set-var(txn.affinity) req.body,json_query('$.{name}[0].content') "
            f"if {no_header} !{{ var(txn.affinity) -m found }}"
        )
        rules.append(
            f"    http-request set-var(txn.affinity_next) req.body,json_query('$.{name}[1].content') "
            f"if {no_header} {{ req.body,json_query('$.{name}[0].role') -m str system }}"
        )
    return "\n".join(rules) + "\n"


def _balance(affinity: str) -> str:
    """leastconn; with affinity, a consistent hash of the conversation's key, bounded in load (an agent
    more than HASH_BALANCE_FACTOR % as busy as the average passes the key on along the ring)."""
    if affinity == "off":
        return "    balance leastconn\n"
    rules = f"""    balance hash var(txn.affinity),concat(,txn.affinity_next,)
    hash-type consistent
    hash-balance-factor {HASH_BALANCE_FACTOR}
    http-request set-var(txn.affinity) req.hdr({SESSION_HEADER})
"""
    return rules + (_conversation_key_rules() if affinity == "conversation" else "")


def _admission(settings: HaproxySettings) -> str:
    """A full fleet with a full queue answers at once with Paddler's overflow body; the rest go to the
    agents' backend."""
    return f"""    http-request set-var(txn.answered_here) bool(true) if \
{{ be_conn_free({BACKEND}) le 0 }} {{ queue({BACKEND}) ge {settings.max_buffered_requests} }}
    http-request return status 503 content-type application/x-ndjson lf-file {settings.directory}/overflow.fmt \
if {{ var(txn.answered_here) -m bool }}
    default_backend {BACKEND}
"""


def _frontends(settings: HaproxySettings) -> str:
    """The inference frontend; with the relay, it hands every request but a WebSocket (a tunnel, with no
    line to add) to the relay, which sends it on to the inner frontend."""
    outer = f"frontend inference\n    bind {_bind_address(settings)}\n"
    if not settings.relay:
        return outer + _admission(settings)
    relay = "    http-request use-service lua.paddler_relay unless { req.hdr(upgrade) -m found }\n"
    inner = f"frontend relayed\n    bind unix@{settings.relay_socket} mode 600\n"
    return outer + relay + _admission(settings) + "\n" + inner + _admission(settings)


def _relay_globals(settings: HaproxySettings) -> str:
    if not settings.relay:
        return ""
    return f"""    setenv PADDLER_RELAY_INNER unix@{settings.relay_socket}
    setenv PADDLER_RELAY_CUT "{CUT_DESCRIPTION}"
    lua-load-per-thread {RELAY_SCRIPT}
"""


def haproxy_config(settings: HaproxySettings) -> str:
    directory = settings.directory
    return f"""global
    stats socket {settings.admin_socket} mode 600 level admin
    stats timeout 10s
    log stderr format short local0 warning
    tune.bufsize {BUFFER_BYTES}
{_relay_globals(settings)}
defaults
    mode http
    log global
    timeout connect 1s
    # A busy agent on a loaded host may answer /ready late; a dead one refuses the connection at once.
    timeout check 2s
    timeout client 1h
    timeout server 1h
    timeout tunnel 1h
    timeout queue {settings.buffered_request_timeout_ms}ms
    timeout http-request 30s
    option http-server-close
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response {RETRY_STATUS.split()[0]}
    # A request is retried only if HAProxy holds all of it: read the body before picking a server.
    option http-buffer-request

{_frontends(settings)}
backend {BACKEND}
    option abortonclose
{_balance(settings.affinity)}    option httpchk
    http-check send meth GET uri /ready
    http-check expect status 200
    http-response set-var(txn.from_agent) bool(true)
    http-error status 503 content-type application/x-ndjson lf-file {directory}/queue-timeout.fmt
    http-after-response set-status 504 if {{ status 503 }} !{{ var(txn.from_agent) -m bool }} \
!{{ var(txn.answered_here) -m bool }}
    server {WAITING_ROOM} 127.0.0.1:{settings.waiting_room_port} backup
"""


def write_haproxy_files(settings: HaproxySettings) -> Path:
    """Write the configuration and the error bodies it names; returns the configuration's path."""
    directory = settings.directory
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "overflow.fmt").write_text(_envelope(503, "Buffered requests overflow"))
    (directory / "queue-timeout.fmt").write_text(_envelope(504, "Waiting for available slot timed out"))
    settings.config_path.write_text(haproxy_config(settings))
    return settings.config_path
