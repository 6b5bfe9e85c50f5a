"""The re-layering slowed nothing down (issue 12): the tree before it and this one, side by side.

Run: ``.venv/bin/python benchmarks/bench_relayering.py [--before 5b0b2e4] [--fits gadre_loss …]
[--repeats 2] [--draws 300]`` → ``benchmarks/results/relayering.json``.

``--before`` and ``--after`` (default: ``HEAD``) are checked out as git worktrees under
``$TMPDIR``, so the working tree may change while this runs. For each fit, a fresh Python
process per tree (``PYTHONPATH`` = that tree) runs the tree's own public path: load the data,
``model_for(spec, data).fit(seed=1, chains=1, …)`` (build, nutpie's compile, sampling, the
``Fit``), timed end to end. Both trees read the *earlier* tree's spec file, so that they build
the same model; each child reports the log density at the initial point and the first posterior
draw, so the record says whether the two trees ran the same model and the same chain. Runs
alternate (before, after, before, after …) so that a noisy machine hits both alike; the ratio
``after / before`` of the median wall time is the figure. Each tree first runs each fit once
untimed, so that neither pays a cold compile cache. One chain: nothing else runs beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import write_results

REPO = Path(__file__).resolve().parents[1]

#: fit → (spec file in the tree, data loader expression run in the child).
FITS: dict[str, tuple[str, str]] = {
    "gadre_loss": (
        "models/loss_overtraining.toml",
        "load(root / 'overtraining' / 'raw' / 'exp_data')",
    ),
    "error_sigmoid_46": (
        "models/error_sigmoid.toml",
        "load_gadre(root / 'overtraining')",
    ),
    "pythia_dynamics": (
        "models/task_dynamics.toml",
        "load_pythia(root / 'trajectories' / 'pythia', overrides=README_OVERRIDES)"
        ".where(metric='accuracy', task=['lambada_openai', 'piqa', 'winogrande', 'arc_easy',"
        " 'arc_challenge', 'sciq'])",
    ),
}

CHILD = """
import json, sys, time
start = time.perf_counter()
from bayes_scaling.data import load
from bayes_scaling.data.gadre import load_gadre
from bayes_scaling.data.paths import shared_data_dir
from bayes_scaling.data.pythia import README_OVERRIDES, load_pythia
from bayes_scaling.models import model_for
from bayes_scaling.spec import load_spec
imported = time.perf_counter() - start
root = shared_data_dir()
data = {data}
start = time.perf_counter()
model = model_for(load_spec({spec!r}), data)
fit = model.fit(seed=1, draws={draws}, tune={draws}, chains=1, progressbar=False)
seconds = time.perf_counter() - start
pm_model = model.build()
point = pm_model.initial_point()
stats = fit.tree["sample_stats"]
first = fit.tree["posterior"][pm_model.free_RVs[0].name].values.ravel()[0]
print(json.dumps({{
    "import_seconds": imported,
    "fit_seconds": seconds,
    "logp_initial": float(pm_model.compile_logp()(point)),
    "first_draw": float(first),
    "steps": int(stats["n_steps"].sum()) if "n_steps" in stats else None,
}}))
"""


def _worktree(commit: str) -> Path:
    path = Path(tempfile.gettempdir()) / f"bayes_scaling_{commit}"
    if not path.exists():
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), commit],
            check=True,
            capture_output=True,
        )
    return path


def _run(tree: Path, spec: Path, data: str, draws: int) -> dict:
    code = CHILD.format(data=data, spec=str(spec), draws=draws)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tree, capture_output=True, text=True
    )
    if out.returncode:
        raise RuntimeError(f"{tree}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", default="5b0b2e4", help="the commit before the re-layering")
    ap.add_argument("--after", default="HEAD", help="the commit to compare with it")
    ap.add_argument("--fits", nargs="+", default=list(FITS), choices=list(FITS))
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--draws", type=int, default=300, help="draws and tuning steps, one chain")
    args = ap.parse_args()
    commits = {
        label: subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", ref],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        for label, ref in (("before", args.before), ("after", args.after))
    }
    trees = {label: _worktree(commit) for label, commit in commits.items()}
    before = trees["before"]
    results: dict = {**commits, "draws": args.draws, "repeats": args.repeats}
    for name in args.fits:
        spec, data = FITS[name]
        runs: dict[str, list[dict]] = {"before": [], "after": []}
        for tree in trees.values():
            _run(tree, before / spec, data, args.draws)
        for _ in range(args.repeats):
            for label, tree in trees.items():
                runs[label].append(_run(tree, before / spec, data, args.draws))
                print(name, label, runs[label][-1], file=sys.stderr)
        wall = {k: statistics.median(r["fit_seconds"] for r in v) for k, v in runs.items()}
        b, a = runs["before"][0], runs["after"][0]
        results[name] = {
            "runs": runs,
            "fit_seconds_median": wall,
            "ratio_after_before": round(wall["after"] / wall["before"], 3),
            "same_logp": abs(a["logp_initial"] - b["logp_initial"])
            <= 1e-8 * abs(b["logp_initial"]),
            "same_chain": a["first_draw"] == b["first_draw"] and a["steps"] == b["steps"],
        }
        write_results("relayering", results)


if __name__ == "__main__":
    main()
