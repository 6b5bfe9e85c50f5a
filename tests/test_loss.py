"""Loss family: build, fit, summarise, predict, save/load, and its input errors."""

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from bayes_scaling import DataError, Fit, FitFileError, SpecError, fit, load_spec
from bayes_scaling.data.schema import Observations
from bayes_scaling.data.simulate import simulate_chinchilla
from bayes_scaling.models import model_for
from bayes_scaling.plots.diagnostics import get_rank_data, plot_ranks

GRID = pd.DataFrame(
    {
        "dataset": ["c4", "redpajama", "refinedweb", "c4"],
        "params": [1.44e9, 6.89e9, 6.89e9, 7.9e7],
        "tokens": [921.5e9, 137.8e9, 137.8e9, 1.6e9],
    }
)


def test_model_has_finite_gradient_at_the_start(small_testbed):
    model = model_for("loss_overtraining", small_testbed.observations).build()
    point = model.initial_point()
    logp = model.compile_logp()(point)
    grad = model.compile_dlogp()(point)
    assert np.isfinite(logp)
    assert np.all(np.isfinite(grad))


def test_prior_predictive_is_plausible(small_testbed):
    prior = model_for("loss_overtraining", small_testbed.observations).prior_predictive(100)
    loss = np.exp(prior["prior_predictive"]["y"].to_numpy())
    assert np.median(loss) > 1.0
    assert np.median(loss) < 20.0


def test_summary_names_and_columns(tiny_loss_fit):
    table = tiny_loss_fit.summary()
    for name in ("E[c4]", "a[redpajama]", "b[refinedweb]", "eta[c4]", "M_star[c4]", "sigma"):
        assert name in table.index
    assert {"mean", "median", "lower", "upper", "ess_bulk", "ess_tail", "r_hat"} <= set(
        table.columns
    )
    assert table.attrs["ci_prob"] == 0.9
    assert (table["lower"] <= table["median"]).all()
    assert (table["median"] <= table["upper"]).all()


def test_chinchilla_summary_rows_are_the_law_parameters():
    sim = simulate_chinchilla(n_runs=40, seed=2)
    result = fit(
        "loss_chinchilla", sim.observations, draws=50, tune=50, chains=2, progressbar=False
    )
    assert list(result.summary().index) == ["E", "A", "B", "alpha", "beta", "sigma"]


def test_prediction_table_and_extrapolation(tiny_loss_fit):
    table = tiny_loss_fit.predict(GRID).table()
    for col in ("mean", "median", "lower", "upper", "mean_lower", "mean_upper", "distance"):
        assert col in table
    # a new run is wider than the law (the extrapolation error, shared by both, switched off:
    # where it dominates, both intervals agree to Monte Carlo error)
    spec = tiny_loss_fit.spec.updated({"extrapolation": {"rate": 0}})
    law = Fit(spec, tiny_loss_fit.data, tiny_loss_fit.tree, tiny_loss_fit.seed).predict(GRID)
    law = law.table()
    assert (law["lower"] <= law["mean_lower"] + 1e-9).all()
    assert (law["upper"] >= law["mean_upper"] - 1e-9).all()
    assert table.loc[3, "compute_decades"] == 0.0  # inside the training compute range
    assert table.loc[0, "compute_decades"] > 1.0  # 1.4B × 921B tokens: 1.4 decades beyond
    law_width = (table["mean_upper"] - table["mean_lower"]) / table["mean"]
    assert law_width[0] > law_width[3]  # the law is less certain where it extrapolates


def test_prediction_xarray_has_draws(tiny_loss_fit):
    pred = tiny_loss_fit.predict(GRID)
    assert isinstance(pred.draws, xr.Dataset)
    assert pred.draws["new"].dims == ("sample", "point")
    assert pred.draws.sizes["sample"] == 200


def test_unseen_dataset_is_drawn_from_the_population(tiny_loss_fit):
    grid = GRID.assign(dataset=["unseen"] * 4)
    table = tiny_loss_fit.predict(grid).table()
    known = tiny_loss_fit.predict(GRID).table()
    assert np.isfinite(table["median"]).all()
    assert (table["upper"] - table["lower"]).mean() > (known["upper"] - known["lower"]).mean()


