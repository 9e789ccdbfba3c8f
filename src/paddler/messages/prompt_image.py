"""An image inside a rendered prompt: decoded RGB pixels, and the marker text that stands where it goes."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

# Where each image sits in a rendered prompt, in order. Random per process, so no client text can
# forge one: text that happens to look like llama.cpp's own media marker stays text.
IMAGE_MARKER = f"<__paddler_image_{secrets.token_hex(8)}__>"


@dataclass(frozen=True, slots=True)
class PromptImage:
    width: int
    height: int
    # width * height * 3 bytes, row-major RGB.
    rgb: bytes = field(repr=False)
    # SHA-256 of the size and pixels: the same picture sent again, in any encoding, has the same digest.
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        hasher = hashlib.sha256(f"{self.width}x{self.height}:".encode())
        hasher.update(self.rgb)
        object.__setattr__(self, "digest", hasher.hexdigest())
