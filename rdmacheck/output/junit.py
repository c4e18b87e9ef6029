"""JUnit XML from an Outcome's cases."""

from __future__ import annotations

import platform
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from rdmacheck.output.files import write_text_atomic
from rdmacheck.output.outcome import Case, Outcome


# What XML 1.0 cannot hold at all (C0 controls but tab, newline and carriage return; lone surrogates;
# U+FFFE/U+FFFF): a finding or an engine's line carrying one made the whole file unparsable.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value: object) -> str:
    """`value` as text XML 1.0 can hold: each character it cannot shown as \\xNN / \\uNNNN."""
    return _NOT_XML.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}",
                        str(value))


def suite_xml(cases: list[Case], timestamp: str | None = None, hostname: str | None = None) -> bytes:
    suite = ET.Element("testsuite", name="rdmacheck", tests=str(len(cases)),
                       failures=str(sum(1 for c in cases if c.failure is not None)), errors="0",
                       skipped=str(sum(1 for c in cases if c.skipped is not None)),
                       time=f"{sum(c.time_s for c in cases):.3f}",
                       timestamp=timestamp or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       hostname=hostname or platform.node())
    for c in cases:
        case = ET.SubElement(suite, "testcase", classname=xml_text(c.classname), name=xml_text(c.name),
                             time=f"{c.time_s:.3f}")
        if c.skipped is not None:
            ET.SubElement(case, "skipped", message=xml_text(c.skipped))
        if c.failure is not None:
            ET.SubElement(case, "failure", message=xml_text(c.failure), type=xml_text(c.failure_type)).text = \
                xml_text(c.failure_text) if c.failure_text else None
        if c.logs:
            ET.SubElement(case, "system-out").text = xml_text(f"logs: {c.logs}")
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def junit_xml(result: Outcome) -> bytes:
    return suite_xml(result.cases())


def write_junit(result: Outcome, path: Path) -> None:
    write_text_atomic(path, junit_xml(result))
