"""What an agent tells the balancer, every second and on every change (the fleet's control protocol):
`PUT /api/v1/fleet/agents/<agent_id>` with this body, `DELETE` of the same path when it leaves."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

from paddler.web.shared.address import parse_address

AGENT_PATH = "/api/v1/fleet/agents/"


class AgentReport(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str | None
    # host:port HAProxy sends the agent's inference traffic to.
    inference_addr: str
    # host:port of the agent's own management API (the balancer applies desired states there).
    management_addr: str
    # The agent drains before it leaves: no new requests, running ones finish.
    leaving: bool = False
    # The agent's snapshot as its own management API shows it (Paddler's AgentSnapshot).
    snapshot: dict[str, Any]

    @field_validator("inference_addr", "management_addr")
    @classmethod
    def _is_address(cls, address: str) -> str:
        parse_address(address)
        return address
