"""Images from a request's `image_url` parts, decoded as untrusted input.

A `data:` URI carries the image in base64 (what comes before the comma is not trusted: the format is
read from the bytes). http(s) URLs are fetched only when the server allows them, bounded in bytes and
time. Each image is bounded in bytes before it is decoded and in pixels from its header before its
pixels are (a small file that unpacks into a huge bitmap is refused unread), must be PNG, JPEG, WebP or
GIF (its first frame), and is scaled down to fit `resize_to_fit` on its longer side.
"""

from __future__ import annotations

import base64
import binascii
import io
import warnings
from dataclasses import dataclass, field

import httpx
from PIL import Image, UnidentifiedImageError

from paddler.messages.prompt_image import IMAGE_MARKER, PromptImage

FORMATS = ("PNG", "JPEG", "WEBP", "GIF")
MAX_IMAGE_BYTES = 20 * 1024 * 1024
# 8K by 4K: a decoded bitmap of at most ~100 MiB of RGB.
MAX_IMAGE_PIXELS = 8192 * 4096
FETCH_TIMEOUT_SECONDS = 10.0


class ImageInputError(ValueError):
    """An image the server will not read; the message says why (a 400 on every API)."""


@dataclass(frozen=True, slots=True)
class ImagePolicy:
    """How images are read: scaled to fit `resize_to_fit` pixels a side; remote URLs only when allowed."""

    resize_to_fit: int
    allow_remote: bool = False
    max_bytes: int = MAX_IMAGE_BYTES
    max_pixels: int = MAX_IMAGE_PIXELS
    fetch_timeout: float = FETCH_TIMEOUT_SECONDS


def image_from_url(url: str, policy: ImagePolicy) -> PromptImage:
    """The image an `image_url` names. Raises ImageInputError."""
    if url.startswith("data:"):
        return decode_image(_data_uri_bytes(url, policy.max_bytes), policy)
    if url.startswith(("http://", "https://")):
        if not policy.allow_remote:
            raise ImageInputError(
                "Remote image URLs are not supported. Use base64 data URIs (data:image/...;base64,...) instead."
            )
        return decode_image(_fetch(url, policy), policy)
    raise ImageInputError("an image URL must be a data: URI (or http(s) where the server allows it)")


def _data_uri_bytes(url: str, max_bytes: int) -> bytes:
    header, comma, payload = url.partition(",")
    if not comma:
        raise ImageInputError("Invalid data URI: missing comma separator")
    if ";base64" not in header:
        raise ImageInputError("Invalid data URI: only base64 payloads are accepted")
    # Checked on the encoded length, before anything is decoded.
    if len(payload) // 4 * 3 > max_bytes:
        raise ImageInputError(f"the image is larger than {max_bytes} bytes")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ImageInputError(f"Invalid base64 payload: {error}") from None


def _fetch(url: str, policy: ImagePolicy) -> bytes:
    """The bytes at an http(s) URL, at most policy.max_bytes, within policy.fetch_timeout per step."""
    body = bytearray()
    try:
        with httpx.stream("GET", url, timeout=policy.fetch_timeout, follow_redirects=False) as response:
            if response.status_code != 200:
                raise ImageInputError(f"fetching the image answered HTTP {response.status_code}")
            for piece in response.iter_bytes():
                body += piece
                if len(body) > policy.max_bytes:
                    raise ImageInputError(f"the image is larger than {policy.max_bytes} bytes")
    except httpx.HTTPError as error:
        raise ImageInputError(f"the image could not be fetched: {error}") from None
    return bytes(body)


def decode_image(data: bytes, policy: ImagePolicy) -> PromptImage:
    """RGB pixels of an encoded image, scaled to fit. Raises ImageInputError."""
    if len(data) > policy.max_bytes:
        raise ImageInputError(f"the image is larger than {policy.max_bytes} bytes")
    try:
        with warnings.catch_warnings():
            # The pixel bound below is this server's; Pillow's own error stays as a last guard.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=FORMATS)
            width, height = image.size
            if width * height > policy.max_pixels:
                raise ImageInputError(f"the image has {width}x{height} pixels; at most {policy.max_pixels} are read")
            if image.format == "JPEG":
                # A large JPEG is decoded at a reduced scale straight away (still at least the target).
                image.draft("RGB", (policy.resize_to_fit, policy.resize_to_fit))
            rgb = image.convert("RGB")
    except Image.DecompressionBombError:
        raise ImageInputError(
            f"the image has too many pixels (a decompression bomb?); at most {policy.max_pixels}"
        ) from None
    except UnidentifiedImageError:
        raise ImageInputError(f"Unsupported image format: only {', '.join(FORMATS)} images are read") from None
    except (OSError, SyntaxError, ValueError) as error:
        if isinstance(error, ImageInputError):
            raise
        raise ImageInputError(f"the image cannot be decoded: {error}") from None
    if max(rgb.size) > policy.resize_to_fit:
        rgb.thumbnail((policy.resize_to_fit, policy.resize_to_fit), Image.Resampling.LANCZOS)
    return PromptImage(rgb.width, rgb.height, rgb.tobytes())


MAX_IMAGES_PER_REQUEST = 32


@dataclass(slots=True)
class ImageCollector:
    """The images of one request, in the order their parts are read; each part's text is IMAGE_MARKER."""

    policy: ImagePolicy
    images: list[PromptImage] = field(default_factory=list)

    def add(self, url: str) -> str:
        """Read the image at `url` and return the text that stands for it. Raises ImageInputError."""
        if len(self.images) >= MAX_IMAGES_PER_REQUEST:
            raise ImageInputError(f"a request may carry at most {MAX_IMAGES_PER_REQUEST} images")
        self.images.append(image_from_url(url, self.policy))
        return IMAGE_MARKER
