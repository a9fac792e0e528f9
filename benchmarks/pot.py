"""Benchmark the PoT sandbox: ``python benchmarks/pot.py [--n 400] [--before-tree DIR]``.

1. Realistic mix: programs/s through ``run_many`` on a PoT-style mix (plain arithmetic as in
   GSM8K/SVAMP/TabMWP/TAT-QA programs, ``math``, ``datetime``/``fractions``, ``numpy`` including
   the ndarray reductions, ``sympy`` as in AQuA), plus each category alone, and the CPU time one
   program costs (parent + worker trees + program processes, from ``/proc``). Goal >= 500/s.
   With ``--before-tree DIR`` (a checkout of an older ``verticalize`` package, e.g.
   ``git archive <rev> verticalize | tar -x -C DIR``) the same programs also run on that
   implementation, in alternating rounds in this run, and the ratio is printed.
2. Trivial programs: ``run_many`` and one-at-a-time ``run()`` vs a fresh ``python -c``
   subprocess per program on the same programs in this run (the ratio).
3. Timeout overshoot (duration - timeout) p50/p99 over timed-out programs (goal p99 <= 100 ms).
4. Gold programs: every ``domains/*/{train,eval}.jsonl`` record with a ``program`` and a numeric
   ``answer`` must reproduce it within rel tol 1e-6 (skipped when the files do not exist).

Every figure depends on the machine and on what else runs on it: compare only numbers from the
same run (the ratios), and say which machine gave them.
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

# category -> (share of the mix, templates); {i} varies the numbers
MIX = {
    "arithmetic": (0.50, [
        "x = {i} * 1.5\nanswer = round(x + 2, 2)",
        "price_old = 80 + {i}\nprice_new = 92 + {i}\n"
        "answer = round((price_new - price_old) / price_old * 100, 2)",
        "principal = 1000 * ({i} + 1)\nr = 0.05 / 12\nn = 360\n"
        "answer = round(principal * r / (1 - (1 + r) ** -n), 2)",
        "total = 0\nfor k in range(100 + {i} % 50):\n    total += k * k\nanswer = total",
        "rows = [{{'item': 'a', 'qty': {i}}}, {{'item': 'b', 'qty': 3}}]\n"
        "answer = sum(r['qty'] for r in rows)",
        "weight = 10 + {i} % 50\nprint('dose:', weight * 25)\nprint(weight * 25 / 2)",
    ]),
    "math": (0.15, [
        "import math\nanswer = round(math.sqrt({i} + 1) * 100, 2)",
        "import math\nanswer = math.comb(10 + {i} % 5, 3) + round(math.log({i} + 2), 4)",
    ]),
    "stdlib": (0.10, [
        "from datetime import date, timedelta\nd = date(2024, 1, 1) + timedelta(days={i})\n"
        "answer = d.isoformat()",
        "from fractions import Fraction\nanswer = float(Fraction({i} + 1, 7) * 3)",
    ]),
    "numpy": (0.15, [
        "import numpy as np\na = np.array([1., 5., {i}])\n"
        "answer = [float(a.max()), float(a.mean()), float(a.std())]",
        "import numpy as np\nx = np.linalg.solve([[3, 1], [1, 2]], [9, {i}])\n"
        "answer = round(float(x[0]), 6)",
    ]),
    "sympy": (0.10, [
        "from sympy import Symbol, solve, Eq\nx = Symbol('x')\nanswer = solve(Eq(2 * x + 3, {i}), x)[0]",
        "from sympy import symbols, Eq, solve\nx, y = symbols('x y')\n"
        "s = solve([Eq(x + y, {i}), Eq(x - y, 2)], [x, y])\nanswer = s[x] * s[y]",
    ]),
}
TRIVIAL = [t for t in MIX["arithmetic"][1][:4]] + [MIX["math"][1][0], MIX["stdlib"][1][0]]


def make_mix(n: int) -> tuple[list[str], dict[str, int]]:
    """n programs in the mix's proportions, interleaved deterministically; and the counts."""
    out, credit, counts = [], {c: 0.0 for c in MIX}, {c: 0 for c in MIX}
    for i in range(n):
        for c, (share, _) in MIX.items():
            credit[c] += share
        c = max(credit, key=credit.get)
        credit[c] -= 1.0
        counts[c] += 1
        templates = MIX[c][1]
        out.append(templates[i % len(templates)].format(i=i))
    return out, counts


