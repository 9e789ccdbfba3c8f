"""The one thread that applies desired states, in the order they were accepted, the last one winning.

An application waiting for its turn is replaced by a newer one (only the last PUT matters), one that is
running finishes first (an engine swap is never interrupted), and one that asks to be retried later
(no model could be loaded) is retried until it succeeds or a newer one arrives.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)

# Runs one attempt; returns the seconds after which to attempt it again, or None when it is done.
Application = Callable[[], float | None]


class StateApplier:
    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._pending: Application | None = None
        self._running = False
        self._thread: threading.Thread | None = None

    def submit(self, application: Application) -> None:
        """Run `application` after the one running now, in place of any still waiting."""
        with self._condition:
            self._pending = application
            self._condition.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="paddler-apply-state", daemon=True)
                self._thread.start()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing runs or waits (retries pending count as idle); False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: self._pending is None and not self._running, timeout)

    def _next(self) -> Application:
        with self._condition:
            self._condition.wait_for(lambda: self._pending is not None)
            application, self._pending = self._pending, None
            self._running = True
            assert application is not None
            return application

    def _attempt(self, application: Application) -> float | None:
        try:
            return application()
        except Exception:  # the thread must outlive any application
            logger.exception("applying a desired state failed")
            return None
        finally:
            with self._condition:
                self._running = False
                self._condition.notify_all()

    def _run(self) -> None:
        while True:
            application = self._next()
            retry_after = self._attempt(application)
            while retry_after is not None:
                with self._condition:
                    if self._condition.wait_for(lambda: self._pending is not None, retry_after):
                        break
                    self._running = True
                retry_after = self._attempt(application)
