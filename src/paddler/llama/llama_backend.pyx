# cython: language_level=3
"""Process-wide llama.cpp state: backend initialisation (once) and log routing into `logging`.

llama.cpp logs through one global callback, from whichever thread does the work. Messages below the
forwarding threshold are dropped in C without touching the GIL; the rest become records of the
`paddler.llama_cpp` logger. Errors and warnings are also kept for the calling thread while a
`capture_log()` block is open, so failures can name llama.cpp's own reason.
"""

import atexit
import logging
import threading
from contextlib import contextmanager

from paddler.llama.libllama cimport (
    GGML_LOG_LEVEL_CONT,
    GGML_LOG_LEVEL_DEBUG,
    GGML_LOG_LEVEL_ERROR,
    GGML_LOG_LEVEL_INFO,
    GGML_LOG_LEVEL_WARN,
    ggml_log_level,
    llama_backend_init,
    llama_log_set,
    llama_print_system_info,
    llama_supports_gpu_offload,
    llama_version,
)

logger = logging.getLogger("paddler.llama_cpp")

_PYTHON_LEVELS = {
    GGML_LOG_LEVEL_DEBUG: logging.DEBUG,
    GGML_LOG_LEVEL_INFO: logging.INFO,
    GGML_LOG_LEVEL_WARN: logging.WARNING,
    GGML_LOG_LEVEL_ERROR: logging.ERROR,
}

cdef int _forward_threshold = GGML_LOG_LEVEL_WARN
cdef int _last_level = GGML_LOG_LEVEL_INFO
cdef bint _python_alive = False
_init_lock = threading.Lock()
_initialised = False
_thread_state = threading.local()


cdef void _emit(int level, const char * text) noexcept with gil:
    try:
        message = (<bytes>text).decode("utf-8", "replace").rstrip("\n")
        if not message:
            return
        captured = getattr(_thread_state, "captured", None)
        if captured is not None and level >= GGML_LOG_LEVEL_WARN:
            captured.append(message)
        if level >= _forward_threshold:
            python_level = _PYTHON_LEVELS.get(level, logging.INFO)
            if captured is not None and captured.held is not None:
                captured.held.append((python_level, message))
            else:
                logger.log(python_level, "%s", message)
    except BaseException:
        pass  # a logging failure must never unwind into llama.cpp


cdef void _log_callback(ggml_log_level level, const char * text, void * user_data) noexcept nogil:
    global _last_level
    cdef int effective = level
    if level == GGML_LOG_LEVEL_CONT:
        effective = _last_level
    else:
        _last_level = level
    # Warnings and errors always reach Python, so capture_log() sees them even when not forwarded.
    if not _python_alive or (effective < _forward_threshold and effective < GGML_LOG_LEVEL_WARN):
        return
    _emit(effective, text)


def set_log_level(level: int) -> None:
    """Forward llama.cpp messages at `level` (a `logging` level) and above into `logging`."""
    global _forward_threshold
    if level <= logging.DEBUG:
        _forward_threshold = GGML_LOG_LEVEL_DEBUG
    elif level <= logging.INFO:
        _forward_threshold = GGML_LOG_LEVEL_INFO
    elif level <= logging.WARNING:
        _forward_threshold = GGML_LOG_LEVEL_WARN
    else:
        _forward_threshold = GGML_LOG_LEVEL_ERROR


def _stop_forwarding() -> None:
    # At interpreter exit llama.cpp may still log (static destructors); never take the GIL then.
    global _python_alive
    _python_alive = False


def ensure_backend() -> None:
    """Initialise llama.cpp's backends and install the log router; later calls do nothing."""
    global _initialised, _python_alive
    if _initialised:
        return
    with _init_lock:
        if _initialised:
            return
        _python_alive = True
        llama_log_set(_log_callback, NULL)
        with nogil:
            llama_backend_init()
        atexit.register(_stop_forwarding)
        _initialised = True


class CapturedLog(list):
    """llama.cpp's warnings and errors of one block; with `hold`, every forwarded message waits for the
    block's end, so a caller that expected the failure (an abort it asked for) can quiet them."""

    def __init__(self, hold):
        super().__init__()
        self.held = [] if hold else None

    def quiet(self):
        """Log the held messages at DEBUG: they describe an outcome the caller handles."""
        if self.held is not None:
            self.held = [(logging.DEBUG, message) for _, message in self.held]


@contextmanager
def capture_log(hold=False):
    """Collect llama.cpp's warnings and errors raised by this thread inside the block."""
    previous = getattr(_thread_state, "captured", None)
    captured = CapturedLog(hold)
    _thread_state.captured = captured
    try:
        yield captured
    finally:
        _thread_state.captured = previous
        for level, message in captured.held or ():
            logger.log(level, "%s", message)


def version() -> str:
    """llama.cpp's version string."""
    return (<bytes>llama_version()).decode()


def system_info() -> str:
    """The CPU features and backends llama.cpp was built with."""
    ensure_backend()
    return (<bytes>llama_print_system_info()).decode()


def supports_gpu_offload() -> bool:
    ensure_backend()
    return llama_supports_gpu_offload()
