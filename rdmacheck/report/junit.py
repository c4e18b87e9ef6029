"""JUnit XML: one testcase per cell. A failure the expectations predict is reported as skipped
(like pytest's xfail), so CI only goes red on a regression."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from rdmacheck.report.results import FAIL, PASS, SKIP, RunResult


def junit_xml(run: RunResult) -> bytes:
    cells = run.cells
    failures = sum(1 for c in cells if not c.met)
    skipped = sum(1 for c in cells if c.met and c.verdict != PASS)
    suite = ET.Element("testsuite", name="rdmacheck", tests=str(len(cells)), failures=str(failures),
                       errors="0", skipped=str(skipped), time=f"{sum(c.duration_s for c in cells):.3f}",
                       timestamp=run.started, hostname=run.host)
    for c in cells:
        case = ET.SubElement(suite, "testcase", classname=f"rdmacheck.{c.device}.{c.mode}",
                             name=f"{c.strategy}.restart-{c.restart}", time=f"{c.duration_s:.3f}")
        where = f"step: {c.step}" if c.step else ""
        if c.verdict == SKIP:
            ET.SubElement(case, "skipped", message=c.skip_reason or "skipped")
        elif c.verdict == FAIL and c.met:
            ET.SubElement(case, "skipped", message=f"expected failure: {c.finding} ({c.expectation_reason or ''})")
        elif not c.met:
            msg = c.finding if c.verdict == FAIL else f"expected {c.expected} but the cell passed"
            fail = ET.SubElement(case, "failure", message=msg or "failed", type=c.step or c.verdict)
            fail.text = "\n".join(x for x in (where, *(
                f"round {r.index}: {r.verdict} {r.finding or ''} {r.detail or ''}".rstrip() for r in c.rounds)) if x)
        if c.logs:
            ET.SubElement(case, "system-out").text = f"logs: {c.logs}"
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def write_junit(run: RunResult, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(junit_xml(run))
