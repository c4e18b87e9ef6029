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


def _pixels(png: bytes) -> list[tuple[int, int, int]]:
    """Every pixel of an 8-bit RGB or RGBA, non-interlaced PNG (what Chromium writes), as (r, g, b)."""
    import struct
    import zlib

    pos, idat, width, height, ctype = 8, b"", 0, 0, 2
    while pos < len(png):
        size, kind = struct.unpack(">I4s", png[pos:pos + 8])
        body = png[pos + 8:pos + 8 + size]
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype in (2, 6) and not interlace, (depth, ctype, interlace)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + size
    bpp = 4 if ctype == 6 else 3
    raw, stride, out, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b, c = prev[x], prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        out += [tuple(line[x:x + 3]) for x in range(0, stride, bpp)]
        prev = line
    return out


def _slow_and_dead_fleet(tmp_path, slow: bool) -> Path:
    """Six hosts, every pair measured alike but h1 <-> h4 (three times slower when `slow`), and h2 <-> h5 a
    data-plane FAIL: the page from `rdmacheck report --html`."""
    import itertools

    from rdmacheck.fleet.protocol import PairOutcome
    from rdmacheck.fleet.result import FleetResult

    hosts = [f"h{i}" for i in range(6)]
    res = FleetResult(run="slowdead", pairing="all", hosts=hosts, finished=True)
    for k, (a, b) in enumerate(itertools.combinations(hosts, 2)):
        if {a, b} == {"h2", "h5"}:
            res.pairs.append(PairOutcome(0, a, b, "FAIL", finding="write-stalled", step="write"))
            continue
        f = 3.0 if slow and {a, b} == {"h1", "h4"} else 1.0
        res.pairs.append(PairOutcome(0, a, b, "PASS", link={"read_lat_us_min": (20 + k % 3) * f, "read_lat_us_p50": 30, "read_lat_us_p99": 60,
                                                          "write_MBps": (1000 - k % 3) / f, "read_MBps": 1000 / f}))
    src = tmp_path / f"fleet-{slow}.json"
    src.write_text(res.json_text())
    page = tmp_path / f"fleet-{slow}.html"
    r = rdmacheck("report", str(src), "--html", str(page))
    assert r.returncode == 1, r.stdout + r.stderr
    if slow:
        assert "slow link to h4" in r.stdout and "bad link" in r.stdout, r.stdout
    return page


def test_a_slow_link_is_drawn_apart_from_a_dead_one(tmp_path):
    from rdmacheck.fleet.page import FAIL, LEGEND, SLOW

    colour = {code: tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for code, c, _ in LEGEND}
    counts = {}
    for slow in (False, True):
        page = _slow_and_dead_fleet(tmp_path, slow)
        shot = tmp_path / f"shot-{slow}.png"
        _browser(tmp_path, "--window-size=1200,1600", f"--screenshot={shot}", page.as_uri())
        px = _pixels(shot.read_bytes())
        counts[slow] = {code: px.count(colour[code]) for code in (SLOW, FAIL)}
        dom = _browser(tmp_path, "--dump-dom", page.as_uri()).stdout
        assert ("Slow links (1)" in dom) == slow and "Bad links (1)" in dom
    # the dead pair is drawn in FAIL's colour either way (its 2 cells of 12 x 12 px, both directions, beyond the
    # legend's swatch; the red borders of the sections add more); the slow pair in SLOW's only when it is slow
    assert min(counts[True][FAIL], counts[False][FAIL]) >= 3 * 144, counts
    assert counts[False][SLOW] == 144 and counts[True][SLOW] == 3 * 144, counts
