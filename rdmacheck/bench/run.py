"""`rdmacheck bench`: this process is the initiator; the target is a `reestablish --role target`
(started here as a child unless --peer names one on another host)."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rdmacheck.verbs.measure import Remote, bandwidth_bps, latency_us
from rdmacheck.bench.result import STEPS, BenchResult, Dist
from rdmacheck.endpoint import Endpoint
from rdmacheck.errors import RdmacheckError
from rdmacheck.handshake.client import Channel
from rdmacheck.handshake.messages import Accept, Connect, Verify, VerifyResult
from rdmacheck.pattern import new_seed, pattern
from rdmacheck.roles.events import new_generation
from rdmacheck.roles.process import RoleProcess, free_port
from rdmacheck.verbs.rc import Buffer, Device, QPTuning
from rdmacheck.words import Strategy, resolve_strategy


@dataclass
class BenchPlan:
    device: str
    peer: tuple[str, int] | None = None  # None: start a target here
    target_device: str | None = None
    strategies: tuple[Strategy, ...] = (Strategy.RESET, Strategy.RECREATE)
    iters: int = 1000
    size: int = 64 << 10
    depth: int = 16
    passes: int = 0  # bandwidth sweeps over the window; 0 = enough for ~64 MiB
    rounds: int = 20
    verify: bool = False
    io_timeout: float = 30.0
    tuning: QPTuning = field(default_factory=QPTuning)
    log_dir: Path | None = None


class Bench:
    def __init__(self, plan: BenchPlan, on_step: Callable[[str], None] = lambda s: None):
        self.plan = plan
        self.on_step = on_step
        self.procs: list[RoleProcess] = []
        self.log_dir = Path(plan.log_dir or tempfile.mkdtemp(prefix="rdmacheck-bench-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def _target(self, strategy: str) -> tuple[str, int]:
        if self.plan.peer:
            return self.plan.peer
        for p in self.procs:
            p.stop()
        port = free_port("127.0.0.1")
        proc = RoleProcess("target", ["reestablish", "--role", "target", "--listen", f"127.0.0.1:{port}",
                                      "--device", self.plan.target_device or self.plan.device, "--strategy", strategy,
                                      "--mode", "oob", "--buffer-size", str(self._region())],
                           self.log_dir / "target.log")
        self.procs.append(proc)
        proc.wait_for("ready", 60, "the bench target to be ready")
        return ("127.0.0.1", port)

    def _region(self) -> int:
        return max(self.plan.size * self.plan.depth, 4096)

    def run(self) -> BenchResult:
        plan = self.plan
        res = BenchResult(plan.device, size=plan.size, depth=plan.depth, iters=plan.iters)
        dev = Device.open(plan.device)
        res.provider = dev.info.provider
        region = self._region()
        buf = Buffer(dev, region)
        try:
            for i, strategy in enumerate(plan.strategies):
                strategy = resolve_strategy(strategy, dev.info)
                addr = self._target(strategy)
                ep = Endpoint(dev, plan.tuning, "bench", new_generation())
                ep.create()
                chan, accept = self._handshake(addr, ep)
                ep.establish(accept.qp)
                remote = Remote(accept.buffer.addr, accept.buffer.rkey)
                if i == 0:
                    self._data(res, ep, buf, remote, chan, region)
                self.on_step(f"re-establishing {plan.rounds} times with {strategy}")
                res.reestablish_ms[strategy] = self._reestablish(ep, buf, addr, chan, strategy)
                chan.close()
                ep.close()
            if plan.peer:
                res.notes.append("the remote target renews its own QP with the strategy it was started with")
        finally:
            for p in self.procs:
                p.stop()
            buf.close()
            dev.close()
        return res

    def _handshake(self, addr: tuple[str, int], ep: Endpoint) -> tuple[Channel, Accept]:
        chan = Channel.connect(*addr, timeout=30)
        return chan, self._connect(chan, ep)

    def _connect(self, chan: Channel, ep: Endpoint) -> Accept:
        reply = chan.request(Connect(qp=ep.local_info(), mode="oob"), timeout=self.plan.io_timeout)
        if not isinstance(reply, Accept):
            raise RdmacheckError(f"the target answered connect with {reply.KIND!r}")
        return reply

    def _data(self, res: BenchResult, ep: Endpoint, buf: Buffer, remote: Remote, chan: Channel, region: int) -> None:
        plan = self.plan
        qp = ep.qp
        for op in ("write", "read"):
            self.on_step(f"{op} latency, 64 B x {plan.iters}")
            latency_us(qp, buf, remote, op, 64, min(50, plan.iters), plan.io_timeout)  # warm-up
            res.latency_us[f"{op} 64 B"] = Dist.of(latency_us(qp, buf, remote, op, 64, plan.iters, plan.io_timeout))
        seed = new_seed()
        buf.write(0, pattern(seed, region))
        passes = plan.passes or max(1, (64 << 20) // region)
        for op in ("write", "read"):
            self.on_step(f"{op} bandwidth, {plan.size} B x depth {plan.depth}, {passes} x {region} bytes")
            bps = bandwidth_bps(qp, buf, remote, op, plan.size, plan.depth, region, passes, plan.io_timeout)
            res.bandwidth_MBps[f"{op} {plan.size} B x{plan.depth}"] = round(bps / 1e6, 1)
            if op == "write" and plan.verify:
                v = chan.request(Verify(seed=seed, offset=0, length=region), timeout=plan.io_timeout)
                if not isinstance(v, VerifyResult):
                    raise RdmacheckError(f"the target answered verify with {v.KIND!r}")
                if not v.ok:
                    raise RdmacheckError(f"the target found the bandwidth WRITEs' data wrong: {v.detail}")
                res.verified = region

    def _reestablish(self, ep: Endpoint, buf: Buffer, addr: tuple[str, int], chan: Channel,
                     strategy: str) -> dict[str, Dist]:
        """Each round: renew our QP, handshake (the target renews its QP for our new generation),
        bring ours up, and the first WRITE - each step timed."""
        samples: dict[str, list[float]] = {s: [] for s in STEPS}
        for _ in range(self.plan.rounds):
            t0 = time.perf_counter()
            report = ep.renew(strategy)
            samples["renew"].append(report.ms)
            ep.generation = new_generation()  # a new life as the target sees it: it renews its side
            t1 = time.perf_counter()
            reply = self._connect(chan, ep)
            samples["handshake"].append((time.perf_counter() - t1) * 1000)
            timings = ep.establish(reply.qp)
            for step in ("INIT", "RTR", "RTS"):
                samples[step].append(timings.get(step, 0.0))
            t2 = time.perf_counter()
            ep.qp.transfer("write", buf, 0, reply.buffer.addr, reply.buffer.rkey, 4096, self.plan.io_timeout)
            samples["first write"].append((time.perf_counter() - t2) * 1000)
            samples["total"].append((time.perf_counter() - t0) * 1000)
        return {k: Dist.of(v) for k, v in samples.items()}
