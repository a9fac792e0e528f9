"""Benchmark the PoT sandbox: ``python benchmarks/pot.py [--n 400]``.

1. Throughput: programs/s through the warm sandbox (isolation on) vs a fresh ``python -c``
   subprocess per program, on the same programs, in this run (goals: >= 200/s, >= 5x).
2. Timeout overshoot (duration - timeout) p50/p99 over timed-out programs (goal <= 100 ms).
3. Gold programs: every ``domains/*/{train,eval}.jsonl`` record with a ``program`` and a numeric
   ``answer`` must reproduce it within rel tol 1e-6 (skipped when the files do not exist).
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from verticalize.pot import PythonSandbox  # noqa: E402

TEMPLATES = [
    "x = {i} * 1.5\nanswer = round(x + 2, 2)",
    "import math\nanswer = round(math.sqrt({i} + 1) * 100, 2)",
    "price_old = 80 + {i}\nprice_new = 92 + {i}\nanswer = round((price_new - price_old) / price_old * 100, 2)",
    "principal = 1000 * ({i} + 1)\nr = 0.05 / 12\nn = 360\n"
    "answer = round(principal * r / (1 - (1 + r) ** -n), 2)",
    "total = 0\nfor k in range(100 + {i}):\n    total += k * k\nanswer = total",
    "from datetime import date, timedelta\nd = date(2024, 1, 1) + timedelta(days={i})\nanswer = d.isoformat()",
    "weight = 10 + {i} % 50\nprint('dose:', weight * 25)\nprint(weight * 25 / 2)",
    "from fractions import Fraction\nanswer = float(Fraction({i} + 1, 7) * 3)",
]


def make_programs(n: int) -> list[str]:
    return [TEMPLATES[i % len(TEMPLATES)].format(i=i) for i in range(n)]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))
    return values[k]


def baseline(programs: list[str], workers: int) -> float:
    """Programs/s running each program in a fresh ``python -c`` subprocess (no isolation)."""
    def one(code: str) -> None:
        if "answer" in code:
            code += "\nprint(answer)"
        subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, check=True)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(one, programs))
    return len(programs) / (time.perf_counter() - t0)


def bench_throughput(sb: PythonSandbox, n: int, baseline_n: int) -> None:
    programs = make_programs(n)
    sb.run_many(programs[: 2 * sb.n_workers])  # warm-up
    t0 = time.perf_counter()
    results = sb.run_many(programs)
    rate = n / (time.perf_counter() - t0)
    bad = [r for r in results if r.status != "ok"]
    t0 = time.perf_counter()
    for code in programs[:100]:
        sb.run(code)
    seq_rate = 100 / (time.perf_counter() - t0)
    base = baseline(programs[:baseline_n], sb.n_workers)
    print(f"throughput: sandbox run_many {rate:7.1f} programs/s ({n} programs, "
          f"{sb.n_workers} workers, {len(bad)} not ok)   goal >= 200")
    print(f"            sandbox run() one at a time {seq_rate:7.1f} programs/s")
    print(f"            fresh `python -c` per program {base:7.1f} programs/s "
          f"({baseline_n} programs, {sb.n_workers} in parallel)")
    print(f"            ratio {rate / base:6.1f}x   goal >= 5x")


def bench_timeouts(sb: PythonSandbox, count: int, timeout: float) -> None:
    hogs = ["while True:\n    pass", "import time\ntime.sleep(100)",
            "x = 0\nwhile True:\n    x += 1", "import math\nwhile True:\n    math.factorial(500)"]
    programs = [hogs[i % len(hogs)] for i in range(count)]
    overs, statuses = [], set()
    for i in range(0, count, sb.n_workers):
        for r in sb.run_many(programs[i:i + sb.n_workers], timeout_s=timeout):
            statuses.add(r.status)
            overs.append((r.duration_s - timeout) * 1000)
    follow = sb.run("answer = 6 * 7")
    print(f"timeouts:   {count} programs, timeout {timeout:g} s, statuses {sorted(statuses)}: "
          f"overshoot p50 {pct(overs, 50):.1f} ms, p99 {pct(overs, 99):.1f} ms, "
          f"max {max(overs):.1f} ms   goal p99 <= 100 ms; next program "
          f"{'ok' if follow.answer == 42 else 'FAILED'}")


def bench_gold(sb: PythonSandbox) -> int:
    files = sorted(glob.glob(os.path.join(ROOT, "domains", "*", "train.jsonl")) +
                   glob.glob(os.path.join(ROOT, "domains", "*", "eval.jsonl")))
    if not files:
        print("gold:       no domains/*/train.jsonl or eval.jsonl yet - skipped")
        return 0
    failures = 0
    for path in files:
        records = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                ans = rec.get("answer")
                if isinstance(rec.get("program"), str) and isinstance(ans, (int, float)) \
                        and not isinstance(ans, bool):
                    records.append(rec)
        if not records:
            print(f"gold:       {os.path.relpath(path, ROOT)}: no program records")
            continue
        t0 = time.perf_counter()
        results = sb.run_many([r["program"] for r in records])
        dt = time.perf_counter() - t0
        bad = []
        for rec, res in zip(records, results):
            got = res.answer
            ok = res.status == "ok" and isinstance(got, (int, float)) and not isinstance(got, bool) \
                and math.isclose(float(got), float(rec["answer"]), rel_tol=1e-6, abs_tol=1e-9)
            if not ok:
                bad.append((rec.get("id"), rec["answer"], res.status, got, res.error))
        failures += len(bad)
        print(f"gold:       {os.path.relpath(path, ROOT)}: {len(records) - len(bad)}/{len(records)}"
              f" match ({len(records) / dt:.0f} programs/s)")
        for item in bad[:5]:
            print(f"              MISMATCH id={item[0]} expected={item[1]!r} status={item[2]} "
                  f"got={item[3]!r} error={item[4]}")
    return failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400, help="programs for the throughput test")
    ap.add_argument("--baseline-n", type=int, default=60,
                    help="programs for the fresh-subprocess baseline (it is slow)")
    ap.add_argument("--timeouts", type=int, default=20, help="timed-out programs to measure")
    ap.add_argument("--timeout", type=float, default=0.25, help="timeout for those programs (s)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--no-gold", action="store_true", help="skip the domains/ gold programs")
    args = ap.parse_args()
    t0 = time.perf_counter()
    with PythonSandbox(timeout_s=2.0, workers=args.workers) as sb:
        info = sb.info
        print(f"sandbox:    {info['workers']} workers, start {time.perf_counter() - t0:.2f} s, "
              f"seccomp {'on' if info['seccomp'] else 'off'}, numpy/sympy "
              f"{'numpy' in info['modules']}/{'sympy' in info['modules']}, cpus {os.cpu_count()}")
        bench_throughput(sb, args.n, min(args.baseline_n, args.n))
        bench_timeouts(sb, args.timeouts, args.timeout)
        failures = 0 if args.no_gold else bench_gold(sb)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
