"""Issue 12, acceptance 1 and 2: a live ``mqtt-in → filter → mqtt-out`` flow watched through ``--http``.

The runner is a real ``flowengine run`` subprocess against the suite's Mosquitto; the page is
opened in Debian's headless Chromium through Selenium and chromium-driver (the driver comes
from the same Debian source package as the browser, so their versions always match).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.mosquitto import Mosquitto, free_port, publish_messages
from tests.web.support import DEADLINE, Runner, get, json_of, metrics, ready, wait_for

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("FLOWENGINE_TEST_ARTIFACTS", REPO / "test-artifacts"))
FLOW = "watched"


def flow_text(broker: Mosquitto) -> str:
    return f"""
version: 1
name: {FLOW}
state: memory
nodes:
  - id: in
    type: mqtt-in
    broker: {broker.url}
    topics: [sensors/#]
    qos: 1
    wires: [keep]
  - id: keep
    type: filter
    when: "payload.keep == true"
    wires: [out]
  - id: out
    type: mqtt-out
    broker: {broker.url}
    topic: kept
"""


def batch(numbers: range) -> list[tuple[str, bytes]]:
    """JSON readings; every even number passes the filter."""
    return [(f"sensors/{n % 7}", json.dumps({"n": n, "keep": n % 2 == 0}).encode()) for n in numbers]


@pytest.fixture
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium")
    driver_path = shutil.which("chromedriver")
    if chromium is None or driver_path is None:
        pytest.skip("chromium and chromium-driver are not installed (bash tests/bootstrap.sh)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,720"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        yield driver
    finally:
        driver.quit()


def page_counts(driver: Any) -> dict[str, dict[str, Any]]:
    """What the page shows for each node (read from the rendered SVG)."""
    found = {}
    for node in driver.find_elements("css selector", "g.node"):
        node_id = node.get_attribute("data-node")
        found[node_id] = {
            "in": node.find_element("css selector", ".received").text,
            "out": node.find_element("css selector", ".sent").text,
            "errors": node.find_element("css selector", ".errors").text,
            "connected": node.get_attribute("data-connected"),
            "sent_ports": json.loads(node.get_attribute("data-sent-ports") or "{}"),
        }
    return found


def test_live_flow_counts_page_tap_and_broker_loss(mosquitto: Mosquitto, browser: Any, tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(flow_text(mosquitto))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    runner = Runner(tmp_path, "flow.yaml", "--http", f"127.0.0.1:{port}")
    try:
        wait_for(lambda: ready(base), DEADLINE, "/ready 200 after start", runner)

        # The page shows the three nodes before anything flows.
        browser.get(base + "/")
        wait_for(lambda: len(page_counts(browser)) == 3, DEADLINE, "three nodes on the page")
        assert set(page_counts(browser)) == {"in", "keep", "out"}

        # First half: the page's counts move without a reload.
        publish_messages(mosquitto, batch(range(500)))
        wait_for(lambda: page_counts(browser)["in"]["in"] == "in 500", DEADLINE, "the page counting 500 in")
        wait_for(lambda: page_counts(browser)["out"]["in"] == "in 250", DEADLINE, "the page showing 250 out")
        # Watch the filter's tap, then the second half, with one payload that is not JSON.
        browser.find_element("css selector", 'g.node[data-node="keep"] rect').click()
        wait_for(lambda: json_of(base, "/api/stats")["flows"][FLOW]["nodes"]["keep"]["tapped"], DEADLINE,
                 "the tap open")
        publish_messages(mosquitto, [*batch(range(500, 999)), ("sensors/9", b"not json {")])
        wait_for(lambda: page_counts(browser)["in"]["in"] == "in 1000", DEADLINE, "the page counting 1000 in")

        values = wait_for(lambda: (m := metrics(base))
                          and m[f'flowengine_messages_received_total{{flow="{FLOW}",node="out"}}'] == 500 and m,
                          DEADLINE, "500 messages into mqtt-out")
        label = f'flow="{FLOW}",node='
        assert values[f'flowengine_messages_received_total{{{label}"in"}}'] == 1000
        assert values[f'flowengine_messages_received_total{{{label}"keep"}}'] == 999
        assert values[f'flowengine_messages_sent_total{{{label}"keep",port="out"}}'] == 500
        assert values[f'flowengine_messages_received_total{{{label}"out"}}'] == 500
        assert values[f'flowengine_errors_total{{{label}"in"}}'] == 1
        assert values[f'flowengine_messages_sent_total{{{label}"in",port="errors"}}'] == 1
        assert values[f'flowengine_connected{{{label}"in"}}'] == 1
        assert values[f'flowengine_connected{{{label}"out"}}'] == 1
        assert "process_cpu_seconds_total" in values

        # The page shows what /metrics says.
        shown = wait_for(lambda: (c := page_counts(browser))["out"]["in"] == "in 500" and c, DEADLINE,
                         "the page catching up")
        assert shown["in"]["in"] == "in 1000"
        assert shown["in"]["out"] == "out 999"
        assert shown["in"]["errors"] == "errors 1"
        assert shown["keep"]["in"] == "in 999"
        assert shown["keep"]["out"] == "out 500"
        assert shown["keep"]["sent_ports"] == {"out": 500, "errors": 0}
        assert shown["out"]["in"] == "in 500"
        assert shown["out"]["errors"] == "errors 0"
        assert shown["in"]["connected"] == "1"
        assert shown["out"]["connected"] == "1"

        # The tap of the filter shows the last message that passed it.
        def newest_payload() -> Any:
            shown = browser.find_elements("css selector", "#tap li .payload")
            return json.loads(shown[0].text) if shown else None

        wait_for(lambda: newest_payload() == {"n": 998, "keep": True}, DEADLINE, "the last passing message in the tap")
        newest = browser.find_elements("css selector", "#tap li")
        assert "sensors/4" in newest[0].text  # 998 % 7
        wait_for(lambda: len(browser.find_elements("css selector", "#tap li")) == 20, DEADLINE, "20 tapped messages")

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        shot = ARTIFACTS / "live_page.png"
        browser.save_screenshot(str(shot))
        print(f"screenshot of the live page: {shot}")

        # The broker goes away: connected 0 and /ready 503 within 5 s; back once it returns.
        mosquitto.stop()
        wait_for(lambda: get(f"{base}/ready")[0] == 503, 5.0, "/ready 503 after the broker stopped", runner)
        lost = wait_for(lambda: (m := metrics(base)) and m[f'flowengine_connected{{{label}"in"}}'] == 0
                        and m[f'flowengine_connected{{{label}"out"}}'] == 0 and m, 5.0, "connected 0")
        assert lost[f'flowengine_messages_received_total{{{label}"in"}}'] == 1000  # counts are kept
        reasons = json.loads(get(f"{base}/ready")[1])["reasons"]
        assert any("node 'in'" in reason for reason in reasons), reasons
        assert any("node 'out'" in reason for reason in reasons), reasons
        mosquitto.start()
        wait_for(lambda: ready(base), DEADLINE, "/ready 200 after the broker returned", runner)
        back = metrics(base)
        assert back[f'flowengine_connected{{{label}"in"}}'] == 1
        assert back[f'flowengine_connected{{{label}"out"}}'] == 1
    finally:
        status = runner.stop()
    assert status == 0, runner.log()
