"""Sweep descriptions: expansion, ids, seeds, generators, errors; locks and collect (no Dask)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bayes_scaling.data import load
from bayes_scaling.data.simulate import simulate_chinchilla
from bayes_scaling.locks import FitLock
from bayes_scaling.sweep import (
    Selection,
    Sweep,
    SweepError,
    backtest_cutoffs,
    expand,
    leave_one_out,
    tasks_frame,
)
from bayes_scaling.sweep_files import collect

BASE = {
    "name": "t",
    "seed": 1,
    "specs": ["loss_chinchilla"],
    "sampler": {"draws": 50, "tune": 50, "chains": 2},
    "data": {"sim": {"simulate": "chinchilla", "options": {"n_runs": 20}}},
}


def sweep_dict(**extra):
    return {**BASE, **extra}


def test_product_of_specs_data_selections_replicates():
    raw = sweep_dict(
        specs=["loss_chinchilla", "loss_overtraining"],
        data={
            "sim": {"simulate": "chinchilla", "options": {"n_runs": 20}},
            "ot": {"simulate": "overtraining", "replicates": 2},
        },
        backtest=[{"cutoffs": [1e19, 1e20]}],
        select=[{"name": "small", "train": "params < 1e9"}],
        replicates=3,
    )
    tasks = expand(raw)
    # 2 specs × (1 + 2 replicated data sets) × (2 cut-offs + 1 selection) × 3 seeds
    assert len(tasks) == 2 * 3 * 3 * 3
    assert len({t.id for t in tasks}) == len(tasks)
    frame = tasks_frame(tasks)
    assert set(frame["data"]) == {"sim", "ot/r0", "ot/r1"}
    assert set(frame["kind"]) == {"backtest", "fit"}
    # the simulated replicates are different data, with their truth attached
    ot = [t for t in tasks if t.data.startswith("ot/")]
    assert len({t.data_fingerprint for t in ot}) == 2
    assert all(t.truth and "params" in t.truth for t in ot)


def test_ids_and_seeds_are_stable_and_depend_on_what_is_fitted():
    a, b = expand(sweep_dict(replicates=2)), expand(sweep_dict(replicates=2))
    assert [t.id for t in a] == [t.id for t in b]
    assert [t.seed for t in a] == [t.seed for t in b]
    assert a[0].seed != a[1].seed
    # the root seed changes seeds and ids; sampler settings are part of the fit's identity
    other_root = expand(sweep_dict(replicates=2, seed=2))
    assert {t.seed for t in other_root}.isdisjoint({t.seed for t in a})
    more_draws = expand(sweep_dict(replicates=2, sampler={"draws": 60}))
    assert {t.id for t in more_draws}.isdisjoint({t.id for t in a})
    assert more_draws[0].spec["sampler"]["draws"] == 60


def test_explicit_seeds_and_explicit_fits():
    tasks = expand(
        sweep_dict(
            seeds=[5, 6],
            fits=[{"spec": "loss_chinchilla", "data": "sim", "train": "params < 1e9", "seed": 7}],
        )
    )
    assert sorted(t.seed for t in tasks) == [5, 6, 7]
    explicit = next(t for t in tasks if t.seed == 7)
    assert explicit.selection.train == "params < 1e9" and explicit.kind == "fit"


def test_generators_select_the_right_rows():
    obs = simulate_chinchilla(n_runs=30, seed=0).observations
    df = obs.with_derived()
    (sel,) = backtest_cutoffs([1e20])
    assert sel.kind == "backtest"
    train, test = obs.select(sel.train).frame, obs.select(sel.test).frame
    assert len(train) + len(test) == len(obs)
    assert (df.loc[train.index, "flops"] <= 1e20).all()
    assert (df.loc[test.index, "flops"] > 1e20).all()
    sels = leave_one_out(["a", "b"], column="dataset")
    assert sels[0] == Selection("dataset!=a", "dataset != 'a'", "dataset == 'a'")


def test_leave_one_out_defaults_to_every_group_of_each_data_set():
    tasks = expand(
        sweep_dict(
            specs=["loss_overtraining"],
            data={"ot": {"simulate": "overtraining"}},
            leave_one_out=[{"column": "dataset"}],
        )
    )
    assert sorted(t.selection.test for t in tasks) == [
        "dataset == 'c4'",
        "dataset == 'redpajama'",
        "dataset == 'refinedweb'",
    ]


def test_toml_file_with_relative_spec_and_data_paths(tmp_path):
    spec = (Path(__file__).resolve().parents[1] / "models" / "loss_chinchilla.toml").read_text()
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "mine.toml").write_text(spec.replace("loss_chinchilla", "mine"))
    obs = simulate_chinchilla(n_runs=20, seed=3).observations
    obs.frame.to_csv(tmp_path / "runs.csv", index=False)
    (tmp_path / "SWEEP.toml").write_text(
        'specs = ["specs/mine.toml"]\n'
        "[sampler]\ndraws = 50\n"
        '[data.runs]\npath = "runs.csv"\n'
        "[[backtest]]\ncutoffs = [1e20]\n"
    )
    sw = Sweep.from_toml(tmp_path / "SWEEP.toml")
    (task,) = sw.tasks()
    assert sw.name == "SWEEP"
    assert task.spec_name == "mine" and task.spec["sampler"]["draws"] == 50
    assert task.data_fingerprint == load(tmp_path / "runs.csv").fingerprint()
    assert len(sw.observations()["runs"]) == len(obs)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"colour": 1}, "unknown key"),
        ({"data": {"x": {"simulate": "chinchilla", "path": "a.csv"}}}, "exactly one of"),
        ({"data": {"x": {"path": "a.csv", "replicates": 2}}}, "needs simulated data"),
        ({"replicates": 2, "seeds": [1]}, "either 'replicates' or 'seeds'"),
        ({"backtest": [{"cutoffs": []}]}, "'cutoffs' must be a non-empty list"),
        ({"fits": [{"spec": "loss_chinchilla", "data": "nope"}]}, "data 'nope'"),
        ({"sampler": {"draws": 5, "cores": 2}}, "unknown key 'cores'"),
    ],
)
def test_bad_descriptions_name_the_key(extra, message):
    with pytest.raises(SweepError, match=message.replace("[", r"\[")):
        Sweep.from_dict(sweep_dict(**extra), source="SWEEP.toml")


def test_unknown_simulator_is_named():
    with pytest.raises(SweepError, match="no simulator 'nope'"):
        expand(sweep_dict(data={"x": {"simulate": "nope"}}))


# --- locks ------------------------------------------------------------------------------------
def test_lock_is_exclusive_until_released(tmp_path):
    a, b = FitLock(tmp_path / "x.lock"), FitLock(tmp_path / "x.lock")
    assert a.try_acquire()
    assert not b.try_acquire()
    assert not b.acquire(poll=0.05, timeout=0.2)
    a.release()
    assert not (tmp_path / "x.lock").exists()
    assert b.try_acquire()
    b.release()


def test_lock_of_a_dead_process_is_broken(tmp_path):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    owner = FitLock(tmp_path / "x.lock")
    (tmp_path / "x.lock").write_text(
        json.dumps({"host": os.uname().nodename, "pid": int(dead.stdout), "token": "t"})
    )
    assert owner.owner()["pid"] == int(dead.stdout)
    assert FitLock(tmp_path / "x.lock").is_stale()
    taker = FitLock(tmp_path / "x.lock")
    assert taker.try_acquire()
    assert taker.owner()["pid"] == os.getpid()
    taker.release()


def test_lock_without_heartbeat_goes_stale(tmp_path):
    path = tmp_path / "x.lock"
    path.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "t"}))
    assert not FitLock(path, stale_after=60).is_stale()
    old = time.time() - 120
    os.utime(path, (old, old))
    assert FitLock(path, stale_after=60).is_stale()
    assert FitLock(path, stale_after=60).try_acquire()


def test_held_lock_is_refreshed(tmp_path, monkeypatch):
    monkeypatch.setattr("bayes_scaling.locks._HEARTBEAT", 0.05)
    lock = FitLock(tmp_path / "x.lock", stale_after=0.4)
    assert lock.try_acquire()
    time.sleep(0.8)
    assert not FitLock(tmp_path / "x.lock", stale_after=0.4).is_stale()
    lock.release()


# --- collect without fits ---------------------------------------------------------------------
def test_collect_lists_missing_and_failed_fits(tmp_path):
    tasks = expand(sweep_dict(replicates=2))
    manifest = {"sweep": "t", "fits": [t.record() for t in tasks]}
    (tmp_path / "sweep-t-0.json").write_text(json.dumps(manifest))
    err = {**tasks[1].record(), "status": "failed", "error": "DataError: boom"}
    (tmp_path / f"{tasks[1].id}.error.json").write_text(json.dumps(err))
    table = collect(tmp_path)
    status = dict(zip(table["id"], table["status"], strict=True))
    assert status == {tasks[0].id: "missing", tasks[1].id: "failed"}
    assert table.loc[table["id"] == tasks[1].id, "error"].item() == "DataError: boom"
    with pytest.raises(FileNotFoundError, match="no such sweep folder"):
        collect(tmp_path / "nope")


@pytest.mark.parametrize("name", ["backtest_cutoffs", "calibration"])
def test_shipped_example_sweeps_expand(name):
    path = Path(__file__).resolve().parents[1] / "models" / "sweeps" / f"{name}.toml"
    tasks = Sweep.from_toml(path).tasks()
    assert len(tasks) == {"backtest_cutoffs": 12, "calibration": 20}[name]
    assert all(t.kind == "backtest" for t in tasks)
