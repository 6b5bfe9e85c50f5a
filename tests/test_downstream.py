"""Downstream family: laws, simulator, model checks, tiny fits, chained and new-task
predictions, aggregates, baselines, plots (fast tier) and parameter recovery (slow tier)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pandas as pd
import pytest

from bayes_scaling import baselines, laws
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.data.simulate import simulate_downstream, simulate_overtraining
from bayes_scaling.models import Fit, model_for
from bayes_scaling.models.downstream import DownstreamModel
from bayes_scaling.models.task_sets import aggregate_tasks, resolve_tasks
from bayes_scaling.models.unseen_tasks import predict_new_task
from bayes_scaling.priors import SpecError
from bayes_scaling.spec import load_spec

TINY = {"draws": 60, "tune": 100, "chains": 2, "progressbar": False}
LAW = ("eps_frac", "drop", "gamma")


def _spec(kind: str = "binomial", **more):
    # The simulated testbed has 14 runs per task, not the testbed's ~95: the shipped spec's
    # centred task level (chosen for the real data, κ included) would funnel here, so it is
    # non-centred.
    flat = {n: {"centered": False} for n in (*LAW, "kappa")}
    update = {"response": {"tasks": "all"}, "likelihood": {"kind": kind}, "params": flat} | more
    return load_spec("error_from_loss").updated(update)


@pytest.fixture(scope="module")
def sim():
    return simulate_downstream(seed=3)


@pytest.fixture(scope="module")
def fit_binomial(sim):
    return model_for(_spec("binomial"), sim.observations).fit(seed=1, **TINY)


# --- laws and simulator -----------------------------------------------------------------------


def test_chance_bounded_parameterisations_respect_bounds():
    frac = np.array([0.01, 0.5, 0.999])
    for chance in (0.0, 0.25, 0.5):
        eps = laws.chance_bounded_epsilon(frac, chance)
        assert np.all(eps < 1 - chance) and np.all(eps > 0)
        a, b = laws.sigmoid_bounds(frac, frac[::-1], chance)
        assert np.all(b >= chance) and np.all(a + b <= 1)
    eps, drop, gamma, ref = 0.8, 0.3, 0.7, 3.2
    k = laws.error_from_loss_k(eps, drop, gamma, ref)
    assert laws.error_from_loss(ref, eps, k, gamma) == pytest.approx(eps * (1 - drop))
    a, b, steep, reach = 0.6, 0.25, 3.0, np.array([1e-9, 0.2, 0.9])
    L0 = laws.sigmoid_midpoint(reach, steep, ref)
    assert laws.accuracy_sigmoid(ref, a, -steep, L0, b) == pytest.approx(b + a * reach)
    assert np.all(laws.accuracy_sigmoid(ref + 0.5, a, -steep, L0, b) < b + a * reach)


def test_simulator_shapes_and_truth(sim):
    f = sim.observations.frame
    acc = f[f["metric"] == "accuracy"]
    assert acc["task"].nunique() == 10 and acc["domain"].nunique() == 3
    assert set(sim.truth["domain"]) == set(LAW)
    assert sim.truth["loss_ref"] == pytest.approx(np.median(f.loc[f["metric"] == "loss", "value"]))
    with pytest.raises(ValueError, match="form"):
        simulate_downstream(form="cubic")


# --- spec and data checks ---------------------------------------------------------------------


def test_model_tables_levels_and_reference(sim):
    m = model_for(_spec(), sim.observations)
    assert isinstance(m, DownstreamModel)
    assert [lv.name for lv in m.levels] == ["domain", "task"]
    assert len(m.table) == 14 * 10
    assert m.loss_ref == pytest.approx(sim.truth["loss_ref"])
    assert m.table["truth"].between(0, 1).all()  # error scale
    assert "epsilon" in m.law_params() and "eps_frac_mu" in m.law_params()


def test_bad_specs_and_data_name_the_problem(sim):
    obs = sim.observations
    with pytest.raises(SpecError, match="kind"):
        model_for(_spec("poisson"), obs)
    with pytest.raises(SpecError, match="levels"):
        model_for(_spec(groups={"levels": ["task", "domain"]}), obs)
    no_items = Observations.from_frame(obs.frame.drop(columns=["n_items"]), source="x.csv")
    with pytest.raises(DataError, match="n_items"):
        model_for(_spec("binomial"), no_items)
    no_chance = Observations.from_frame(obs.frame.drop(columns=["chance"]), source="x.csv")
    with pytest.raises(DataError, match="chance"):
        model_for(_spec("beta"), no_chance)
    with pytest.raises(DataError, match="input loss"):
        model_for(_spec(input={"task": "paloma_ptb"}), obs)
    with pytest.raises(DataError, match="response"):
        model_for(load_spec("error_from_loss"), obs)  # its default tasks are Gadre's avg46
    with pytest.raises(DataError, match="not among"):
        model_for(_spec(response={"tasks": ["no_such_task"]}), obs)


def test_student_t_needs_a_sigma_table(sim):
    with pytest.raises(SpecError, match=r"params\.sigma"):
        model_for(_spec("student_t"), sim.observations)


def test_resolve_tasks():
    assert len(resolve_tasks("avg17")) == 17 and len(resolve_tasks("avg46")) == 46
    assert resolve_tasks("a, b") == ("a", "b")
    assert resolve_tasks("all", ("x",)) == ("x",)
    with pytest.raises(DataError):
        resolve_tasks("all")


# --- fits and predictions ---------------------------------------------------------------------


def test_fit_predict_and_aggregate(fit_binomial, sim):
    assert "epsilon" in fit_binomial.posterior and "k" in fit_binomial.posterior
    pred = fit_binomial.predict(pd.DataFrame({"loss": [2.4, 3.0]}), tasks="all")
    table = pred.table()
    assert len(table) == 2 * 10 and table["new_task"].eq(False).all()
    assert (table["lower"] <= table["upper"]).all()
    assert table.loc[table["loss"] == 2.4, "loss_below_fit"].gt(0).all()  # below the fit's 2.6
    avg = aggregate_tasks(pred)
    t = avg.table()
    assert list(t["task"]) == ["avg10", "avg10"] and (t["n_tasks"] == 10).all()
    by_hand = pred.draws["mean"].to_numpy()[:, table["loss"].to_numpy() == 3.0].mean(axis=1)
    np.testing.assert_allclose(avg.draws["mean"].to_numpy()[:, 1], by_hand)
    with pytest.raises(DataError, match="tasks"):
        aggregate_tasks(pred, tasks=["commonsense_0", "nope"])


def test_grid_checks(fit_binomial):
    with pytest.raises(DataError, match="task"):
        fit_binomial.predict(pd.DataFrame({"loss": [3.0]}))
    with pytest.raises(DataError, match="column 'loss'"):
        fit_binomial.predict(pd.DataFrame({"loss": [-1.0], "task": ["math_0"]}))
    with pytest.raises(DataError, match="chance"):
        fit_binomial.predict(pd.DataFrame({"loss": [3.0], "task": ["math_new"]}))
    with pytest.raises(TypeError):
        fit_binomial.predict(pd.DataFrame({"loss": [3.0], "task": ["math_0"]}), average=True)


def test_unseen_task_is_wider_and_updates_with_observations(fit_binomial, sim):
    grid = pd.DataFrame(
        {"loss": [3.0, 3.0], "task": ["math_0", "math_new"], "chance": [0.25, 0.25]}
    )
    grid["n_items"] = 1000
    assert fit_binomial.predict(grid).table()["domain"].tolist() == ["math", "other"]
    grid["domain"] = "math"  # not in the default domain map: say where it belongs
    t = fit_binomial.predict(grid).table()
    assert t["new_task"].tolist() == [False, True] and t["domain"].tolist() == ["math"] * 2
    width = t["mean_upper"] - t["mean_lower"]
    assert width[1] > 2 * width[0]
    # a few observations of the new task (here: math_0's own rows, renamed) pull it close
    f = sim.observations.frame
    rows = f[(f["task"].isin(["math_0", "c4_val"])) & (f["run"].isin(["sim-2", "sim-9"]))]
    rows = rows.assign(task=rows["task"].replace({"math_0": "math_new"}))
    rows = rows.assign(chance=np.where(rows["task"] == "math_new", 0.25, rows["chance"]))
    obs = Observations.from_frame(rows, source="new task rows")
    with pytest.warns(UserWarning, match="ESS"):  # binomial counts of 1000 items: sharp
        upd = predict_new_task(fit_binomial, grid, observations=obs, seed=2)
    tu = upd.table()
    assert "math_new" in upd.draws.attrs["ess"]
    assert tu.loc[1, "mean_upper"] - tu.loc[1, "mean_lower"] < width[1]
    # a decade beyond the fitted runs the unseen task carries the extrapolation error too
    far = grid.assign(params=10 * fit_binomial.model.max_params, tokens=2e11)
    with pytest.warns(UserWarning, match="ESS"):
        tf = predict_new_task(fit_binomial, far, observations=obs, seed=2).table()
    assert (tf["distance"] >= 1).all() and (tf["share_extrapolation"] > 0).all()


def test_distance_in_decades_and_the_extrapolation_error(fit_binomial):
    """A grid with params and tokens gets its distance in decades beyond the fit's largest run
    (compute or N); the spec's term is zero inside and widens the interval beyond, for each
    task and for their average alike."""
    model = fit_binomial.model
    n = model.max_params * np.array([0.5, 10.0])
    grid = pd.DataFrame({"loss": [2.9, 2.9], "params": n, "tokens": 20 * n})
    spec = fit_binomial.spec.updated({"extrapolation": {"rate": 0}})
    off = Fit(spec, fit_binomial.data, fit_binomial.tree, fit_binomial.seed)
    t_off = off.predict(grid, tasks="all").table()
    t_on = fit_binomial.predict(grid, tasks="all").table()
    assert fit_binomial.spec.extrapolation_error.rate is not None  # the shipped term
    inside, far = t_on["params"] < model.max_params, t_on["params"] > model.max_params
    np.testing.assert_allclose(t_on.loc[far, "params_decades"], 1.0)
    assert (t_on.loc[inside, "distance"] == 0).all() and (t_on.loc[far, "distance"] >= 1).all()
    for col in ("median", "lower", "upper"):
        np.testing.assert_array_equal(t_on.loc[inside, col], t_off.loc[inside, col])
    wider = (t_on["upper"] - t_on["lower"]) > (t_off["upper"] - t_off["lower"])
    assert wider[far].all() and (t_on.loc[far, "share_extrapolation"] > 0).all()
    avg = aggregate_tasks(fit_binomial.predict(grid, tasks="all")).table()
    assert avg["distance"].tolist() == t_on.groupby("params")["distance"].max().tolist()


def test_chained_prediction_carries_loss_uncertainty(fit_binomial):
    ot = simulate_overtraining(seed=0, sigma=0.08)  # noisy runs: an uncertain loss at 6.9B
    loss_spec = load_spec("loss_overtraining")
    loss_fit = model_for(loss_spec, ot.observations).fit(seed=0, **TINY)
    grid = pd.DataFrame({"dataset": ["c4"], "params": [6.9e9], "tokens": [1.378e11]})
    chained = fit_binomial.predict(grid, loss_fit=loss_fit, tasks="math_0,science_1").table()
    assert {"compute_decades", "params_decades"} <= set(chained.columns)
    assert chained["params_decades"].gt(1).all()  # 6.9B params: 1.2 decades beyond the fit
    direct = fit_binomial.predict(
        chained[["loss", "task"]].reset_index(drop=True), tasks=None
    ).table()
    w_chained = (chained["mean_upper"] - chained["mean_lower"]).to_numpy()
    w_direct = (direct["mean_upper"] - direct["mean_lower"]).to_numpy()
    assert np.all(w_chained > w_direct)
    with pytest.raises(DataError, match=r"bayes_scaling\.load"):  # files: the caller reads
        fit_binomial.predict(grid, loss_fit="loss.nc", tasks="math_0")
    with pytest.raises(DataError, match="metric"):
        bpb_spec = _spec(input={"task": "c4_val", "metric": "bpb"})
        DownstreamModel(bpb_spec, fit_binomial.data)  # no bpb rows


def test_beta_likelihood_fit_and_save_roundtrip(tmp_path):
    sim = simulate_downstream(seed=5, likelihood="beta", noise=400.0, domains={"a": 2, "b": 2})
    fit = model_for(_spec("beta"), sim.observations).fit(seed=0, **TINY)
    assert "kappa" in fit.posterior
    path = fit.save(tmp_path / "ds.nc")
    again = Fit.load(path)
    t = again.predict(pd.DataFrame({"loss": [3.0]}), tasks="all").table()
    assert len(t) == 4 and t["upper"].le(1).all()


def test_sigmoid_form_on_simulated_bpb():
    sim = simulate_downstream(form="sigmoid", seed=2, likelihood="beta", domains={"a": 2, "b": 2})
    spec = load_spec("accuracy_sigmoid").updated({"input": {"per_task": False, "task": "c4_val"}})
    spec = spec.updated({"input": {"metric": "loss"}, "data": {"checkpoints": "final"}})
    fit = model_for(spec, sim.observations).fit(seed=0, **TINY)
    t = fit.predict(pd.DataFrame({"loss": [0.5, 2.0]}), tasks="all").table()
    chance = t["task"].map(sim.truth["chance"])
    assert (t["mean_lower"] >= chance - 1e-9).all()  # accuracy never below chance
    low, high = t[t["loss"] == 0.5], t[t["loss"] == 2.0]
    assert (low["mean"].to_numpy() > high["mean"].to_numpy()).all()


# --- baselines --------------------------------------------------------------------------------


def test_curve_fit_baselines_recover_noise_free_curves():
    loss = np.linspace(2.6, 4.6, 20)
    err = laws.error_from_loss(loss, 0.85, 2.1, 0.75)
    p = baselines.fit_error_curve_fit(loss, err)
    assert p["epsilon"] == pytest.approx(0.85, rel=1e-3) and p["gamma"] == pytest.approx(
        0.75, rel=1e-3
    )
    bpb = np.linspace(0.6, 1.6, 20)
    acc = laws.accuracy_sigmoid(bpb, 0.7, -5.0, 1.0, 0.25)
    q = baselines.fit_sigmoid_curve_fit(bpb, acc, task_max=0.95)
    pred = laws.accuracy_sigmoid(bpb, q["a"], q["k"], q["L0"], q["b"])
    np.testing.assert_allclose(pred, acc, atol=0.02)


def test_downstream_baseline_predictions(sim):
    m = model_for(_spec(), sim.observations)
    pts = m.points(sim.observations).drop(columns=["truth"])
    out = m.baseline_predictions(sim.observations, pts)
    assert set(out) == {"curve_fit", "curve_fit_dataset"}
    truth = m.points(sim.observations)["truth"].to_numpy()
    assert np.nanmedian(np.abs(out["curve_fit"] - truth)) < 0.03
    avg = baselines.fit_average_error(m.points(sim.observations), m.tasks)
    assert set(avg) == {"simulated"}


# --- plots ------------------------------------------------------------------------------------


def test_plots_and_their_data(fit_binomial):
    from bayes_scaling.plots.downstream import (
        domain_forest,
        error_vs_loss,
        get_domain_forest_data,
        get_error_vs_loss_data,
    )

    data = get_error_vs_loss_data(fit=fit_binomial, tasks="math_0,science_0", n_points=5)
    assert set(data["kind"]) == {"curve", "observed"} and data.attrs["ci_prob"] == 0.9
    fig = error_vs_loss(fit=fit_binomial, tasks="math_0,science_0", ci=0.8)
    assert len([a for a in fig.axes if a.get_visible()]) == 2
    forest = get_domain_forest_data(fit=fit_binomial)
    assert set(forest["parameter"]) == set(LAW)
    assert (forest["domain"] == "(global)").sum() == 3
    assert len(domain_forest(fit=fit_binomial).axes) == 3


# --- parameter recovery (slow) ----------------------------------------------------------------


def _inside(fit, sim, prob: float) -> list[bool]:
    post = fit.posterior
    lo, hi = (1 - prob) / 2, (1 + prob) / 2
    hits = []
    for p in LAW:
        q = np.quantile(post[f"{p}_mu"].to_numpy(), [lo, hi])
        hits.append(bool(q[0] <= sim.truth["mu"][p] <= q[1]))
        for d, v in sim.truth["domain"][p].items():
            q = np.quantile(post[f"{p}_domain"].sel(domain=d).to_numpy(), [lo, hi])
            hits.append(bool(q[0] <= v <= q[1]))
    return hits


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "noise"), [("binomial", 0.0), ("beta", 300.0)])
def test_parameter_recovery(kind, noise):
    """Global and domain parameters of a 4-domain testbed fall inside their intervals.

    Fifteen checks per fit are not independent and each misses 10% of the time by design, so
    the test allows at most one outside the 99% intervals (all fifteen inside happens only
    ~86% of the time even for a perfect sampler) and guards against gross miscalibration with
    at least 60% inside the 90% ones (9 of 15; a calibrated posterior falls below that with
    probability ~0.2% for independent checks). Measured with these seeds: binomial 12 of 15,
    beta 11 of 15 (the domain-level ε fractions near 1 are pooled towards the population);
    simulation-based calibration over many replicates is the real check (not done yet).
    """
    sim = simulate_downstream(
        seed=11,
        likelihood=kind,
        noise=noise or 300.0,
        domains={"commonsense": 4, "science": 3, "math": 3, "reading": 3},
    )
    fit = model_for(_spec(kind), sim.observations).fit(
        seed=0, draws=600, tune=600, chains=2, progressbar=False
    )
    assert fit.diagnostics().rhat_max < 1.05
    assert sum(not hit for hit in _inside(fit, sim, 0.99)) <= 1
    assert np.mean(_inside(fit, sim, 0.9)) >= 0.6


def test_dataset_shift_of_the_input_loss_is_recovered(sim):
    """Runs of a second corpus whose loss reads 0.2 higher for the same accuracy: the fitted
    zero-sum shifts differ by about −0.2."""
    f = sim.observations.frame
    other = f.assign(dataset="other", run=f["run"] + "-other")
    other.loc[other["metric"] == "loss", "value"] += 0.2
    obs = Observations.from_frame(pd.concat([f, other], ignore_index=True), source="two corpora")
    spec = _spec("binomial", input={"shift_by": "dataset", "shift_sd": 0.3})
    fit = model_for(spec, obs).fit(seed=0, **TINY)
    shift = fit.posterior["loss_shift"]
    diff = (shift.sel(dataset="other") - shift.sel(dataset="simulated")).to_numpy()
    assert abs(np.median(diff) + 0.2) < 0.05
    with pytest.raises(DataError, match="dataset"):
        fit.predict(pd.DataFrame({"loss": [3.0], "task": ["math_0"]}))


def test_cli_predict_with_tasks_and_average(fit_binomial, tmp_path):
    from bayes_scaling import cli

    path = fit_binomial.save(tmp_path / "ds.nc")
    grid = tmp_path / "grid.csv"
    pd.DataFrame({"loss": [2.8, 3.2]}).to_csv(grid, index=False)
    out = tmp_path / "pred.csv"
    code = cli.main(
        [
            "predict",
            str(path),
            "--grid",
            str(grid),
            "--tasks",
            "all",
            "--average",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    table = pd.read_csv(out)
    named = {"eti90_lb", "eti90_ub", "mean_eti90_lb", "mean_eti90_ub"}  # the interval, named
    assert {"task", "loss", "median"} | named <= set(table.columns)
    assert len(table) == 2 * 10 + 2  # ten tasks at two losses, then their two averages
    assert (table["task"].tail(2) == "avg10").all()


def test_average_tasks_as_one_task_per_dataset(sim):
    from bayes_scaling.models.task_sets import average_tasks

    tasks = ["commonsense_0", "science_1"]
    avg = average_tasks(sim.observations, tasks, name="pair", by="dataset")
    f, g = avg.frame, sim.observations.frame
    rows = f[f["metric"] == "accuracy"]
    assert set(rows["task"]) == {"pair[simulated]"} and rows["n_items"].isna().all()
    one = g[(g["run"] == "sim-0") & g["task"].isin(tasks)]
    row = rows[rows["run"] == "sim-0"].iloc[0]
    assert row["value"] == pytest.approx(one["value"].mean())
    assert row["chance"] == pytest.approx(one["chance"].mean())
    assert len(f[f["metric"] == "loss"]) == len(g[g["metric"] == "loss"])  # inputs kept
    spec = _spec("beta").updated({"response": {"tasks": "all"}})
    assert model_for(spec, avg).tasks == ("pair[simulated]",)
    gap = Observations(g.drop(index=one.index[:1]), "gappy")
    with pytest.raises(DataError, match=r"run 'sim-0' .* lacks"):
        average_tasks(gap, tasks, name="pair")
