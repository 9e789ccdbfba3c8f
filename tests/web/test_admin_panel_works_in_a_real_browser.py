"""The web admin panel in a real browser (the system's Chromium, driven by Playwright) against a real
`paddler serve --web-admin-panel-addr`: every page does its job, and with a management key nothing shows
before sign-in. Screenshots of each page are taken; PADDLER_UPDATE_SCREENSHOTS=1 copies them into
docs/admin-panel/ (the README shows one)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.web.browser import WAIT_MS, screenshot, wait_for_the_tokens_chart_to_rise
from tests.web.conftest import (
    RunningServer,
    free_port,
    start_server,
    stop_server,
    stream_completion_until,
    wait_for,
)

TOOLS_TEMPLATE = Path(__file__).parent / "templates" / "qwen3_style_tools.jinja"


def _start_with_panel(
    model_path: Path, *extra: str, ports: tuple[int, int, int] | None = None
) -> tuple[RunningServer, str]:
    """`ports`: inference, management and panel ports (default: free ones)."""
    inference, management, panel_port = ports or (free_port(), free_port(), free_port())
    running = start_server(
        model_path, "--web-admin-panel-addr", f"127.0.0.1:{panel_port}", *extra, ports=(inference, management)
    )
    return running, f"http://127.0.0.1:{panel_port}"


@pytest.fixture(scope="module")
def panel_server(default_model_path: Path) -> Iterator[tuple[RunningServer, str]]:
    # A template that writes tool calls (SmolLM2's own has none), so the playground can offer tools.
    running, panel = _start_with_panel(
        default_model_path, "--enable-embeddings", "--slots", "2", "--chat-template-file", str(TOOLS_TEMPLATE)
    )
    yield running, panel
    stop_server(running)


def test_the_dashboard_shows_the_agent_and_a_request_as_a_busy_slot_then_idle(
    panel_server: tuple[RunningServer, str], page: Page, tmp_path: Path
) -> None:
    server, panel = panel_server
    page.goto(f"{panel}/#/dashboard")
    agent = page.locator(".agent")
    expect(agent.locator("h3")).to_have_text("agent-1", timeout=WAIT_MS)
    expect(agent.locator(".badge.ok")).to_have_text("OK")
    expect(agent.locator(".model-file")).to_contain_text(".gguf")
    expect(page.locator(".slot")).to_have_count(2)
    expect(page.locator(".slot[data-phase=idle]")).to_have_count(2)

    seen = threading.Event()
    request = stream_completion_until(server.inference_url, seen, "Once upon a time")
    expect(page.locator(".slot[data-phase=generating]")).to_have_count(1, timeout=WAIT_MS)
    expect(agent.locator(".slots-count")).to_have_attribute("data-processing", "1")
    # The tokens/s chart rises off its baseline while the slot generates.
    wait_for_the_tokens_chart_to_rise(page)
    screenshot(page, "dashboard", tmp_path)
    seen.set()
    request.join()
    expect(page.locator(".slot[data-phase=idle]")).to_have_count(2, timeout=WAIT_MS)
    expect(page.locator(".slot[data-phase=idle]").first).to_contain_text("tokens cached")
    # A single server has no fleet to add to: the dialog says what a fleet is instead.
    page.get_by_role("button", name="How to add an agent").click()
    expect(page.locator("dialog .single-server")).to_contain_text("--balancer-addr")
    expect(page.locator("dialog #add-agent-command")).to_have_count(0)


def test_the_playground_streams_an_answer_and_the_second_turn_reuses_the_first(
    panel_server: tuple[RunningServer, str], page: Page, tmp_path: Path
) -> None:
    _, panel = panel_server
    page.goto(f"{panel}/#/playground")
    page.locator("input[name=temperature]").fill("0")
    page.locator("input[name=max_tokens]").fill("16")
    prompt = page.get_by_label("Message")
    prompt.fill("What is the capital of France?")
    prompt.press("Control+Enter")
    answers = page.locator(".message.assistant[data-done=true]")
    expect(answers).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator(".message .error")).to_have_count(0)
    assert page.locator(".message.assistant .answer").first.inner_text().strip() != ""
    page.get_by_label("Message").fill("And of Italy?")
    page.get_by_role("button", name="Send").click()
    expect(answers).to_have_count(2, timeout=WAIT_MS)
    second_usage = page.locator(".usage").nth(1)
    assert int(second_usage.get_attribute("data-cached-tokens") or 0) > 0
    expect(second_usage).to_contain_text("tokens/s")
    screenshot(page, "playground", tmp_path)


def test_the_playground_offers_tools_and_turns_thinking_off(
    panel_server: tuple[RunningServer, str], page: Page
) -> None:
    _, panel = panel_server
    page.goto(f"{panel}/#/playground")
    page.locator("button", has_text="New chat").click()
    page.locator("input[name=max_tokens]").fill("40")
    page.locator("input[name=thinking]").uncheck()
    page.locator("summary", has_text="Offer tools").click()
    page.locator("textarea[name=tools]").fill(page.locator("textarea[name=tools]").get_attribute("placeholder") or "")
    page.locator("select[name=tool_choice]").select_option("required")
    page.get_by_label("Message").fill("What is the weather in Paris?")
    with page.expect_request("**/v1/chat/completions") as sent:
        page.get_by_role("button", name="Send").click()
    body = sent.value.post_data_json
    assert body is not None
    assert body["chat_template_kwargs"] == {"enable_thinking": False}
    assert body["tool_choice"] == "required"
    assert body["tools"][0]["function"]["name"] == "get_weather"
    expect(page.locator(".message.assistant[data-done=true]")).to_have_count(1, timeout=WAIT_MS)
    expect(page.locator(".message .error")).to_have_count(0)
    expect(page.locator(".tool-call[data-name=get_weather]")).to_have_count(1)
    expect(page.locator(".tool-call")).to_contain_text("get_weather(")


def test_the_embeddings_tester_draws_a_heatmap_of_three_documents(
    panel_server: tuple[RunningServer, str], page: Page, tmp_path: Path
) -> None:
    _, panel = panel_server
    page.goto(f"{panel}/#/embeddings")
    expect(page.locator(".document")).to_have_count(3, timeout=WAIT_MS)
    page.get_by_role("button", name="Embed and compare").click()
    cells = page.locator("svg.heatmap rect.cell")
    expect(cells).to_have_count(9, timeout=WAIT_MS)
    similarities = [float(cells.nth(index).get_attribute("data-similarity") or "nan") for index in range(9)]
    assert all(abs(similarities[index * 4] - 1.0) < 1e-3 for index in range(3))  # each document with itself
    assert all(-1.0 <= similarity <= 1.0 + 1e-6 for similarity in similarities)
    screenshot(page, "embeddings", tmp_path)


def test_the_dashboard_fits_a_narrow_dark_screen(
    panel_server: tuple[RunningServer, str], browser: Browser, tmp_path: Path
) -> None:
    _, panel = panel_server
    context = browser.new_context(viewport={"width": 360, "height": 800}, color_scheme="dark")
    narrow = context.new_page()
    narrow.goto(f"{panel}/#/dashboard")
    expect(narrow.locator(".agent h3")).to_have_text("agent-1", timeout=WAIT_MS)
    assert narrow.evaluate("document.documentElement.scrollWidth") <= 360
    background = narrow.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(15, 18, 22)"
    screenshot(narrow, "dashboard-narrow-dark", tmp_path)
    context.close()


def test_the_model_page_applies_a_changed_context_size(
    panel_server: tuple[RunningServer, str], page: Page, tmp_path: Path
) -> None:
    server, panel = panel_server
    page.goto(f"{panel}/#/model")
    context_size = page.locator("input[name=context_size]")
    expect(context_size).to_have_value("4096", timeout=WAIT_MS)
    context_size.fill("2048")
    screenshot(page, "model", tmp_path)
    page.get_by_role("button", name="Apply changes").click()
    expect(page.locator(".agent h3")).to_have_text("agent-1", timeout=WAIT_MS)  # back on the dashboard
    assert server.desired_state()["inference_parameters"]["context_size"] == 2048
    assert wait_for(lambda: server.agent()["state_application_status"] == "Applied", timeout=30)
    assert httpx.get(f"{server.inference_url}/ready").status_code == 200


def test_with_a_management_key_the_panel_shows_nothing_before_sign_in(
    default_model_path: Path, page: Page, tmp_path: Path
) -> None:
    server, panel = _start_with_panel(default_model_path, "--management-api-key", "panel-secret", "--slots", "1")
    try:
        page.goto(f"{panel}/#/dashboard")
        form = page.locator("#management-sign-in")
        expect(form).to_be_visible(timeout=WAIT_MS)
        screenshot(page, "sign-in", tmp_path)
        assert page.locator(".agent, .slot, .chart").count() == 0
        assert "agent-1" not in page.content()
        page.get_by_label("Management API key").fill("panel-secret")
        page.get_by_role("button", name="Continue").click()
        expect(page.locator(".agent h3")).to_have_text("agent-1", timeout=WAIT_MS)
        expect(page.locator(".slot")).to_have_count(1)
        assert "panel-secret" not in page.url
    finally:
        log = stop_server(server)
    assert "panel-secret" not in log


def test_live_views_recover_by_themselves_after_the_server_restarts(default_model_path: Path, page: Page) -> None:
    ports = (free_port(), free_port(), free_port())
    first, panel = _start_with_panel(default_model_path, "--slots", "1", ports=ports)
    try:
        page.goto(f"{panel}/#/dashboard")
        expect(page.locator(".slot")).to_have_count(1, timeout=WAIT_MS)
    finally:
        stop_server(first)
    expect(page.locator(".connection[data-state=reconnecting]").first).to_be_visible(timeout=WAIT_MS)
    second, _ = _start_with_panel(default_model_path, "--slots", "2", ports=ports)
    try:
        # The same page, never reloaded, now shows the new server's two slots.
        expect(page.locator(".slot")).to_have_count(2, timeout=WAIT_MS)
        expect(page.locator(".connection[data-state=reconnecting]")).to_have_count(0, timeout=WAIT_MS)
    finally:
        stop_server(second)
