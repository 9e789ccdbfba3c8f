"""The base of Paddler's request shapes: as serde reads them, an unknown field is refused and no value is
coerced to another type (no "5" for a number); a parsed request is frozen."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictWireModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
