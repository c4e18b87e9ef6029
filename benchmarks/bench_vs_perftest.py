"""Benchmark (not a test): `rdmacheck bench` against perftest in the same lab VM, same device.

    .venv/bin/python benchmarks/bench_vs_perftest.py
Prints 64 KiB WRITE bandwidth (goal >= 0.8 x ib_write_bw), 64 B WRITE latency next to
ib_write_lat, and rdmacheck's re-establishment cost per strategy."""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.inlab import rerun_inside  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GOAL_BW = 0.8


def perftest(tool: str, args: list[str]) -> str:
    server = subprocess.Popen([tool, "-d", "rxe0", "-x", "1", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    time.sleep(1.5)
    client = subprocess.run([tool, "-d", "rxe0", "-x", "1", *args, "127.0.0.1"], capture_output=True, text=True,
                            timeout=300)
    server.wait(timeout=60)
    return client.stdout


def row_after(text: str, header: str) -> list[str]:
    lines = text.splitlines()
    i = next(k for k, line in enumerate(lines) if header in line)
    return lines[i + 1].split()


def inside(work: Path) -> None:
    out = work / "bench.json"
    subprocess.run([sys.executable, "-m", "rdmacheck", "bench", "-d", "rxe0", "--iters", "1000", "--rounds", "20",
                    "--size", "64KiB", "--depth", "16", "--json", str(out)], check=True, capture_output=True, cwd=ROOT)
    res = json.loads(out.read_text())
    bw = float(row_after(perftest("ib_write_bw", ["-s", "65536", "-n", "5000", "-t", "16"]), "BW average")[3])
    lat = row_after(perftest("ib_write_lat", ["-s", "64", "-n", "1000"]), "t_typical")
    ours_bw = res["bandwidth_MBps"]["write 65536 B x16"]
    ours_lat = res["latency_us"]["write 64 B"]
    print(f"64 KiB WRITE bandwidth, 16 in flight: rdmacheck {ours_bw:.1f} MB/s, ib_write_bw {bw:.1f} MB/s: ratio "
          f"{ours_bw / bw:.2f} (goal >= {GOAL_BW}) -> {'met' if ours_bw >= GOAL_BW * bw else 'MISSED'}")
    print(f"64 B WRITE latency: rdmacheck median {ours_lat['median']:.1f} us (p99 {ours_lat['p99']:.1f}); "
          f"ib_write_lat t_typical {float(lat[4]):.1f} us (t_min {float(lat[2]):.1f}): ratio "
          f"{ours_lat['median'] / float(lat[4]):.2f}")
    for strategy, steps in res["reestablish_ms"].items():
        print(f"re-establish with {strategy}: total median {steps['total']['median']:.1f} ms, p99 "
              f"{steps['total']['p99']:.1f} ms; " + ", ".join(f"{k} {v['median']:.2f}" for k, v in steps.items()
                                                             if k != "total"))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--inside":
        inside(Path(sys.argv[2]))
        sys.exit(0)
    work = Path(tempfile.mkdtemp(prefix="rdmacheck-bench-", dir="/tmp"))
    sys.exit(rerun_inside(__file__, work, timeout=1200))