def make_trivial(n: int) -> list[str]:
    return [TRIVIAL[i % len(TRIVIAL)].format(i=i) for i in range(n)]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, math.ceil(q / 100 * len(values)) - 1))
    return values[k]


# ------------------------------------------------------------------ CPU accounting (/proc)
def _proc_cpu(pid: int) -> tuple[float, list[int]]:
    """CPU seconds of a process incl. its reaped children, and its live children."""
    tck = os.sysconf("SC_CLK_TCK")
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = sum(int(x) for x in fields[11:15]) / tck
    except (OSError, ValueError, IndexError):
        return 0.0, []
    kids = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                kids += [int(k) for k in f.read().split()]
    except OSError:
        pass
    return cpu, kids


def tree_cpu(pids: list[int]) -> float:
    """CPU seconds used so far by these processes and their descendants (live and reaped)."""
    total, todo, seen = 0.0, list(pids), set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        cpu, kids = _proc_cpu(p)
        total += cpu
        todo += kids
    return total


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


# ------------------------------------------------------------------ the old implementation
_BEFORE_SCRIPT = r"""
import json, os, sys, time
from verticalize.pot import PythonSandbox
progs = json.loads(sys.stdin.read())
with PythonSandbox(timeout_s=2.0) as sb:
    sb.run_many(progs[:20])
    t0 = time.perf_counter()
    rs = sb.run_many(progs)
    dt = time.perf_counter() - t0
    bad = {}
    for r in rs:
        if r.status != "ok":
            bad[r.status] = bad.get(r.status, 0) + 1
    print(json.dumps({"rate": len(progs) / dt, "not_ok": bad,
                      "file": sys.modules["verticalize.pot.sandbox"].__file__}))
"""