def test_grid_without_dataset_is_an_error(tiny_loss_fit):
    with pytest.raises(DataError, match="needs a 'dataset' column"):
        tiny_loss_fit.predict(GRID.drop(columns="dataset"))


def test_grid_with_bad_value_names_row_and_column(tiny_loss_fit):
    grid = GRID.copy()
    grid.loc[2, "tokens"] = -1
    with pytest.raises(DataError, match=r"row 4, column 'tokens'"):
        tiny_loss_fit.predict(grid)


def test_save_load_predict_identical(tiny_loss_fit, tmp_path):
    path = tiny_loss_fit.save(tmp_path / "fit.nc")
    loaded = Fit.load(path)
    assert loaded.spec == tiny_loss_fit.spec
    assert loaded.hash == tiny_loss_fit.hash
    pd.testing.assert_frame_equal(
        loaded.predict(GRID, seed=3).table(), tiny_loss_fit.predict(GRID, seed=3).table()
    )
    pd.testing.assert_frame_equal(loaded.summary(), tiny_loss_fit.summary())
    assert "pymc" in loaded.tree.attrs["bayes_scaling_versions"]
    assert [p.name for p in tmp_path.iterdir()] == ["fit.nc"]  # no temporary left behind


def test_load_detects_a_modified_file(tiny_loss_fit, tmp_path):
    import h5py

    path = tiny_loss_fit.save(tmp_path / "fit.nc")
    with h5py.File(path, "r+") as f:
        f.attrs["bayes_scaling_seed"] = 999
    with pytest.raises(FitFileError, match="hash mismatch"):
        Fit.load(path)


def test_load_detects_edited_draws(tiny_loss_fit, tmp_path):
    import h5py

    path = tiny_loss_fit.save(tmp_path / "fit.nc")
    with h5py.File(path, "r+") as f:
        values = f["posterior/E"][...]
        f["posterior/E"][...] = values * 1.01  # a plausible-looking edit
    with pytest.raises(FitFileError, match="posterior draws do not match"):
        Fit.load(path)


def test_load_rejects_other_files(tmp_path):
    (tmp_path / "x.nc").write_text("not netcdf")
    with pytest.raises(FitFileError, match="not a readable netCDF"):
        Fit.load(tmp_path / "x.nc")
    with pytest.raises(FitFileError, match="no such fit file"):
        Fit.load(tmp_path / "missing.nc")


