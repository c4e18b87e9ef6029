"""The fleet as one self-contained HTML page (no network fetch: the data, style and script are inline), for
a person looking at 1,000 hosts: what to act on first (bad hosts, bad links, hosts not yet isolated, pairs
never tested, hosts that never joined), a host x host heatmap drawn on a canvas (a million cells stay
light), the finding of a cell on hover, and a search box for a host (also `#host=NAME` in the address).

It is written from the results' JSON (`rdmacheck.fleet/1`), so `fleet run --html` and `rdmacheck report
FLEET.json --html` give the same page."""

from __future__ import annotations

import json

from rdmacheck.words import Verdict

# Cell codes in the page's data: what the heatmap colours mean.
PASS, FAIL, DOWN, UNTESTED, SLOW, FLAKY = 1, 2, 3, 4, 5, 6
LEGEND = ((PASS, "#2e9d4c", "PASS: verified after its restarts"),
          (SLOW, "#2f6fd6", "verified, but slow (--slow-if)"),
          (FLAKY, "#c2188f", "flaky: passed and failed in this run"),
          (FAIL, "#d7301f", "FAIL (data plane)"),
          (DOWN, "#6a3d9a", "host down"),
          (UNTESTED, "#f29e2e", "not tested: control plane only"),
          (0, "#e8e8e8", "not paired"))


def _order(data: dict) -> list[str]:
    """Bad hosts first, then hosts not yet isolated, then hosts on a bad link or untested pair, then the rest."""
    slow = data.get("slowness") or {}
    bad = set(data.get("bad_hosts") or {}) | set(slow.get("slow_hosts") or {}) | set(data.get("flaky_hosts") or {})
    undecided = set(data.get("undecided") or []) | set(slow.get("undecided") or {})
    linked = {h for pair in (data.get("bad_links") or []) + (data.get("untested") or []) for h in pair} | \
        {h for row in (slow.get("slow_links") or []) + (data.get("flaky_links") or []) for h in row[:2]}
    rank = {h: 0 if h in bad else 1 if h in undecided else 2 if h in linked else 3 for h in data.get("hosts", [])}
    return sorted(rank, key=lambda h: (rank[h], h))


def _slow_pairs(data: dict) -> set[frozenset]:
    slow = data.get("slowness") or {}
    hosts = set(slow.get("slow_hosts") or {})
    pairs = {frozenset(row[:2]) for row in slow.get("slow_links") or []}
    pairs |= {frozenset(pair) for pair in (slow.get("undecided") or {}).values()}
    return pairs | {frozenset((p["target"], p["initiator"])) for p in data.get("pairs", [])
                    if {p["target"], p["initiator"]} & hosts}


def _cells(data: dict, index: dict[str, int]) -> tuple[list[list], list[str]]:
    """[target, initiator, code, finding index, round, fastest READ µs, WRITE MB/s] per final pair (the numbers
    null where the link was not measured); the findings' table."""
    slow = _slow_pairs(data)
    flaky = {frozenset(row[:2]) for row in data.get("flaky_links") or []}
    last: dict[frozenset, dict] = {}
    for p in data.get("pairs", []):
        last[frozenset((p["target"], p["initiator"]))] = p
    findings: list[str] = []
    seen: dict[str, int] = {}
    cells = []
    for p in last.values():
        if p["target"] not in index or p["initiator"] not in index:
            continue
        f = p.get("finding") or ""
        if f not in seen:
            seen[f] = len(findings)
            findings.append(f)
        passed = p["verdict"] == Verdict.PASS
        code = FLAKY if frozenset((p["target"], p["initiator"])) in flaky else (SLOW if frozenset((p["target"], p["initiator"])) in slow else PASS) if passed else \
            DOWN if f == "host-down" else UNTESTED if p.get("plane") == "control" else FAIL
        link = p.get("link") or {}
        cells.append([index[p["target"]], index[p["initiator"]], code, seen[f], p.get("round", 0),
                      link.get("read_lat_us_min"), link.get("write_MBps")])
    return cells, findings


def _section(title: str, rows: list[str], cls: str) -> dict | None:
    return {"title": title, "rows": rows[:200], "more": max(0, len(rows) - 200), "count": len(rows),
            "cls": cls} if rows else None


def script_json(payload: object) -> str:
    """JSON to embed in a <script> element: <, >, & and the line separators U+2028/U+2029 as \\u escapes, so
    no value (a host name "</script>", "<!--<script>") can end the element or start a comment in it."""
    text = json.dumps(payload, separators=(",", ":"))
    for ch in "<>&\u2028\u2029":
        text = text.replace(ch, f"\\u{ord(ch):04x}")
    return text