def run_before(tree: str, programs: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=tree)
    out = subprocess.run([sys.executable, "-c", _BEFORE_SCRIPT], input=json.dumps(programs),
                         capture_output=True, text=True, env=env, cwd=tree, timeout=600)
    if out.returncode:
        raise RuntimeError(f"the --before-tree run failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ sections
def bench_mix(sb, n: int, before_tree: str | None, rounds: int) -> None:
    programs, counts = make_mix(n)
    sb.run_many(programs[: 4 * sb.n_workers])  # warm-up: starts every tier
    rates, olds, cpu_per = [], [], []
    for r_i in range(rounds):
        pids = sb.info["worker_pids"]
        c0, s0 = tree_cpu(pids), self_cpu()
        t0 = time.perf_counter()
        results = sb.run_many(programs)
        dt = time.perf_counter() - t0
        cpu = tree_cpu(pids) - c0 + self_cpu() - s0
        rates.append(n / dt)
        cpu_per.append(cpu / n * 1000)
        bad = sorted({(r.status, (r.error or "")[:80]) for r in results if r.status != "ok"})
        if bad:
            print(f"mix:        NOT OK: {bad[:3]}")
        if before_tree:
            olds.append(run_before(before_tree, programs))
    best = max(rates)
    shares = ", ".join(f"{c} {100 * counts[c] / n:.0f}%" for c in MIX)
    print(f"mix:        run_many {best:7.1f} programs/s (best of {rounds}: "
          f"{', '.join(f'{r:.0f}' for r in rates)}; {n} programs: {shares})   goal >= 500")
    print(f"            CPU per program {min(cpu_per):.2f} ms (parent + zygotes + program "
          f"processes); {os.cpu_count()} cpus -> at most {1000 * os.cpu_count() / min(cpu_per):.0f}"
          f" programs/s on an idle machine")
    if olds:
        old_best = max(o["rate"] for o in olds)
        old_rounds = ", ".join(f"{o['rate']:.0f}" for o in olds)
        print(f"            before ({olds[0]['file']}): {old_best:7.1f} programs/s "
              f"(rounds: {old_rounds}; not ok: {olds[0]['not_ok'] or 'none'})   "
              f"ratio after/before {best / old_best:.2f}x")
    for c, (_s, templates) in MIX.items():
        progs = [templates[i % len(templates)].format(i=i) for i in range(max(40, n // 5))]
        sb.run_many(progs[:4])
        t0 = time.perf_counter()
        rs = sb.run_many(progs)
        dt = time.perf_counter() - t0
        nok = sum(r.status != "ok" for r in rs)
        print(f"            {c:10s} alone {len(progs) / dt:7.1f} programs/s"
              f"{f'  ({nok} not ok)' if nok else ''}")


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


def bench_trivial(sb, n: int, baseline_n: int, before_tree: str | None = None) -> None:
    programs = make_trivial(n)
    sb.run_many(programs[: 2 * sb.n_workers])
    t0 = time.perf_counter()
    results = sb.run_many(programs)
    rate = n / (time.perf_counter() - t0)
    bad = [r for r in results if r.status != "ok"]
    t0 = time.perf_counter()
    for code in programs[:100]:
        sb.run(code)
    seq_rate = 100 / (time.perf_counter() - t0)
    base = baseline(programs[:baseline_n], sb.n_workers)
    print(f"trivial:    run_many {rate:7.1f} programs/s ({n} programs, {sb.n_workers} in parallel,"
          f" {len(bad)} not ok); run() one at a time {seq_rate:7.1f} programs/s")
    print(f"            fresh `python -c` per program {base:7.1f} programs/s ({baseline_n} programs,"
          f" {sb.n_workers} in parallel): ratio {rate / base:6.1f}x")
    if before_tree:
        old = run_before(before_tree, programs)
        print(f"            before: run_many {old['rate']:7.1f} programs/s (not ok: "
              f"{old['not_ok'] or 'none'})   ratio after/before {rate / old['rate']:.2f}x")


def bench_timeouts(sb, count: int, timeout: float) -> None:
    hogs = ["while True:\n    pass", "import time\ntime.sleep(100)",
            "x = 0\nwhile True:\n    x += 1", "import math\nwhile True:\n    math.factorial(500)",
            "import numpy as np\nwhile True:\n    np.ones(1000).sum()"]
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


def bench_gold(sb) -> int:
    files = sorted(glob.glob(os.path.join(ROOT, "domains", "*", "train.jsonl")) +
                   glob.glob(os.path.join(ROOT, "domains", "*", "eval.jsonl")))
    if not files:
        print("gold:       no domains/*/train.jsonl or eval.jsonl - skipped")
        return 0
    failures = 0
    for path in files:
        records = []
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                ans = rec.get("answer")
                if isinstance(rec.get("program"), str) and isinstance(ans, (int, float)) \
                        and not isinstance(ans, bool):
                    records.append(rec)
        if not records:
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
              f" match, {sum(r.status == 'denied' for r in results)} denied "
              f"({len(records) / dt:.0f} programs/s)")
        for item in bad[:5]:
            print(f"              MISMATCH id={item[0]} expected={item[1]!r} status={item[2]} "
                  f"got={item[3]!r} error={item[4]}")
    return failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=400, help="programs per throughput measurement")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the mix (best is shown)")
    ap.add_argument("--before-tree", default=None,
                    help="directory holding an older verticalize package to compare with")
    ap.add_argument("--baseline-n", type=int, default=60,
                    help="programs for the fresh-subprocess baseline (it is slow)")
    ap.add_argument("--timeouts", type=int, default=20, help="timed-out programs to measure")
    ap.add_argument("--timeout", type=float, default=0.25, help="timeout for those programs (s)")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--no-gold", action="store_true", help="skip the domains/ gold programs")
    args = ap.parse_args()
    sys.path.insert(0, ROOT)
    from verticalize.pot import PythonSandbox

    t0 = time.perf_counter()
    with PythonSandbox(timeout_s=2.0, workers=args.workers) as sb:
        info = sb.info
        print(f"sandbox:    {info['workers']} in parallel, start {time.perf_counter() - t0:.2f} s, "
              f"cpus {os.cpu_count()}, load {os.getloadavg()[0]:.2f}; namespaces "
              f"{'+'.join(info['namespaces']) or 'none'}, uid {info['uid']}, seccomp "
              f"{'on' if info['seccomp'] else 'off'}, landlock {'on' if info['landlock'] else 'off'}")
        bench_mix(sb, args.n, args.before_tree, args.rounds)
        bench_trivial(sb, args.n, min(args.baseline_n, args.n), args.before_tree)
        bench_timeouts(sb, args.timeouts, args.timeout)
        failures = 0 if args.no_gold else bench_gold(sb)
    print(f"load:       {os.getloadavg()[0]:.2f} at the end (other processes on this machine "
          "change every figure above)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
