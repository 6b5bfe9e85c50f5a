"""Convergence at a glance: rank plots (arviz-plots) of the parameters whose chains agree least."""

from __future__ import annotations

import textwrap

import arviz as az
import arviz_plots
import xarray as xr
from matplotlib.figure import Figure

from bayes_scaling.constants import CI_PROB
from bayes_scaling.errors import DataError
from bayes_scaling.models.base import Fit

#: how many parameters (entries of a vector parameter count one each) the figure shows
WORST = 6


def get_rank_data(*, fit: Fit, worst: int = WORST) -> xr.Dataset:
    """The ``worst`` scalar posterior series with the largest R-hat, named ``name[label]``.

    Every sampled quantity the fit's verdict checks (:meth:`Fit.diagnostics`) is a candidate;
    each entry of a vector parameter is its own series.
    """
    post = fit.posterior
    names = [v for v in post.data_vars if post[v].ndim <= 3]
    rhat = az.rhat(post[names])
    ranked: list[tuple[float, str, xr.DataArray]] = []
    for v in names:
        r = rhat[v]
        if r.ndim == 0:
            ranked.append((float(r), v, post[v]))
            continue
        flat = r.stack(entry=r.dims)
        series = post[v].stack(entry=r.dims)
        for i, label in enumerate(flat["entry"].values):
            text = ", ".join(map(str, label)) if isinstance(label, tuple) else str(label)
            ranked.append((float(flat[i]), f"{v}[{text}]", series.isel(entry=i, drop=True)))
    ranked.sort(key=lambda item: -item[0])
    return xr.Dataset({name: values for _, name, values in ranked[:worst]})


def plot_ranks(*, fit: Fit, ci: float = CI_PROB, worst: int = WORST) -> Figure:
    """Rank plots (``arviz_plots.plot_rank``) of the ``worst`` series with the largest R-hat.

    Each panel shows, per chain, the ECDF of the draws' ranks minus the uniform's, inside a
    simultaneous ``ci`` envelope: chains that sample the same distribution stay inside it.
    The title carries the fit's verdict.

    Raises
    ------
    DataError
        If the fit has a single chain: ranks compare chains.
    """
    chains = fit.posterior.sizes["chain"]
    if chains < 2:
        raise DataError(
            f"rank plots compare chains, and this fit has {chains}: refit with chains ≥ 2"
        )
    data = get_rank_data(fit=fit, worst=worst)
    tree = xr.DataTree.from_dict({"posterior": data})
    pc = arviz_plots.plot_rank(tree, backend="matplotlib", envelope_prob=ci)
    fig = pc.get_viz("figure")
    verdict = textwrap.fill(fit.diagnostics().verdict, 110)
    fig.suptitle(
        f"Rank ECDFs of the {len(data.data_vars)} parameters with the largest R-hat "
        f"(inside the {ci:.0%} envelope = the chains agree)\n{verdict}",
        fontsize=9,
    )
    # arviz-plots lays the panels out without room for the two-line title or the panel
    # titles below a row's tick labels: the constrained layout makes it
    fig.set_layout_engine("constrained")
    return fig
