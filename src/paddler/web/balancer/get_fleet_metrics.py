"""GET /metrics for the fleet: Paddler's three gauges as fleet totals, and the same per agent."""

from __future__ import annotations

from collections.abc import Iterator

from flask import Blueprint, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from paddler.web.balancer.fleet_services import FleetServices, current_fleet
from paddler.web.balancer.get_fleet import buffered_requests

blueprint = Blueprint("fleet_metrics", __name__)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SLOT_GAUGES = (
    ("slots_processing", "Number of processing slots"),
    ("slots_total", "Number of total slots"),
)


class FleetCollector(Collector):
    def __init__(self, services: FleetServices) -> None:
        self._services = services

    def collect(self) -> Iterator[GaugeMetricFamily]:
        agents = self._services.fleet.agents()
        for field, documentation in _SLOT_GAUGES:
            total = sum(int(agent.report.snapshot.get(field) or 0) for agent in agents)
            yield GaugeMetricFamily(f"paddler_{field}", documentation, total)
        yield GaugeMetricFamily(
            "paddler_requests_buffered", "Number of buffered requests", buffered_requests(self._services)
        )
        yield GaugeMetricFamily("paddler_agents", "Number of registered agents", len(agents))
        for field, documentation in _SLOT_GAUGES:
            family = GaugeMetricFamily(f"paddler_agent_{field}", f"{documentation}, per agent", labels=["agent"])
            for agent in agents:
                family.add_metric([agent.report.name or agent.id], int(agent.report.snapshot.get(field) or 0))
            yield family


@blueprint.get("/metrics")
def get_fleet_metrics() -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(current_fleet()))
    return Response(generate_latest(registry), content_type=CONTENT_TYPE)
