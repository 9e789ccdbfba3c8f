"""Untrusted images as the server reads them: the four formats, the first frame of a GIF, scaling to fit,
and every way an image can be refused (not base64, corrupt, another format, too many bytes, a
decompression bomb, a remote URL where none is allowed, one too slow or too large where they are)."""

from __future__ import annotations

import base64
import contextlib
import http.server
import io
import threading
import time
from collections.abc import Iterator

import pytest
from PIL import Image

from paddler.web.shared.image_input import (
    MAX_IMAGES_PER_REQUEST,
    ImageCollector,
    ImageInputError,
    ImagePolicy,
    decode_image,
    image_from_url,
)

POLICY = ImagePolicy(resize_to_fit=64)


def encoded(image: Image.Image, image_format: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def data_uri(data: bytes, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def gradient(width: int = 48, height: int = 32) -> Image.Image:
    image = Image.new("RGB", (width, height))
    image.putdata([(x * 5 % 256, y * 7 % 256, (x + y) % 256) for y in range(height) for x in range(width)])
    return image


@pytest.mark.parametrize("image_format", ["PNG", "JPEG", "WEBP", "GIF"])
def test_each_format_decodes_to_rgb_pixels(image_format: str) -> None:
    image = image_from_url(data_uri(encoded(gradient(), image_format)), POLICY)
    assert (image.width, image.height) == (48, 32)
    assert len(image.rgb) == 48 * 32 * 3


def test_the_same_pixels_in_two_encodings_have_one_digest() -> None:
    png = decode_image(encoded(gradient(), "PNG"), POLICY)
    webp = decode_image(encoded(gradient(), "WEBP", lossless=True), POLICY)
    assert png.digest == webp.digest
    assert png.digest != decode_image(encoded(gradient(47, 32), "PNG"), POLICY).digest


def test_an_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (8, 8), (255, 0, 0)), Image.new("RGB", (8, 8), (0, 0, 255))]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    image = decode_image(buffer.getvalue(), POLICY)
    assert image.rgb[:3] == bytes([255, 0, 0])


def test_a_large_image_is_scaled_to_fit_keeping_its_shape() -> None:
    image = decode_image(encoded(gradient(200, 100), "JPEG"), POLICY)
    assert (image.width, image.height) == (64, 32)


def test_a_palette_image_with_transparency_becomes_rgb() -> None:
    image = decode_image(encoded(Image.new("RGBA", (4, 4), (10, 20, 30, 0)), "PNG"), POLICY)
    assert len(image.rgb) == 4 * 4 * 3


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("data:image/png,notbase64", "only base64"),
        ("data:image/png;base64", "missing comma"),
        ("data:image/png;base64,***", "Invalid base64"),
        (data_uri(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40), "Unsupported image format|cannot be decoded"),
        (data_uri(encoded(gradient(), "PNG")[:60]), "cannot be decoded"),
        (data_uri(b"just some text, not an image"), "Unsupported image format"),
        (data_uri(encoded(gradient(), "BMP")), "Unsupported image format"),
        (data_uri(encoded(gradient(), "TIFF")), "Unsupported image format"),
        (data_uri(b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"), "Unsupported image format"),
        ("ftp://example.invalid/cat.png", "must be a data: URI"),
        ("http://127.0.0.1:9/cat.png", "Remote image URLs are not supported"),
    ],
)
def test_every_bad_image_is_refused_with_its_reason(url: str, reason: str) -> None:
    with pytest.raises(ImageInputError, match=reason):
        image_from_url(url, POLICY)


def test_too_many_bytes_are_refused_before_decoding() -> None:
    small = ImagePolicy(resize_to_fit=64, max_bytes=1000)
    with pytest.raises(ImageInputError, match="larger than 1000 bytes"):
        image_from_url(data_uri(b"\x00" * 2000), small)


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    # 12000 x 12000 pixels of one colour: a few hundred KB of PNG for a 432 MB bitmap.
    bomb = encoded(Image.new("L", (12000, 12000)), "PNG", optimize=True)
    assert len(bomb) < 1_000_000
    started = time.monotonic()
    with pytest.raises(ImageInputError, match="12000x12000 pixels"):
        decode_image(bomb, POLICY)
    assert time.monotonic() - started < 1.0


def test_a_request_carries_a_bounded_number_of_images() -> None:
    collector = ImageCollector(POLICY)
    uri = data_uri(encoded(gradient(4, 4), "PNG"))
    for _ in range(MAX_IMAGES_PER_REQUEST):
        collector.add(uri)
    with pytest.raises(ImageInputError, match="at most"):
        collector.add(uri)


class _ImageServer(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/slow.png":
            time.sleep(2)
        body = encoded(gradient(), "PNG") * (500 if self.path == "/big.png" else 1)
        self.send_response(200 if self.path != "/missing.png" else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client stopped at its bound
            self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ImageServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_remote_images_are_fetched_only_when_allowed_and_within_bounds(image_server: str) -> None:
    allowed = ImagePolicy(resize_to_fit=64, allow_remote=True, max_bytes=20_000, fetch_timeout=0.5)
    assert image_from_url(f"{image_server}/cat.png", allowed).width == 48
    with pytest.raises(ImageInputError, match="larger than 20000 bytes"):
        image_from_url(f"{image_server}/big.png", allowed)
    with pytest.raises(ImageInputError, match="could not be fetched"):
        image_from_url(f"{image_server}/slow.png", allowed)
    with pytest.raises(ImageInputError, match="HTTP 404"):
        image_from_url(f"{image_server}/missing.png", allowed)
