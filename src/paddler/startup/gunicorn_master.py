"""What gunicorn's master does before it forks the worker (the hooks in gunicorn.conf.py call these).

One process serves one engine: a second worker would be a second engine with its own agent id, its own
model after a PUT, its own /metrics and its own download of the same file, behind one address. So more
than one worker is refused; scale out with more processes behind a load balancer instead.

Models are fetched here, in the master, and not in the worker: gunicorn kills a worker that has not
reported within its timeout, and a worker reports only once it serves, so a download inside the worker's
boot (the default model, or the model a saved desired state names) would be killed and restarted for
ever once it outlasts the timeout. The master has no such timeout; the worker then finds the files in
the cache. This module stays clear of the binding: nothing of llama.cpp is loaded before the fork.
"""

from __future__ import annotations

import logging
import shlex
from pathlib import Path

from paddler.default_model import fetch_default_model
from paddler.web.management.model_download import check_url, huggingface_model_path, url_model_path
from paddler.web.shared.desired_state import (
    BalancerDesiredState,
    HuggingFaceModel,
    UrlModel,
    huggingface_reference_problem,
)
from paddler.web.shared.download_progress import DownloadProgress

logger = logging.getLogger(__name__)

ONE_WORKER_ONLY = (
    "paddler serves one engine per process: run gunicorn with one worker (PADDLER_WORKERS=1, -w 1), and "
    "threads for concurrency (PADDLER_THREADS). To serve more, run several such processes (a fleet) "
    "behind a load balancer that checks /ready; more workers here would be engines with different agent "
    "ids, models and metrics behind one address. Got {workers} workers."
)


def check_one_worker(workers: int) -> None:
    """Raises RuntimeError (gunicorn prints it and exits 1) unless exactly one worker is configured."""
    if workers != 1:
        raise RuntimeError(ONE_WORKER_ONLY.format(workers=workers))


def serve_option(serve_args: str, *flags: str) -> str | None:
    """The value of a `paddler serve` option in $PADDLER_SERVE_ARGS (`--flag value` or `--flag=value`)."""
    arguments = shlex.split(serve_args)
    for index, argument in enumerate(arguments):
        for flag in flags:
            if argument == flag and index + 1 < len(arguments):
                return arguments[index + 1]
            if argument.startswith(flag + "="):
                return argument.split("=", 1)[1]
    return None


def serve_option_values(serve_args: str, flag: str) -> tuple[str, ...]:
    """Every value of a repeatable `paddler serve` option in $PADDLER_SERVE_ARGS."""
    arguments = shlex.split(serve_args)
    values = [arguments[index + 1] for index in range(len(arguments) - 1) if arguments[index] == flag]
    return (*values, *(argument.split("=", 1)[1] for argument in arguments if argument.startswith(flag + "=")))


def _fetch_saved_state_model(state_file: Path, url_hosts: tuple[str, ...]) -> None:
    """Download the model a saved desired state names. Best effort: a state that cannot be read, that
    the worker would refuse (a malformed reference, a URL host off --model-url-hosts) or that cannot be
    fetched is left for the worker, which reports it as an agent issue."""
    try:
        state = BalancerDesiredState.model_validate_json(state_file.read_text())
        if isinstance(state.model, HuggingFaceModel):
            problem = huggingface_reference_problem(state.model.HuggingFace)
            if problem is not None:
                raise ValueError(problem)
            path = huggingface_model_path(state.model.HuggingFace, DownloadProgress())
        elif isinstance(state.model, UrlModel):
            check_url(state.model.Url.url, url_hosts)
            path = url_model_path(state.model.Url.url, DownloadProgress(), url_hosts)
        else:
            return
    except Exception as error:  # the worker decides what a bad state means
        logger.warning("could not fetch the model of the saved state %s before starting: %s", state_file, error)
        return
    logger.info("the saved state's model is at %s", path)


def fetch_models(serve_args: str) -> None:
    """Fetch every model the worker will load at boot: the default model when no --model is given, and
    the model of a saved desired state."""
    if serve_option(serve_args, "--model") is None:
        fetch_default_model(show_progress=True)
    state_file = serve_option(serve_args, "--state-file")
    if state_file is not None and Path(state_file).is_file():
        _fetch_saved_state_model(Path(state_file), serve_option_values(serve_args, "--model-url-hosts"))
