"""JUnit XML: one testcase per matrix cell (or per round of a Mooncake run). A failure the
expectations predict is reported as skipped (like pytest's xfail), so CI only goes red on a
regression."""

from __future__ import annotations

import platform
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rdmacheck.findings import summary as finding_summary
from rdmacheck.report.results import FAIL, SKIP, RunResult

if TYPE_CHECKING:
    from rdmacheck.report.engine_matrix_result import EngineMatrixResult
    from rdmacheck.report.mooncake_result import MooncakeResult


@dataclass
class Case:
    classname: str
    name: str
    time_s: float
    failure: str | None = None  # the message of a <failure>
    failure_type: str = ""
    failure_text: str = ""
    skipped: str | None = None  # the message of a <skipped>
    logs: str | None = None


def suite_xml(cases: list[Case], timestamp: str, hostname: str) -> bytes:
    suite = ET.Element("testsuite", name="rdmacheck", tests=str(len(cases)),
                       failures=str(sum(1 for c in cases if c.failure is not None)), errors="0",
                       skipped=str(sum(1 for c in cases if c.skipped is not None)),
                       time=f"{sum(c.time_s for c in cases):.3f}", timestamp=timestamp, hostname=hostname)
    for c in cases:
        case = ET.SubElement(suite, "testcase", classname=c.classname, name=c.name, time=f"{c.time_s:.3f}")
        if c.skipped is not None:
            ET.SubElement(case, "skipped", message=c.skipped)
        if c.failure is not None:
            ET.SubElement(case, "failure", message=c.failure, type=c.failure_type).text = c.failure_text or None
        if c.logs:
            ET.SubElement(case, "system-out").text = f"logs: {c.logs}"
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def junit_xml(run: RunResult) -> bytes:
    cases = []
    for c in run.cells:
        case = Case(classname=f"rdmacheck.{c.device}.{c.mode}", name=f"{c.strategy}.restart-{c.restart}",
                    time_s=c.duration_s, logs=c.logs)
        if c.verdict == SKIP:
            case.skipped = c.skip_reason or "skipped"
        elif c.verdict == FAIL and c.met:
            case.skipped = f"expected failure: {finding_summary(c.finding)} ({c.expectation_reason or ''})"
        elif not c.met:
            unexpected = " (not a finding the expectation accepts)" if c.verdict == c.expected else ""
            case.failure = (finding_summary(c.finding) + unexpected if c.verdict == FAIL
                            else f"expected {c.expected} but the cell passed") or "failed"
            case.failure_type = c.step or c.verdict
            where = f"step: {c.step}" if c.step else ""
            case.failure_text = "\n".join(x for x in (where, *(
                f"round {r.index}: {r.verdict} {r.finding or ''} {r.detail or ''}".rstrip() for r in c.rounds)) if x)
        cases.append(case)
    return suite_xml(cases, run.started, run.host)


def mooncake_junit_xml(res: MooncakeResult) -> bytes:
    """One testcase per planned round; a run that stopped early fails the rounds it never reached."""
    p = res.plan
    cls = f"rdmacheck.mooncake.{p.device}.engine-{p.engine_role}"
    cases = []
    for i in range(p.rounds):
        r = next((x for x in res.rounds if x.index == i), None)
        case = Case(classname=cls, name=f"restart-{p.restart}.round-{i}",
                    time_s=((r.start_s or 0.0) + (r.first_write_ms or 0.0) / 1000) if r else 0.0, logs=str(p.log_dir))
        if r is None:
            case.failure, case.failure_type = f"not reached: {res.error or 'the run stopped'}", "not reached"
        elif not r.ok:
            case.failure = r.finding_text or r.error or "verification failed"
            case.failure_type = "verify" if r.error is None else "error"
            case.failure_text = f"target: {r.target_verify}\nread back: {r.readback}"
        cases.append(case)
    return suite_xml(cases, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), platform.node())


def write_junit(xml: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(xml)



def engine_matrix_junit_xml(res: EngineMatrixResult) -> bytes:
    """One testcase per release x scenario; an expected failure is skipped, a regression fails."""
    cases = []
    for c in res.cells:
        case = Case(classname=f"rdmacheck.mooncake.{res.device}.{c.release}", name=c.scenario, time_s=c.duration_s,
                    logs=c.logs)
        findings = ", ".join(finding_summary(f) for f in c.findings)
        if c.met and c.verdict == FAIL:
            case.skipped = f"expected failure: {findings} ({c.expectation_reason})"
        elif not c.met:
            case.failure = (f"unexpected findings: {', '.join(c.unexpected_findings)}" if c.unexpected_findings
                            else f"{c.verdict}, expected {c.expected or 'PASS'}: {findings or 'no finding'}")
            case.failure_type = c.verdict
            case.failure_text = "\n".join(c.evidence)
        cases.append(case)
    return suite_xml(cases, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), platform.node())