def test_interrupted_save_leaves_nothing(tiny_loss_fit, tmp_path, monkeypatch):
    def interrupted(self, path, *args, **kwargs):
        open(path, "wb").write(b"partial")  # noqa: SIM115
        raise KeyboardInterrupt

    monkeypatch.setattr(xr.DataTree, "to_netcdf", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tiny_loss_fit.save(tmp_path / "fit.nc")
    assert list(tmp_path.iterdir()) == []


def test_failed_fit_writes_no_file(small_testbed, tmp_path, monkeypatch):
    from bayes_scaling import cli, inference

    def failing(*args, **kwargs):
        raise RuntimeError("sampler crashed")

    monkeypatch.setattr(inference, "sample", failing)
    csv = tmp_path / "data.csv"
    small_testbed.observations.frame.to_csv(csv, index=False)
    with pytest.raises(RuntimeError, match="sampler crashed"):
        cli.main(["fit", "loss_overtraining", "--data", str(csv), "--out", str(tmp_path / "f.nc")])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


# --- input errors that depend on the spec --------------------------------------------------


def test_unknown_dataset_named_in_spec(small_testbed):
    spec = load_spec("loss_overtraining").updated({"data": {"datasets": ["c4", "pile"]}})
    with pytest.raises(DataError, match=r"datasets names \['pile'\]"):
        model_for(spec, small_testbed.observations)


def test_too_few_runs_for_the_pooling(small_testbed):
    frame = small_testbed.observations.frame
    keep = (frame["dataset"] != "c4") | frame["run"].isin(frame["run"].unique()[:2])
    data = Observations.from_frame(frame[keep], source="few.csv")
    with pytest.raises(DataError, match=r"too few runs for the requested pooling: \{'c4': 2\}"):
        model_for("loss_overtraining", data)


def test_a_runs_checkpoints_are_points_of_the_law():
    rows = [
        {"run": f"r{n:g}", "params": n, "tokens": d, "task": "val", "metric": "loss",
         "value": 2.0 + 400 / n**0.34 + 410 / d**0.28}
        for n in (1e8, 3e8, 1e9)
        for d in (2e9, 4e9, 8e9, 16e9)
    ]  # fmt: skip
    frame = pd.DataFrame(rows)
    spec = load_spec("loss_chinchilla").updated(
        {"response": {"task": "val"}, "data": {"checkpoints": "all"}}
    )
    model = model_for(spec, Observations.from_frame(frame, source="curves.csv"))
    assert len(model.table) == 12  # 12 points, 3 runs
    # the [data] checkpoint keys mean what they mean in every family
    thin = spec.updated({"data": {"max_checkpoints": 2, "min_tokens": 3e9}})
    kept = model_for(thin, Observations.from_frame(frame, source="curves.csv")).table
    assert sorted(set(kept["tokens"])) == [4e9, 16e9] and len(kept) == 6
    with pytest.raises(SpecError, match="checkpoints must be one of"):
        last = spec.updated({"data": {"checkpoints": "last"}})
        model_for(last, Observations.from_frame(frame, source="c"))
    final = frame.groupby("run").tail(1)
    with pytest.raises(DataError, match=r"3 distinct \(N, D\) point\(s\) of 3 run\(s\)"):
        model_for(spec, Observations.from_frame(final, source="final.csv"))


def test_partial_pooling_needs_two_groups(small_testbed):
    data = small_testbed.observations.where(dataset="c4")
    with pytest.raises(DataError, match="data have one group"):
        model_for("loss_overtraining", data)


def test_missing_response_task(small_testbed):
    spec = load_spec("loss_overtraining").updated({"response": {"task": "paloma_ptb"}})
    with pytest.raises(DataError, match="no rows with task='paloma_ptb'"):
        model_for(spec, small_testbed.observations)


def _two_losses() -> Observations:
    frames = []
    for seed, task in ((2, "bpb_a"), (3, "bpb_b")):
        f = simulate_chinchilla(n_runs=20, seed=seed).observations.frame.assign(task=task)
        frames.append(f.assign(run=f["run"] + "-" + task))
    return Observations(pd.concat(frames, ignore_index=True), "two simulated losses")


def test_one_law_per_task_with_pooled_exponents(tmp_path):
    from bayes_scaling.models.chaining import loss_fits

    pooled = {"pooling": "partial", "sd": {"dist": "HalfNormal", "sigma": 0.1}}
    spec = load_spec("loss_chinchilla").updated(
        {
            "response": {"task": ["bpb_a", "bpb_b"]},
            "groups": {"by": "task"},
            "params": {"E": {"pooling": "none"}, "alpha": pooled, "beta": pooled},
        }
    )
    model = model_for(spec, _two_losses())
    assert model.labels == ("bpb_a", "bpb_b") and len(model.table) == 40
    result = model.fit(draws=30, tune=30, chains=1, progressbar=False)
    assert {"alpha[bpb_a]", "alpha[bpb_b]", "E[bpb_b]"} <= set(result.summary().index)
    grid = pd.DataFrame({"task": ["bpb_a", "bpb_b"], "params": [1e10] * 2, "tokens": [2e11] * 2})
    assert len(result.predict(grid).table()) == 2
    assert set(loss_fits(result)) == {"bpb_a", "bpb_b"}
    with pytest.raises(Exception, match=r"\[groups\] by = 'task'"):
        model_for(spec.updated({"groups": {"by": "dataset"}}), _two_losses())
    shipped = load_spec("loss_tasks").updated({"response": {"metric": "loss"}})  # task = "all"
    assert model_for(shipped, _two_losses()).tasks == ("bpb_a", "bpb_b")
    with pytest.raises(DataError, match="no rows with task='bpb_c'"):
        model_for(spec.updated({"response": {"task": ["bpb_a", "bpb_c"]}}), _two_losses())


def test_prediction_saves_as_arviz_groups_and_reads_back(tiny_loss_fit, tmp_path):
    import arviz_stats as azs

    from bayes_scaling.models.prediction import Prediction

    pred = tiny_loss_fit.predict(GRID)
    tree = pred.to_datatree()
    assert {"predictions", "predictions_constant_data"} <= set(tree.children)
    post = tiny_loss_fit.posterior
    assert tree["predictions"]["new"].shape == (post.sizes["chain"], post.sizes["draw"], 4)
    # ArviZ reads the group: its interval is the table's
    stats = azs.summary(
        tree,
        group="predictions",
        var_names=["new"],
        kind="stats",
        ci_prob=0.9,
        ci_kind="eti",
        round_to="none",
    )
    table = pred.table()
    np.testing.assert_allclose(stats["eti90_lb"].to_numpy(), table["lower"].to_numpy())
    np.testing.assert_allclose(stats["eti90_ub"].to_numpy(), table["upper"].to_numpy())
    path = tiny_loss_fit.save(tmp_path / "with_pred.nc", prediction=pred)
    again = Prediction.load(path)
    pd.testing.assert_frame_equal(again.table(), table, check_dtype=False)
    assert Fit.load(path).hash == tiny_loss_fit.hash  # the fit still loads as itself
    with pytest.raises(FitFileError, match="no predictions"):
        Prediction.load(tiny_loss_fit.save(tmp_path / "plain.nc"))


def test_fit_file_of_another_model_version_is_refused(tiny_loss_fit, tmp_path):
    from bayes_scaling import fitfile

    tree = fitfile.read(tiny_loss_fit.save(tmp_path / "f.nc"))
    assert tree.attrs["bayes_scaling_model_version"] == "loss:1"
    tree.attrs["bayes_scaling_model_version"] = "loss:0"
    with pytest.raises(FitFileError, match="model changed"):
        Fit.from_tree(tree, source="old.nc")


def test_loss_curves_show_bands_held_out_runs_and_where_they_extrapolate(
    tiny_loss_fit, small_testbed
):
    """A residual row where the band is visible, held-out runs in their curve's colour, and
    lines dashed where they lie beyond the fitted N or D."""
    import matplotlib.colors as mcolors
    import matplotlib.pyplot as plt

    from bayes_scaling.plots import get_loss_points_data, loss_curves

    held = small_testbed.observations.select("params > 4e8")
    fig = loss_curves(fit=tiny_loss_fit, held_out=held)
    axes = fig.axes
    groups = len(tiny_loss_fit.model.labels)
    assert len(axes) == 2 * groups  # curves over residuals, one column per dataset
    bottom = axes[groups]
    low, high = bottom.get_ylim()
    assert low == pytest.approx(-high) and high < 0.5  # residuals in nats, not the loss range
    assert any(line.get_linestyle() == "--" for line in axes[0].get_lines())
    diamonds = [c for c in axes[0].collections if c.get_paths() and len(c.get_offsets()) and
                c.get_facecolors().size == 0]  # fmt: skip
    assert diamonds, "no open held-out marks"
    edges = {mcolors.to_hex(c) for c in diamonds[0].get_edgecolors()}
    assert edges and "#000000" not in edges  # coloured like their multiplier's curve
    points = get_loss_points_data(fit=tiny_loss_fit, held_out=held)
    assert points["held_out"].sum() == len(tiny_loss_fit.model.points(held))
    assert (points["mean_lower"] <= points["mean"]).all()
    plt.close(fig)


def test_rank_figure_shows_the_least_converged_series(tiny_loss_fit):
    data = get_rank_data(fit=tiny_loss_fit, worst=4)
    every_series = get_rank_data(fit=tiny_loss_fit, worst=100)
    assert len(data.data_vars) == 4

    post = tiny_loss_fit.posterior
    rhats = [float(az.rhat(data[v])) for v in data.data_vars]
    assert rhats == sorted(rhats, reverse=True)
    # the first shown has the largest R-hat of every sampled series
    every = az.rhat(post[[v for v in post.data_vars if post[v].ndim <= 3]])
    assert float(every.to_array().max()) == pytest.approx(rhats[0])
    # an entry of a vector parameter is that entry's draws
    for name in [v for v in every_series.data_vars if "[" in v][:3]:
        var, label = name.rstrip("]").split("[")
        dim = next(d for d in post[var].dims if d not in ("chain", "draw"))
        np.testing.assert_array_equal(every_series[name].values, post[var].sel({dim: label}).values)
    fig = plot_ranks(fit=tiny_loss_fit)
    assert "largest R-hat" in fig._suptitle.get_text()
    assert "chains" in fig._suptitle.get_text()
    one_chain = Fit(
        tiny_loss_fit.spec,
        tiny_loss_fit.data,
        xr.DataTree.from_dict({"posterior": post.isel(chain=[0])}),
        seed=0,
    )
    with pytest.raises(DataError, match="rank plots compare chains, and this fit has 1"):
        plot_ranks(fit=one_chain)


def test_frontier_likelihood_puts_the_law_under_the_runs():
    # runs short of the law by an exponential shortfall (mean 3% of loss), little other noise:
    # the frontier law runs along their lower edge, a Student-t law through their middle, and
    # the frontier's new runs sit above its law by about the shortfall
    sim = simulate_chinchilla(n_runs=40, sigma=0.002, nu=None, seed=3)
    frame = sim.observations.frame.copy()
    rng = np.random.default_rng(4)
    frame["value"] *= np.exp(rng.exponential(0.03, len(frame)))
    data = Observations.from_frame(frame, source="shortfall.csv")
    grid = frame[["params", "tokens"]]
    above = {}
    for kind in ("frontier", "student_t"):
        spec = load_spec("loss_chinchilla").updated({"likelihood": {"kind": kind}})
        result = fit(spec, data, seed=1, draws=200, tune=300, chains=2, progressbar=False)
        law = result.predict(grid).table()["mean"].to_numpy()
        above[kind] = float(np.mean(frame["value"].to_numpy() > law))
        if kind == "frontier":
            assert "inefficiency" in result.model.law_params()
            shortfall = float(result.tree.posterior["inefficiency"].mean())
            assert 0.015 < shortfall < 0.06
    assert above["frontier"] > 0.8 and 0.3 < above["student_t"] < 0.7, above
    with pytest.raises(SpecError, match="'student_t', 'normal' or 'frontier'"):
        bad = load_spec("loss_chinchilla").updated({"likelihood": {"kind": "laplace"}})
        model_for(bad, data).build()


@pytest.mark.parametrize("spec_name", ["loss_chinchilla", "loss_overtraining"])
def test_priors_follow_the_units_of_the_loss(small_testbed, spec_name):
    # the same runs with the loss in other units (× 1/ln 2: bits; × 0.01: a small
    # log-perplexity): with prior_scale = "data" (shipped) the prior predictive moves with them
    # exactly, draw for draw; with "absolute" it does not
    frame = small_testbed.observations.frame.copy()
    frame = frame[frame["dataset"] == "c4"] if spec_name == "loss_chinchilla" else frame
    task = "c4_val" if spec_name == "loss_overtraining" else frame["task"].iloc[0]
    for mode, moves in (("data", True), ("absolute", False)):
        spec = load_spec(spec_name).updated({"response": {"task": task, "prior_scale": mode}})
        logs = []
        for factor in (1.0, 1 / np.log(2), 0.01):
            data = Observations.from_frame(frame.assign(value=frame["value"] * factor), source="s")
            prior = model_for(spec, data).prior_predictive(50, seed=3)["prior_predictive"]["y"]
            logs.append(prior.to_numpy() - np.log(factor))
        same = all(np.allclose(logs[0], other, atol=1e-9) for other in logs[1:])
        assert same is moves, mode
    bad = load_spec(spec_name).updated({"response": {"task": task, "prior_scale": "nats"}})
    with pytest.raises(SpecError, match="prior_scale must be 'absolute' or 'data'"):
        model_for(bad, Observations.from_frame(frame, source="s"))
