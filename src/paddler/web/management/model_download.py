"""Model files named by a desired state that live elsewhere: a Hugging Face repository (through
huggingface_hub, which honours HF_ENDPOINT, HF_TOKEN and the standard cache) or a plain URL
(downloaded into the user cache under a name derived from the URL, completed files reused).

A URL download follows redirects (at most MAX_REDIRECTS). With `--model-url-hosts` set, the URL and
every redirect hop must name one of those hosts; without it, any host is followed, so whoever may PUT a
desired state can make the server fetch from any address it can reach (including ones inside its own
network). The management API is the trust boundary: give it a key, and list the hosts.
"""

from __future__ import annotations

import hashlib
import io
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
from huggingface_hub import hf_hub_download
from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, HfHubHTTPError, RepositoryNotFoundError
from tqdm import tqdm

from paddler.default_model import cache_dir
from paddler.web.shared.desired_state import HuggingFaceModelReference
from paddler.web.shared.download_progress import DownloadProgress

MAX_DOWNLOAD_BYTES = 1 << 40
MAX_REDIRECTS = 10


class ModelDownloadError(RuntimeError):
    """A model could not be fetched; `issue` is the agent issue Paddler reports for it."""

    def __init__(self, issue: dict[str, Any], message: str) -> None:
        super().__init__(message)
        self.issue = issue


def _reporting_tqdm(progress: DownloadProgress, filename: str) -> type[tqdm]:
    """A tqdm class for huggingface_hub that reports into `progress` (and draws nothing)."""

    class Reporting(tqdm):  # type: ignore[misc]  # tqdm ships no types
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = False
            kwargs["file"] = io.StringIO()
            super().__init__(*args, **kwargs)
            progress.begin_file(filename, self.total)
            progress.advance(self.n)

        def update(self, n: float | None = 1) -> bool | None:
            progress.advance(int(n or 0))
            return super().update(n)  # type: ignore[no-any-return]

    return Reporting


def huggingface_model_path(reference: HuggingFaceModelReference, progress: DownloadProgress) -> Path:
    described = f"{reference.repo_id}/{reference.revision}/{reference.filename}"
    issue_path = {"model_path": described}
    try:
        return Path(
            hf_hub_download(
                repo_id=reference.repo_id,
                filename=reference.filename,
                revision=reference.revision,
                tqdm_class=_reporting_tqdm(progress, reference.filename),
            )
        )
    except (RepositoryNotFoundError, EntryNotFoundError) as error:
        raise ModelDownloadError({"HuggingFaceModelDoesNotExist": issue_path}, str(error)) from error
    except GatedRepoError as error:
        raise ModelDownloadError({"HuggingFacePermissions": issue_path}, str(error)) from error
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else 0
        kind = "HuggingFacePermissions" if status in (401, 403) else "HuggingFaceModelDoesNotExist"
        raise ModelDownloadError({kind: issue_path}, str(error)) from error
    except (OSError, httpx.HTTPError) as error:
        raise ModelDownloadError({"DownloadServerIsUnreachable": issue_path}, str(error)) from error
    except ValueError as error:  # huggingface_hub's own checks of the reference
        raise ModelDownloadError({"HuggingFaceModelDoesNotExist": issue_path}, str(error)) from error
    finally:
        progress.clear()


def host_allowed(host: str, allowed_hosts: tuple[str, ...]) -> bool:
    """No list allows every host; an entry is a host name, or `*.example.com` for its subdomains."""
    if not allowed_hosts:
        return True
    host = host.lower().rstrip(".")
    for entry in allowed_hosts:
        allowed = entry.lower().rstrip(".")
        if host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:])):
            return True
    return False


def check_url(url: str, allowed_hosts: tuple[str, ...] = ()) -> None:
    """Raise ValueError unless `url` is an http(s) URL to an allowed host."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError("model URL must be http:// or https://")
    if not host_allowed(parsed.hostname, allowed_hosts):
        raise ValueError(f"model URL host {parsed.hostname!r} is not in --model-url-hosts")


def _url_issue(status: int, url: str) -> dict[str, Any]:
    issue_path = {"model_path": url}
    if status == 404:
        return {"ModelDoesNotExistAtUrl": issue_path}
    if status in (401, 403):
        return {"DownloadServerDeniedAccess": issue_path}
    if status >= 500:
        return {"DownloadServerErrored": issue_path}
    return {"DownloadServerRejectedRequest": issue_path}


def _open_following_redirects(
    client: httpx.Client, url: str, allowed_hosts: tuple[str, ...], stack: ExitStack
) -> httpx.Response:
    """The response at the end of `url`'s redirects, every hop's URL checked before it is requested."""
    issue = _url_issue(400, url)
    for _ in range(MAX_REDIRECTS + 1):
        try:
            check_url(url, allowed_hosts)
        except ValueError as error:
            raise ModelDownloadError(issue, f"refused to fetch {url}: {error}") from None
        response = stack.enter_context(client.stream("GET", url))
        if not response.is_redirect:
            return response
        url = str(response.next_request.url) if response.next_request is not None else url
        response.close()
    raise ModelDownloadError(issue, f"more than {MAX_REDIRECTS} redirects")


def url_model_path(url: str, progress: DownloadProgress, allowed_hosts: tuple[str, ...] = ()) -> Path:
    target = cache_dir() / "downloaded-models" / (hashlib.sha256(url.encode()).hexdigest() + ".gguf")
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    try:
        with httpx.Client(follow_redirects=False, timeout=60.0) as client, ExitStack() as stack:
            response = _open_following_redirects(client, url, allowed_hosts, stack)
            if response.status_code != 200:
                raise ModelDownloadError(_url_issue(response.status_code, url), f"{url}: HTTP {response.status_code}")
            written = 0
            length = response.headers.get("Content-Length", "")
            progress.begin_file(urlparse(url).path.rsplit("/", 1)[-1] or url, int(length) if length.isdigit() else None)
            with partial.open("wb") as sink:
                for chunk in response.iter_bytes(1 << 20):
                    written += len(chunk)
                    progress.advance(len(chunk))
                    if written > MAX_DOWNLOAD_BYTES:
                        raise ModelDownloadError(
                            _url_issue(413, url), f"{url} is larger than {MAX_DOWNLOAD_BYTES} bytes"
                        )
                    sink.write(chunk)
    except httpx.HTTPError as error:
        partial.unlink(missing_ok=True)
        raise ModelDownloadError({"DownloadServerIsUnreachable": {"model_path": url}}, str(error)) from error
    except ModelDownloadError:
        partial.unlink(missing_ok=True)
        raise
    finally:
        progress.clear()
    partial.replace(target)
    return target
