"""JUnit XML from an Outcome's cases."""

from __future__ import annotations

import platform
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from rdmacheck.output.files import write_text_atomic
from rdmacheck.output.outcome import Case, Outcome


def suite_xml(cases: list[Case], timestamp: str | None = None, hostname: str | None = None) -> bytes:
    suite = ET.Element("testsuite", name="rdmacheck", tests=str(len(cases)),
                       failures=str(sum(1 for c in cases if c.failure is not None)), errors="0",
                       skipped=str(sum(1 for c in cases if c.skipped is not None)),
                       time=f"{sum(c.time_s for c in cases):.3f}",
                       timestamp=timestamp or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       hostname=hostname or platform.node())
    for c in cases:
        case = ET.SubElement(suite, "testcase", classname=c.classname, name=c.name, time=f"{c.time_s:.3f}")
        if c.skipped is not None:
            ET.SubElement(case, "skipped", message=c.skipped)
        if c.failure is not None:
            ET.SubElement(case, "failure", message=c.failure, type=c.failure_type).text = c.failure_text or None
        if c.logs:
            ET.SubElement(case, "system-out").text = f"logs: {c.logs}"
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def junit_xml(result: Outcome) -> bytes:
    return suite_xml(result.cases())


def write_junit(result: Outcome, path: Path) -> None:
    write_text_atomic(path, junit_xml(result))
