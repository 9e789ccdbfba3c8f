"""`paddler balancer --web-admin-panel-addr` in a real browser (the system's Chromium, driven by
Playwright): the panel shows every agent of the fleet with its slots, a request through HAProxy as a busy
slot of the agent that runs it and on the fleet's charts, and a ready-to-copy command that adds an agent
to this balancer. The balancer's dashboard screenshot goes to docs/admin-panel/ with
PADDLER_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.web.browser import WAIT_MS, screenshot, wait_for_the_tokens_chart_to_rise
from tests.web.conftest import free_port, stream_completion_until

from .conftest import AGENT_NAMES, MODEL_ID, RunningFleet, running_fleet


@pytest.fixture(scope="module")
def panel_fleet(default_model_path: Path) -> Iterator[tuple[RunningFleet, str]]:
    panel_addr = f"127.0.0.1:{free_port()}"
    with running_fleet(default_model_path, "--web-admin-panel-addr", panel_addr) as fleet:
        yield fleet, f"http://{panel_addr}"


def test_the_balancers_panel_lists_both_agents_with_their_slots_and_a_busy_one(
    panel_fleet: tuple[RunningFleet, str], page: Page, tmp_path: Path
) -> None:
    fleet, panel = panel_fleet
    page.goto(f"{panel}/#/dashboard")
    expect(page.locator(".agent h3")).to_have_text(list(AGENT_NAMES), timeout=WAIT_MS)
    expect(page.locator(".agent .badge.ok")).to_have_count(2)
    expect(page.locator(".slot-group h3")).to_have_text(list(AGENT_NAMES))
    for name in AGENT_NAMES:
        group = page.locator(".slot-group", has=page.locator("h3", has_text=name))
        expect(group.locator(".slot[data-phase=idle]")).to_have_count(2)

    leave = threading.Event()
    request = stream_completion_until(fleet.inference_url, leave, "Once upon a time", MODEL_ID)
    try:
        expect(page.locator(".slot[data-phase=generating]")).to_have_count(1, timeout=WAIT_MS)
        expect(page.locator(".slot")).to_have_count(4)
        # The fleet's tokens/s, gathered from the agents' counters, rises off its baseline.
        wait_for_the_tokens_chart_to_rise(page)
        screenshot(page, "balancer-dashboard", tmp_path)
    finally:
        leave.set()
        request.join()
    expect(page.locator(".slot[data-phase=idle]")).to_have_count(4, timeout=WAIT_MS)


def test_the_add_agent_dialog_shows_a_command_that_joins_this_balancer(
    panel_fleet: tuple[RunningFleet, str], page: Page
) -> None:
    fleet, panel = panel_fleet
    page.goto(f"{panel}/#/dashboard")
    expect(page.locator(".agent")).to_have_count(2, timeout=WAIT_MS)
    page.get_by_role("button", name="How to add an agent").click()
    command = page.locator("dialog #add-agent-command")
    expect(command).to_contain_text(f"--balancer-addr {fleet.management_addr}")
    expect(command).to_contain_text("paddler serve")
    expect(command).to_contain_text("--name agent-3")
    expect(command).to_contain_text(f"--inference-cors-allowed-origin {panel}")


def test_the_balancers_model_page_edits_the_fleets_desired_state(
    panel_fleet: tuple[RunningFleet, str], page: Page
) -> None:
    _, panel = panel_fleet
    page.goto(f"{panel}/#/model")
    expect(page.locator("input[name=context_size]")).to_have_value("4096", timeout=WAIT_MS)
    expect(page.locator("main")).to_contain_text("one agent at a time")