def render_html(data: dict) -> str:
    """The page, from a fleet's results (to_dict()): made by Jinja2 with autoescaping, every value from the
    results (host names, findings, details) text, the data embedded as script_json."""
    from jinja2 import Environment  # noqa: PLC0415 - only the page needs it
    from markupsafe import Markup  # noqa: PLC0415

    hosts = _order(data)
    index = {h: i for i, h in enumerate(hosts)}
    cells, findings = _cells(data, index)
    bad_hosts = data.get("bad_hosts") or {}
    slow = data.get("slowness") or {}
    sections = [x for x in (
        _section("Bad hosts", [f"{h}: {f}" for h, f in sorted(bad_hosts.items())], "bad"),
        _section("Bad links", [f"{a} <-> {b}" for a, b in data.get("bad_links") or []], "bad"),
        _section("Flaky hosts", [f"{h}: {why}" for h, why in sorted((data.get("flaky_hosts") or {}).items())], "bad"),
        _section("Flaky links (passed and failed)", [f"{row[0]} <-> {row[1]}: {row[2]}"
                                                     for row in data.get("flaky_links") or []], "bad"),
        _section("Slow hosts", [f"{h}: {why}" for h, why in sorted((slow.get("slow_hosts") or {}).items())], "bad"),
        _section("Slow links", [f"{row[0]} <-> {row[1]}: {row[2]}" for row in slow.get("slow_links") or []], "bad"),
        _section("Slow, not yet isolated", [f"{h} (with {' / '.join(p)})" for h, p in
                                            sorted((slow.get("undecided") or {}).items())], "warn"),
        _section("Not yet isolated", sorted(data.get("undecided") or []), "warn"),
        _section("Untested hosts (no verified pair)", sorted(data.get("untested_hosts") or []), "warn"),
        _section("Pairs never tested (control plane only)", [f"{a} <-> {b}" for a, b in data.get("untested") or []],
                 "warn"),
        _section("Never joined", sorted(data.get("missing") or []), "warn"),
    ) if x]
    state = "healthy" if data.get("healthy") else "NOT healthy"
    failed = sum(1 for c in cells if c[2] not in (PASS, SLOW, FLAKY))
    head = (f"fleet {data.get('run', '?')} · pairing {data.get('pairing', '?')} · {len(hosts)} hosts · {len(cells)} "
            f"pairs, {failed} not passing · {len(data.get('rounds') or [])} rounds · {data.get('duration_s', 0):.1f} s "
            f"· {state}")
    payload = {"hosts": hosts, "cells": cells, "findings": findings,
               "lines": {line.split(" | ", 1)[0]: line for line in data.get("host_lines") or []},
               "colors": {str(code): colour for code, colour, _ in LEGEND}}
    template = Environment(autoescape=True).from_string(PAGE)
    return template.render(title=head, sections=sections, legend=LEGEND, state="ok" if data.get("healthy") else "bad",
                           data=Markup(script_json(payload)))


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>{% raw %}
body{font:14px system-ui,sans-serif;margin:16px;color:#222}
h1{font-size:18px} h1.ok{color:#1b7a36} h1.bad{color:#b3261e} h2{font-size:15px;margin:8px 0 4px}
section{border-left:4px solid #999;padding:2px 10px;margin:8px 0} section.bad{border-color:#d7301f}
section.warn{border-color:#f29e2e} section.ok{border-color:#2e9d4c} ul{margin:2px 0;columns:3}
#legend span{margin-right:14px} #legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:-2px}
#wrap{position:relative;display:inline-block;border:1px solid #ccc} canvas{image-rendering:pixelated;display:block}
#tip{position:absolute;pointer-events:none;background:#222;color:#fff;padding:3px 6px;border-radius:3px;font-size:12px;display:none;white-space:nowrap}
#hostlist{max-height:300px;overflow:auto;font-family:monospace;font-size:12px} #hostlist div.err{color:#b3261e}
input{font-size:14px;padding:3px 6px;width:260px}
{% endraw %}</style></head><body>
<h1 class="{{ state }}" id="title">{{ title }}</h1>
{% for s in sections %}<section class="{{ s.cls }}"><h2>{{ s.title }} ({{ s.count }})</h2><ul>
{%- for r in s.rows %}<li>{{ r }}</li>{% endfor %}{% if s.more %}<li>... and {{ s.more }} more</li>{% endif %}</ul></section>
{% else %}<section class="ok"><h2>Nothing to act on</h2></section>
{% endfor %}<p><label>Find a host: <input id="search" type="search" placeholder="host name"></label> <span id="found"></span></p>
<p id="legend">{% for code, colour, text in legend %}<span><i style="background:{{ colour }}"></i>{{ text }}</span>{% endfor %}</p>
<div id="wrap"><canvas id="map"></canvas><div id="tip"></div></div>
<p>Rows: target, columns: initiator (both directions drawn); bad hosts first. Hover a cell for its finding.</p>
<h2>Hosts</h2><div id="hostlist"></div>
<script id="data" type="application/json">{{ data }}</script>
<script>{% raw %}
(function(){
const D=JSON.parse(document.getElementById('data').textContent);
const n=D.hosts.length, grid=new Uint8Array(n*n), fin=new Int32Array(n*n).fill(-1), rnd=new Int32Array(n*n);
const num=new Map();
for(const [t,i,c,f,r,lat,bw] of D.cells){for(const k of [t*n+i,i*n+t]){grid[k]=c;fin[k]=f;rnd[k]=r;if(lat!==null&&lat!==undefined)num.set(k,[lat,bw]);}}
const px=Math.max(1,Math.min(12,Math.floor(900/Math.max(n,1))));
const cv=document.getElementById('map'); cv.width=cv.height=n*px; const g=cv.getContext('2d');
let mark=-1;
function draw(){
  // Sparse pairings (ring, random:K) at 1,000 hosts leave one cell in hundreds: every tested pair is drawn
  // at least 3 px, and the ones not passing on top at 5 px, so a failure is never lost to the scale.
  g.fillStyle=D.colors['0'];g.fillRect(0,0,n*px,n*px);
  const dot=Math.max(px,3), big=Math.max(px,5);
  for(const pass of [true,false]){for(const [t,i,c] of D.cells){if((c===1)!==pass)continue;  // slow: drawn big
    const s=pass?dot:big;g.fillStyle=D.colors[String(c)];
    for(const [r,q] of [[t,i],[i,t]]){g.fillRect(q*px+px/2-s/2,r*px+px/2-s/2,s,s);}}}
  if(mark>=0){g.fillStyle='rgba(40,80,220,0.35)';g.fillRect(0,mark*px,n*px,px);g.fillRect(mark*px,0,px,n*px);}
}
const tip=document.getElementById('tip');
cv.addEventListener('mousemove',e=>{const b=cv.getBoundingClientRect();const c=Math.floor((e.clientX-b.left)/px),r=Math.floor((e.clientY-b.top)/px);
  if(r<0||c<0||r>=n||c>=n||r===c){tip.style.display='none';return;}
  const k=r*n+c, v=grid[k], names=['not paired','PASS','FAIL','host down','not tested','PASS, slow','flaky'];
  const m=num.get(k), nums=m?' · fastest 64 B READ '+m[0]+' µs, WRITE '+m[1]+' MB/s':'';
  tip.textContent=D.hosts[r]+' <-> '+D.hosts[c]+': '+names[v]+(fin[k]>=0&&D.findings[fin[k]]?' '+D.findings[fin[k]]:'')+(v?' (round '+rnd[k]+')':'')+nums;
  tip.style.left=(e.clientX-b.left+12)+'px';tip.style.top=(e.clientY-b.top+12)+'px';tip.style.display='block';});
cv.addEventListener('mouseleave',()=>{tip.style.display='none';});
const list=document.getElementById('hostlist'), found=document.getElementById('found'), box=document.getElementById('search');
function showList(q){
  list.textContent='';let shown=0;
  for(const h of D.hosts){if(q&&!h.toLowerCase().includes(q))continue;const line=D.lines[h]||h;
    const d=document.createElement('div');d.textContent=line;d.className=line.includes('| ERROR')?'err':'';d.dataset.host=h;list.appendChild(d);shown++;}
  found.textContent=q?shown+' host(s) match':'';
  const exact=D.hosts.findIndex(h=>h.toLowerCase()===q);mark=exact;draw();
}
box.addEventListener('input',()=>showList(box.value.trim().toLowerCase()));
const m=location.hash.match(/host=([^&]+)/); if(m){box.value=decodeURIComponent(m[1]);}
showList(box.value.trim().toLowerCase());
document.body.dataset.rendered=String(D.cells.length);
})();
{% endraw %}</script></body></html>
"""

