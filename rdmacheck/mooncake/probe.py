"""`rdmacheck mooncake probe`: ask a running engine who it is, and check what it says."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rdmacheck.handshake.messages import InvalidMessage
from rdmacheck.handshake.wire import FrameError, PeerClosed
from rdmacheck.mooncake import wire
from rdmacheck.mooncake.messages import SegmentDesc
from rdmacheck.words import Verdict


@dataclass
class ProbeResult:
    address: str
    probe_reply: dict | None = None
    probe_ms: float | None = None
    probe_unanswered: str | None = None  # why the Probe got no reply (engines before 0.3.10.post2)
    segment: SegmentDesc | None = None
    metadata_ms: float | None = None
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def verdict(self) -> str:
        return Verdict.PASS if self.segment is not None and not self.problems and not self.error else Verdict.FAIL

    def to_dict(self) -> dict:
        return {"address": self.address, "verdict": self.verdict, "probe_reply": self.probe_reply,
                "probe_ms": self.probe_ms, "probe_unanswered": self.probe_unanswered, "metadata_ms": self.metadata_ms, "problems": self.problems,
                "error": self.error, "segment": self.segment.to_json() if self.segment else None}


def _timed(host: str, port: int, kind: int, obj: dict, timeout: float) -> tuple[dict, float]:
    t0 = time.perf_counter()
    reply = wire.request(host, port, kind, obj, timeout)
    return reply, round((time.perf_counter() - t0) * 1000, 3)


def probe(host: str, port: int, timeout: float = 5.0, local_devices: list[str] | None = None) -> ProbeResult:
    """A Probe, then a Metadata request (an empty descriptor: we are nobody's segment). An engine
    before 0.3.10.post2 has no Probe (it closes the connection): then the Metadata answer alone."""
    res = ProbeResult(f"{host}:{port}")
    try:
        try:
            res.probe_reply, res.probe_ms = _timed(host, port, wire.PROBE, {}, timeout)
        except (PeerClosed, ConnectionResetError) as e:
            res.probe_unanswered = f"no answer to a Probe ({e}): an engine before 0.3.10.post2 has none"
        desc, res.metadata_ms = _timed(host, port, wire.METADATA, {}, timeout)
        res.segment = SegmentDesc.from_json(desc)
    except ConnectionRefusedError:
        res.error = f"{host}:{port} refused the connection (no engine listening there?)"
    except (OSError, TimeoutError, FrameError, InvalidMessage) as e:
        res.error = f"{host}:{port}: {e}"
    if res.segment is not None:
        res.problems = res.segment.problems(local_devices)
    return res
