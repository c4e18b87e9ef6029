"""The fleet's HTML page with hostile host names, findings and details, in headless Chromium: no element is
injected, no script of theirs runs, the page's own script runs and shows them as text."""
from __future__ import annotations

import re

from rdmacheck.fleet.protocol import PairOutcome
from rdmacheck.fleet.result import FleetResult
from rdmacheck.words import Verdict
from tests.host.test_fleet_page import _browser

EVIL = ['<img src=x onerror="document.body.dataset.pwned=1">', "<!--<script>", "</script><script>document.body"
        ".dataset.pwned=2</script>", "a&amp;b\u2028c"]


def _page(tmp_path) -> str:
    hosts = ["ok1", *EVIL]
    res = FleetResult(run="<b>run</b>", pairing="all", hosts=hosts, finished=True)
    finding = '<img src=x onerror="document.body.dataset.pwned=3">%DATA%{{ data }}'
    res.pairs = [PairOutcome(0, "ok1", h, Verdict.FAIL, finding=finding, detail=finding, reported_by=h) for h in EVIL]
    res.missing = ["<svg onload=alert(1)>"]
    path = tmp_path / "page.html"
    path.write_text(res.html_text())
    return str(path)


def test_hostile_values_are_text_in_the_page_and_no_script_of_theirs_runs(tmp_path):
    page = _page(tmp_path)
    text = open(page).read()
    assert "<img" not in text and "<svg" not in text and "<!--<script>" not in text
    dom = _browser(tmp_path, "--dump-dom", "file://" + page).stdout
    assert 'data-rendered="4"' in dom, "the page's own script ran and drew the four pairs"
    body_tag = re.search(r"<body[^>]*>", dom).group()
    assert "data-pwned" not in body_tag, body_tag
    assert "<img" not in dom and "<svg" not in dom, "no element came from the data"
    assert "&lt;img src=x onerror=" in dom  # the hostile host name shown as text in the host list
