"""Sweeps and chains on a real LocalCluster of two single-threaded worker processes.

One cluster serves the module. Fits are tiny (20 simulated runs, 50 + 50 draws, 2 chains).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import Client

import bayes_scaling as bs
from bayes_scaling import inference
from bayes_scaling.chains import fit_chains
from bayes_scaling.cluster import sweep
from bayes_scaling.data.simulate import simulate_chinchilla
from bayes_scaling.inference import diagnose
from bayes_scaling.spec import SamplerConfig
from bayes_scaling.sweep import expand
from bayes_scaling.sweep_files import collect, is_done
from bayes_scaling.validate import Backtest
from bayes_scaling.workers import local_cluster, slurm_cluster

TINY = {"draws": 50, "tune": 50, "chains": 2}


def description(name: str, *, seed: int, cutoffs: list[float], replicates: int = 1, **extra):
    return {
        "name": name,
        "seed": seed,
        "specs": ["loss_chinchilla"],
        "replicates": replicates,
        "sampler": TINY,
        "data": {"sim": {"simulate": "chinchilla", "options": {"n_runs": 20}}},
        "backtest": [{"cutoffs": cutoffs}],
        **extra,
    }


@pytest.fixture(scope="module")
def client():
    logging.getLogger("distributed").setLevel(logging.ERROR)
    with (
        local_cluster(2, dashboard_address=None, silence_logs=logging.ERROR) as cluster,
        Client(cluster) as c,
    ):
        yield c


def worker_pids(client: Client) -> set[int]:
    return set(client.run(os.getpid).values())


def _probe_environment():
    import pytensor

    return (
        str(pytensor.config.base_compiledir),
        os.environ["OMP_NUM_THREADS"],
        os.environ["OPENBLAS_NUM_THREADS"],
        os.environ["MKL_NUM_THREADS"],
    )


def assert_worker_hygiene(client):
    seen = client.run(_probe_environment)
    dirs = {v[0] for v in seen.values()}
    assert len(dirs) == 2 and all(Path(d).name.startswith("worker-") for d in dirs)
    assert all(v[1:] == ("1", "1", "1") for v in seen.values())


def test_workers_have_own_compiledir_and_one_blas_thread(client):
    assert_worker_hygiene(client)


def test_sweep_runs_every_fit_and_records_the_one_that_fails(client, tmp_path):
    desc = description(
        "mixed",
        seed=1,
        cutoffs=[1e20, 1e21],
        replicates=2,
        select=[{"name": "empty", "train": "params > 1e30"}],
    )
    table = sweep(desc, out=tmp_path, client=client)
    tasks = expand(desc)
    assert len(tasks) == 6 and len(table) == 6
    assert set(table["id"]) == {t.id for t in tasks}
    failed = table[table["status"] == "failed"]
    assert set(failed["selection"]) == {"empty"} and len(failed) == 2
    assert failed["error"].str.contains("matches no rows").all()
    done = table[table["status"] != "failed"]
    assert len(done) == 4 and (done["action"] == "computed").all()
    assert set(done["status"]) <= {"ok", "not converged"}
    assert done["coverage"].between(0, 1).all() and (done["wall_time"] > 0).all()
    for fid in done["id"]:
        bt = Backtest.load(tmp_path / f"{fid}.nc")
        assert bt.fit.posterior.sizes["chain"] == 2
    # collect sees the same fits; a rerun computes nothing
    collected = collect(tmp_path).set_index("id")
    assert collected.loc[done["id"], "status"].isin(["ok", "not converged"]).all()
    again = sweep(desc, out=tmp_path, client=client)
    assert (again.loc[again["status"] != "failed", "action"] == "existing").all()
    assert not list(tmp_path.glob("*.lock")) and not list(tmp_path.glob(".*.tmp"))


def test_killing_a_worker_mid_sweep_loses_nothing(client, tmp_path):
    desc = description("kill", seed=2, cutoffs=[1e20, 1e21], replicates=2)
    result = {}
    runner = threading.Thread(
        target=lambda: result.update(table=sweep(desc, out=tmp_path, client=client))
    )
    runner.start()
    deadline = time.monotonic() + 120
    victim = None
    while victim is None and time.monotonic() < deadline:
        for lock in tmp_path.glob("*.lock"):
            try:
                owner = json.loads(lock.read_text())
            except ValueError:
                continue
            if owner.get("pid") in worker_pids(client):
                victim = owner["pid"]
                break
        time.sleep(0.05)
    assert victim is not None, "no fit started within 2 minutes"
    os.kill(victim, signal.SIGKILL)
    runner.join(timeout=300)
    assert not runner.is_alive()
    table = result["table"]
    ids = [t.id for t in expand(desc)]
    assert sorted(table["id"]) == sorted(ids)
    assert (table["action"] == "computed").all()
    assert table["status"].isin(["ok", "not converged"]).all()
    for fid in ids:
        assert len(list(tmp_path.glob(f"{fid}*.nc"))) == 1
        Backtest.load(tmp_path / f"{fid}.nc")
    client.wait_for_workers(2, timeout=60)
    assert victim not in worker_pids(client)
    assert_worker_hygiene(client)  # the restarted worker has its own compile directory again


DRIVER = """
import sys
from bayes_scaling.cluster import sweep
sweep(sys.argv[1], out=sys.argv[2], scheduler=sys.argv[3], progress=False)
"""


def test_interrupted_driver_rerun_computes_only_missing_fits(client, tmp_path):
    out = tmp_path / "out"
    toml = tmp_path / "SWEEP.toml"
    toml.write_text(
        'name = "resume"\nseed = 3\nspecs = ["loss_chinchilla"]\nreplicates = 2\n'
        "[sampler]\ndraws = 50\ntune = 50\nchains = 2\n"
        "[data.sim]\nsimulate = 'chinchilla'\noptions = {n_runs = 20}\n"
        "[[backtest]]\ncutoffs = [1e20, 1e21, 3e21]\n"
    )
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(toml), str(out), client.scheduler.address],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 180
    while len(list(out.glob("*.nc"))) < 2 and time.monotonic() < deadline:
        assert driver.poll() is None, "the driver ended before being interrupted"
        time.sleep(0.05)
    driver.send_signal(signal.SIGINT)
    driver.wait(timeout=60)
    before = {p.stem: p.stat().st_mtime_ns for p in out.glob("*.nc")}
    assert 2 <= len(before) < 6
    table = sweep(toml, out=out, client=client)
    assert len(table) == 6 and table["status"].isin(["ok", "not converged"]).all()
    for fid, mtime in before.items():  # nothing that existed was recomputed
        assert (out / f"{fid}.nc").stat().st_mtime_ns == mtime
        assert table.set_index("id").loc[fid, "action"] == "existing"
    computed = set(table.loc[table["action"] == "computed", "id"])
    assert computed and computed.isdisjoint(before)
    assert all(is_done(out / f"{fid}.nc") for fid in table["id"])


@pytest.fixture(scope="module")
def tiny_data():
    return simulate_chinchilla(n_runs=20, seed=4).observations


def test_fit_chains_equals_local_sampling_with_the_same_seed(client, tiny_data):
    spec = bs.load_spec("loss_chinchilla")
    config = SamplerConfig(draws=50, tune=50, chains=3, target_accept=0.9)
    remote = fit_chains(bs.model_for(spec, tiny_data), client=client, seed=11, config=config)
    local = inference.sample(bs.model_for(spec, tiny_data).build(), config, seed=11, cores=2)
    assert list(remote["posterior"]["chain"].values) == [0, 1, 2]
    for group in ("posterior", "sample_stats"):
        for name, var in local[group].data_vars.items():
            if var.dtype.kind == "f":
                np.testing.assert_array_equal(remote[group][name].values, var.values)
    assert set(remote.children) >= {"posterior", "sample_stats", "observed_data"}
    diag = diagnose(remote)
    assert diag.chains == 3 and np.isfinite(diag.rhat_max)
    other = fit_chains(bs.model_for(spec, tiny_data), client=client, seed=12, config=config)
    assert not np.array_equal(other["posterior"]["E"].values, remote["posterior"]["E"].values)


def test_model_fit_with_client_equals_local_fit(client, tiny_data):
    """``ScalingModel.fit(client=...)`` and the local fit give the same draws."""
    kwargs = dict(seed=5, sampler="nutpie", **TINY)
    remote = bs.fit("loss_chinchilla", tiny_data, client=client, **kwargs)
    local = bs.fit("loss_chinchilla", tiny_data, cores=2, progressbar=False, **kwargs)
    np.testing.assert_array_equal(remote.posterior["E"].values, local.posterior["E"].values)


def test_slurm_job_script_sets_worker_environment():
    cluster = slurm_cluster(queue="cpu", account="proj", walltime="01:00:00", memory="2GB")
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    assert "#SBATCH -p cpu" in script and "#SBATCH -A proj" in script
    assert "export OMP_NUM_THREADS=1" in script
    assert "export PYTENSOR_FLAGS=" in script and "pytensor-$SLURM_JOB_ID" in script
    assert "--nthreads 1" in script


def test_rung_out_fits_each_cutoff_once_and_resumes(client, tmp_path):
    from bayes_scaling.calibrate import rung_out

    obs = simulate_chinchilla(n_runs=20, seed=4).observations

    def run():
        return rung_out(
            "loss_chinchilla",
            obs,
            out=tmp_path,
            by="flops",
            cutoffs=[1e20, 1e21],
            client=client,
            **TINY,
        )

    cal = run()
    assert set(cal.fits["status"]) <= {"ok", "not converged"} and len(cal.fits) == 2
    assert (tmp_path / "data.csv").is_file() and len(list(tmp_path.glob("*.nc"))) == 2
    flops = 6 * obs.frame["params"] * obs.frame["tokens"]
    held = 6 * cal.points["params"] * cal.points["tokens"]
    assert (held > cal.points["cutoff"]).all()
    assert cal.points["pit"].between(0, 1).all() and (cal.points["distance"] >= 0).all()
    counts = cal.points.groupby("cutoff")["run"].count().to_dict()
    assert counts == {1e20: int((flops > 1e20).sum()), 1e21: int((flops > 1e21).sum())}
    table = cal.coverage()
    assert table["distance"].iloc[-1] == "all" and table["n"].iloc[-1] == len(cal.points)
    again = run()  # resumes: nothing refitted, the same points
    assert len(list(tmp_path.glob("*.nc"))) == 2
    pd.testing.assert_frame_equal(again.points, cal.points)
