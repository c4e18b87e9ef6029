"""The fleet's HTML page in a real browser (Debian's Chromium, headless; scripts/setup.sh installs it):
the shipped 1,024-host results file (benchmarks/fleet_html.py made it from the real schedule and
isolation) rendered by `rdmacheck report --html`, its content read back from the DOM after the page's own
script ran, and a screenshot taken."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import rdmacheck

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "fleet-1024.json"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("no chromium in CI: scripts/setup.sh installs Debian's package")
    pytest.skip("no chromium here (scripts/setup.sh installs Debian's package): the page is not checked in a browser")


def _browser(tmp_path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([_chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    d = tmp_path_factory.mktemp("page")
    r = rdmacheck("report", str(SAMPLE), "--html", str(d / "fleet.html"))
    assert r.returncode == 1, r.stdout + r.stderr  # the sample fleet is not healthy: exit 1, as fleet run
    return d / "fleet.html"


def test_the_page_needs_no_network(page):
    text = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), "everything is inline"
    assert "<script" in text and "<style" in text


def test_the_browser_draws_every_pair_and_lists_what_to_act_on_first(page, tmp_path):
    data = json.loads(SAMPLE.read_text())
    dom = _browser(tmp_path, "--dump-dom", page.as_uri()).stdout
    finals = {frozenset((p["target"], p["initiator"])) for p in data["pairs"]}
    assert f'data-rendered="{len(finals)}"' in dom, "the page's script drew every final pair"
    bad = sorted(data["bad_hosts"])
    assert len(bad) >= 2
    listed = re.findall(r'data-host="([^"]+)"', dom)
    assert len(listed) == len(data["hosts"]) and listed[:len(bad)] == bad, "bad hosts first"
    head = dom[:dom.index('id="legend"')]
    for h in bad:
        assert h in head, f"bad host {h} listed before the heatmap"
    for a, b in data["bad_links"]:
        assert f"{a} &lt;-&gt; {b}" in head


def test_the_search_box_finds_a_host(page, tmp_path):
    data = json.loads(SAMPLE.read_text())
    host = sorted(data["bad_hosts"])[0]
    dom = _browser(tmp_path, "--dump-dom", page.as_uri() + f"#host={host}").stdout
    assert "1 host(s) match" in dom
    shown = re.findall(r'<div class="(err|)" data-host="([^"]+)">([^<]*)</div>', dom)
    assert [(h, line) for _, h, line in shown] == [(host, next(x for x in data["host_lines"] if x.startswith(host)))]
    assert shown[0][0] == "err"


def test_a_screenshot_is_produced(page, tmp_path):
    shot = tmp_path / "fleet.png"
    _browser(tmp_path, "--window-size=1400,1400", f"--screenshot={shot}", page.as_uri())
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, len(data)
