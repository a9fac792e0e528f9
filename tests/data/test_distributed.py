"""clean: on datatrove's executors (clean.executor): local processes, Slurm (fake sbatch), Ray (a local one)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from verticalize.data.clean import clean_examples
from verticalize.data.pipeline import build_training_data, load_pack_split
from verticalize.errors import DataError, RecipeError
from verticalize.packs import load_domain
from verticalize.recipe import CleanSpec, parse_recipe

pytest.importorskip("datatrove")

from verticalize.data import distributed
from verticalize.data.distributed import build_executors, clean_distributed, write_shards


def _examples(n: int = 240) -> list[dict]:
    """Pack chats plus exact and near duplicates, PII, an empty answer and a repetitive text."""
    ex, _ = load_pack_split(load_domain("finance"), "train")
    ex = ex[:n]
    ex += ex[:15] + [{**e, "messages": [*e["messages"][:-1], {"role": "assistant", "content":
                     e["messages"][-1]["content"] + " Indeed."}]} for e in ex[15:35]]
    ex.append({"messages": [{"role": "user", "content": "Call me at 13812345678 or a@b.com"},
                            {"role": "assistant", "content": "ok"}]})
    ex.append({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": " "}]})
    ex.append({"text": "ab" * 300})
    return ex


def _rows(steps: list[dict]) -> list[dict]:
    return [{k: v for k, v in s.items() if k != "executor"} for s in steps]


def test_local_executor_equals_in_process_through_the_recipe(tmp_path: Path) -> None:
    data = tmp_path / "extra.jsonl"
    data.write_text("".join(json.dumps({"messages": e["messages"]}) + "\n" for e in _examples(120)
                                  if "messages" in e), "utf-8")
    clean = {"dedup": "near", "pii": "redact", "max_length": 3000}
    base = {"domain": "finance", "data": [{"path": str(data)}], "clean": clean}
    ref = build_training_data(parse_recipe(base))
    work = tmp_path / "work"
    run = build_training_data(parse_recipe({**base, "clean": {**clean, "executor": {"kind": "local", "tasks": 2,
                                                                                  "work_dir": str(work)}}}))
    assert run.train == ref.train  # same examples, same order
    steps = [s for s in run.report["steps"] if "executor" in s]
    assert [s["step"] for s in steps] == ["pii_redact", "length", "quality", "dedup_exact", "dedup_near"]
    assert all(s["executor"] == "local, 2 tasks" for s in steps)
    assert _rows(run.report["steps"]) == _rows(ref.report["steps"])
    near = steps[-1]
    assert near["in"] > near["out"] and near["pairs"] and near["pairs"][0]["jaccard"] >= 0.8
    # work_dir keeps one folder per run with logs, report and output; the data shards are removed
    (folder,) = work.iterdir()
    assert {p.name for p in folder.iterdir()} == {"counts", "logs", "output", "report.json"}
    assert (folder / "logs" / "stage1" / "completions" / "00001").is_file()


def test_clean_distributed_short_form_and_edge_cases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    ex = _examples(60)
    spec = CleanSpec(dedup="exact", quality=False, min_length=30, executor="local")  # tasks 4: more tasks than cores
    kept, steps = clean_distributed(ex, spec)
    ref, ref_steps = clean_examples(ex, spec)
    assert kept == ref and _rows(steps) == ref_steps
    kept, steps = clean_distributed([], CleanSpec(dedup="near", executor={"kind": "local", "tasks": 3}))
    assert kept == [] and [(s["step"], s["in"], s["out"]) for s in steps][-1] == ("dedup_near", 0, 0)
    assert not list(tmp_path.glob("verticalize-clean-*"))  # the temporary folder is gone


def test_executor_settings_are_validated() -> None:
    with pytest.raises(RecipeError, match="partition is a slurm setting; kind local takes tasks, workers, work_dir"):
        parse_recipe({"clean": {"executor": {"kind": "local", "partition": "cpu"}}})
    with pytest.raises(RecipeError, match="address is a ray setting"):
        parse_recipe({"clean": {"executor": {"kind": "slurm", "partition": "cpu", "work_dir": "/x", "address": "a"}}})
    with pytest.raises(RecipeError, match="kind slurm needs partition"):
        parse_recipe({"clean": {"executor": "slurm"}})
    with pytest.raises(RecipeError, match="kind slurm needs work_dir"):
        parse_recipe({"clean": {"executor": {"kind": "slurm", "partition": "cpu"}}})
    with pytest.raises(RecipeError, match="not a Slurm time limit"):
        parse_recipe({"clean": {"executor": {"kind": "slurm", "partition": "cpu", "work_dir": "/x", "time": "2h"}}})
    with pytest.raises(RecipeError, match="whole GB"):
        parse_recipe({"clean": {"executor": {"kind": "slurm", "partition": "p", "work_dir": "/x", "mem_per_cpu_gb": 1.5}}})
    with pytest.raises(RecipeError, match="clean.near_threshold"):
        parse_recipe({"clean": {"near_threshold": 1.5}})
    with pytest.raises(RecipeError, match="clean.executor"):
        parse_recipe({"clean": {"executor": "spark"}})
    r = parse_recipe({"clean": {"dedup": "near", "near_threshold": 0.7, "executor": {
        "kind": "slurm", "tasks": 64, "partition": "cpu", "work_dir": "/shared/clean", "sbatch_args": {"account": "nlp"}}}})
    again = parse_recipe(json.loads(json.dumps(r.to_dict())))
    assert again == r and again.clean.executor.sbatch_args == {"account": "nlp"}
    assert "near_threshold: 0.7" in r.to_yaml() and "partition: cpu" in r.to_yaml()


def _slurm_spec(work: Path, **kw: object) -> CleanSpec:
    return CleanSpec(dedup="near", pii="redact", executor={"kind": "slurm", "tasks": 2, "partition": "cpu",
                                                           "work_dir": str(work), "time": "02:00:00", **kw})


def test_slurm_executor_settings(tmp_path: Path) -> None:
    spec = _slurm_spec(tmp_path, cpus_per_task=2, mem_per_cpu_gb=4, qos="high", workers=8,
                       env_command="source /shared/venv/bin/activate", sbatch_args={"account": "nlp"})
    one, last = build_executors(spec, tmp_path)
    args = one.get_sbatch_args(2)
    assert {k: args[k] for k in ("partition", "time", "cpus-per-task", "mem-per-cpu", "qos", "account", "array")} == {
        "partition": "cpu", "time": "02:00:00", "cpus-per-task": 2, "mem-per-cpu": "4G", "qos": "high",
        "account": "nlp", "array": "0-1%8"}
    assert (one.world_size, last.world_size, last.depends is one) == (2, 1, True)
    script = one.get_launch_file_contents(args, "launch_pickled_pipeline x.pik")
    assert "source /shared/venv/bin/activate" in script and "#SBATCH --job-name=verticalize-clean-1" in script
    assert "qos" not in build_executors(_slurm_spec(tmp_path), tmp_path)[0].get_sbatch_args(2)  # the cluster's default


def _fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_jobs: bool) -> Path:
    """sbatch that runs a job array at once, element after element (or, run_jobs False, never); squeue
    that shows an empty queue; scontrol/srun/scancel enough for datatrove's job scripts."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "slurm.log"
    scripts = {
        "sbatch": f"""#!/bin/bash
script="${{@: -1}}"; n=$(( $(cat {log}.id 2>/dev/null || echo 100) + 1 )); echo $n > {log}.id
if [ {int(run_jobs)} = 1 ] && ! grep -q merge_stats "$script"; then
  range=$(sed -n 's/^#SBATCH --array=\\([0-9]*-[0-9]*\\).*/\\1/p' "$script")
  for i in $(seq ${{range%-*}} ${{range#*-}}); do
    SLURM_ARRAY_TASK_ID=$i SLURM_NODELIST=localhost RUN_OFFSET=0 bash "$script" >> {log} 2>&1
  done
fi
echo "Submitted batch job $n"
""",
        "srun": '#!/bin/bash\nwhile [ $# -gt 0 ]; do case "$1" in -n|-N) shift 2;; -*) shift;; *) break;; esac; done\n'
                'exec "$@"\n',
        "scontrol": "#!/bin/bash\necho localhost\n",
        "squeue": "#!/bin/bash\n",
        "scancel": f'#!/bin/bash\necho "scancel $@" >> {log}\n',
    }
    for name, body in scripts.items():
        (bin_dir / name).write_text(body)
        (bin_dir / name).chmod((bin_dir / name).stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(distributed, "SLURM_POLL_S", 0.01)
    return log


def test_slurm_executor_runs_the_job_arrays(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_slurm(tmp_path, monkeypatch, run_jobs=True)
    ex = _examples(80)
    kept, steps = clean_distributed(ex, _slurm_spec(tmp_path / "shared"))
    ref, ref_steps = clean_examples(ex, _slurm_spec(tmp_path / "shared"))
    assert kept == ref and _rows(steps) == ref_steps
    assert steps[0]["executor"] == "slurm, 2 tasks"
    (folder,) = (tmp_path / "shared").iterdir()
    assert "#SBATCH --partition=cpu" in (folder / "logs" / "stage1" / "launch_script.slurm").read_text()


def test_slurm_job_that_never_finishes_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = _fake_slurm(tmp_path, monkeypatch, run_jobs=False)
    with pytest.raises(DataError, match=r"2 of 2 stage 1 task\(s\) did not finish .*logs/stage1/logs"):
        clean_distributed(_examples(10), _slurm_spec(tmp_path / "shared"))
    assert "scancel 103" in log.read_text()  # stage 2, waiting on the failed stage 1, is cancelled


@pytest.mark.slow  # a local Ray takes ~10 s to start here
def test_ray_executor_on_a_local_ray(tmp_path: Path) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        ex = _examples(80)
        spec = CleanSpec(dedup="near", pii="redact", executor={"kind": "ray", "tasks": 2, "mem_per_cpu_gb": 0.5,
                                                               "work_dir": str(tmp_path)})
        kept, steps = clean_distributed(ex, spec)
        ref, ref_steps = clean_examples(ex, spec)
        assert kept == ref and _rows(steps) == ref_steps and steps[0]["executor"] == "ray, 2 tasks"
        assert ray.is_initialized()  # the test's Ray: used, not shut down
    finally:
        ray.shutdown()


def test_write_shards_cuts_in_order(tmp_path: Path) -> None:
    write_shards([{"text": str(i)} for i in range(7)], tmp_path, 3)
    lines = [[json.loads(x)["i"] for x in p.read_text().splitlines()] for p in sorted(tmp_path.iterdir())]
    assert lines == [[0, 1], [2, 3], [4, 5, 6]]
