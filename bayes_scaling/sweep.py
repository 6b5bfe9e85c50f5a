"""Sweeps: many fits described in one ``SWEEP.toml``, expanded into fit tasks with stable ids.

A sweep is the product ``specs × data × selections × replicates`` plus an optional explicit
list of fits. Selections come from generators for the common designs — a backtest at each of
a series of compute cut-offs, leave-one-group-out — or are written out. Simulated data sets
may be replicated (fresh data per replicate, for calibration checks). Nothing here samples:
:func:`bayes_scaling.cluster.sweep` runs the tasks on Dask.

Format (every key optional except ``specs`` or ``[[fits]]``, and ``[data.*]``)::

    name = "cutoffs"                 # default: the file's stem
    seed = 0                         # root seed; each fit's seed derives from it and its key
    specs = ["loss_chinchilla"]      # shipped spec names, paths (relative to this file) or
                                     # spec tables (from Python: ModelSpec.to_dict())
    replicates = 1                   # fits per (spec, data, selection), derived seeds
    # seeds = [0, 1, 2]              # ... or explicit seeds instead of `replicates`

    [sampler]                        # overrides every spec's [sampler] (part of the fit id):
    draws = 500                      # any SamplerConfig key, mass_matrix and target_accept too
    tune = 500
    chains = 4

    [data.testbed]                   # a named data set: simulated ...
    simulate = "chinchilla"          #   bayes_scaling.data.simulate.simulate_chinchilla
    options = {n_runs = 60, sigma = 0.01}
    replicates = 20                  #   fresh data per replicate (data seed derived)

    [data.gadre]                     # ... or read from disk by bayes_scaling.data.load
    path = "/data/gadre"             #   relative paths are relative to this file
    options = {}                     #   loader keyword arguments

    [[backtest]]                     # one backtest per cut-off: train column <= c, test > c
    column = "flops"                 # default "flops"; any numeric column or derived one
    cutoffs = [1e18, 1e19, 1e20]

    [[leave_one_out]]                # one backtest per group: train != g, test == g
    column = "dataset"
    values = ["c4", "redpajama"]     # default: every value of the column in each data set

    [[select]]                       # written-out selections (pandas queries)
    name = "small"
    train = "params < 2e8"
    test = "params >= 2e8"           # omit for a plain fit on the train rows

    [[fits]]                         # explicit fits, added to the product
    spec = "loss_overtraining"
    data = "gadre"
    train = "multiplier <= 20"       # optional, as in [[select]]
    test = "multiplier > 20"
    seed = 7                         # optional; default derived

Without any selection table the sweep fits every spec to all of each data set. A selection
with ``test`` is a backtest (:func:`bayes_scaling.validate.backtest`); one without is a fit on
the ``train`` rows.

Ids and seeds
-------------
A fit's *key* hashes the canonical spec JSON (sampler overrides merged in), the data's content
fingerprint, the selection's queries and the replicate number; its seed is drawn from
``numpy.random.SeedSequence([root seed, key])``. Its **id** hashes spec, data fingerprint,
selection and seed, so the same fit always has the same id — on any machine, in any order —
and a rerun of the sweep finds it done.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bayes_scaling.data import load
from bayes_scaling.data import simulate as sim
from bayes_scaling.data.schema import DataError, Observations
from bayes_scaling.hashing import canonical_json, digest
from bayes_scaling.priors import SpecError
from bayes_scaling.spec import ModelSpec, SamplerConfig, load_spec, read_toml

_TOP_KEYS = {
    "name",
    "description",
    "seed",
    "specs",
    "replicates",
    "seeds",
    "sampler",
    "data",
    "backtest",
    "leave_one_out",
    "select",
    "fits",
}
_DATA_KEYS = {"simulate", "path", "options", "replicates", "seed"}


class SweepError(SpecError):
    """An invalid sweep description; the message names the file and the key."""


@dataclass(frozen=True)
class Selection:
    """Which rows a fit trains on and, for a backtest, which it is scored on."""

    name: str
    train: str | None = None
    test: str | None = None

    @property
    def kind(self) -> str:
        return "backtest" if self.test else "fit"

    def key(self) -> str:
        return canonical_json({"train": self.train, "test": self.test})


ALL = Selection("all")


@dataclass(frozen=True)
class DataSet:
    """A named data set of the sweep: its observations and, if simulated, the truth."""

    name: str
    observations: Observations
    truth: dict[str, Any] | None = None
    replicate: int | None = None

    @property
    def label(self) -> str:
        return self.name if self.replicate is None else f"{self.name}/r{self.replicate}"


@dataclass(frozen=True)
class FitTask:
    """One fit of a sweep: everything a worker needs except the observations themselves.

    Workers receive the spec as its dict and the data as a tidy table, never a PyMC model.
    """

    id: str
    spec: dict[str, Any]
    spec_source: str
    spec_name: str
    data: str
    data_fingerprint: str
    selection: Selection
    seed: int
    replicate: int = 0
    truth: dict[str, Any] | None = None
    sweep: str = "sweep"

    @property
    def kind(self) -> str:
        return self.selection.kind

    def model_spec(self) -> ModelSpec:
        return ModelSpec.from_dict(self.spec, source=self.spec_source)

    def record(self) -> dict[str, Any]:
        """The task as plain JSON-able data (for manifests and result records)."""
        out = asdict(self)
        out.pop("spec")
        out["selection"] = self.selection.name
        out["train"] = self.selection.train
        out["test"] = self.selection.test
        out["kind"] = self.kind
        return out


def fit_id(spec: ModelSpec, fingerprint: str, selection: Selection, seed: int) -> str:
    """Canonical id of a sweep fit: spec, data fingerprint, selection and seed."""
    return digest("fit", spec.to_json(), fingerprint, selection.key(), str(int(seed)))


def derive_seed(root: int, *parts: str) -> int:
    """A 32-bit seed drawn from ``SeedSequence([root, hash(parts)])``."""
    key = int(digest(*parts), 16)
    return int(np.random.SeedSequence([int(root), key]).generate_state(1, np.uint32)[0])


# --- selections from generators ---------------------------------------------------------------
def backtest_cutoffs(cutoffs: Iterable[float], *, column: str = "flops") -> list[Selection]:
    """One backtest per cut-off: train on ``column <= c``, score on ``column > c``."""
    out = []
    for c in cutoffs:
        c = float(c)
        out.append(Selection(f"{column}<={c:.3g}", f"{column} <= {c!r}", f"{column} > {c!r}"))
    return out


def leave_one_out(values: Iterable[Any], *, column: str) -> list[Selection]:
    """One backtest per group: train on every other group, score on the held-out one."""
    return [Selection(f"{column}!={v}", f"{column} != {v!r}", f"{column} == {v!r}") for v in values]


# --- the description --------------------------------------------------------------------------
@dataclass
class Sweep:
    """A parsed sweep description (see the module docstring for the TOML format)."""

    raw: dict[str, Any]
    source: str = "<sweep>"
    base: Path = field(default_factory=Path.cwd)
    _datasets: dict[str, list[DataSet]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_toml(cls, path: str | Path) -> Sweep:
        path = Path(path)
        raw = read_toml(path, what="sweep", error=SweepError)
        raw.setdefault("name", path.stem)
        return cls.from_dict(raw, source=str(path), base=path.resolve().parent)

    @classmethod
    def from_dict(
        cls, raw: Mapping[str, Any], *, source: str = "<sweep>", base: str | Path | None = None
    ) -> Sweep:
        sweep = cls(copy.deepcopy(dict(raw)), source, Path(base) if base else Path.cwd())
        sweep._check()
        return sweep

    @property
    def name(self) -> str:
        return str(self.raw.get("name", "sweep"))

    @property
    def root_seed(self) -> int:
        return int(self.raw.get("seed", 0))

    # --- validation -----------------------------------------------------------------------
    def _err(self, msg: str) -> SweepError:
        return SweepError(f"{self.source}: {msg}")

    def _check(self) -> None:
        r = self.raw
        unknown = set(r) - _TOP_KEYS
        if unknown:
            raise self._err(f"unknown key(s) {sorted(unknown)}; allowed: {sorted(_TOP_KEYS)}")
        if not isinstance(r.get("seed", 0), int):
            raise self._err("key 'seed' must be an integer")
        if "replicates" in r and "seeds" in r:
            raise self._err("give either 'replicates' or 'seeds', not both")
        reps = r.get("replicates", 1)
        if not isinstance(reps, int) or reps < 1:
            raise self._err("key 'replicates' must be a positive integer")
        seeds = r.get("seeds")
        if seeds is not None and (
            not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds)
        ):
            raise self._err("key 'seeds' must be a non-empty list of integers")
        specs = r.get("specs", [])
        if not isinstance(specs, list) or not all(isinstance(s, str | dict) for s in specs):
            raise self._err("key 'specs' must be a list of spec names, paths or spec tables")
        if not specs and not r.get("fits"):
            raise self._err("nothing to fit: give 'specs' (with [data.*]) or [[fits]]")
        sampler = r.get("sampler", {})
        if not isinstance(sampler, dict):
            raise self._err(f"[sampler] may only set {list(SamplerConfig.keys())}")
        try:
            SamplerConfig().updated(where="[sampler]", **sampler)
        except SpecError as exc:
            raise self._err(str(exc)) from None
        data = r.get("data")
        if not isinstance(data, dict) or not data:
            raise self._err("needs at least one named data set, e.g. [data.testbed]")
        for name, table in data.items():
            where = f"[data.{name}]"
            if not isinstance(table, dict):
                raise self._err(f"{where} must be a table")
            bad = set(table) - _DATA_KEYS
            if bad:
                raise self._err(f"{where}: unknown key(s) {sorted(bad)}")
            if ("simulate" in table) == ("path" in table):
                raise self._err(f"{where}: give exactly one of 'simulate' or 'path'")
            if "replicates" in table and "simulate" not in table:
                raise self._err(f"{where}: 'replicates' needs simulated data ('simulate')")
            if not isinstance(table.get("options", {}), dict):
                raise self._err(f"{where}.options must be a table")
        for key in ("backtest", "leave_one_out", "select", "fits"):
            if key in r and not (
                isinstance(r[key], list) and all(isinstance(t, dict) for t in r[key])
            ):
                raise self._err(f"'{key}' must be an array of tables, written [[{key}]]")
        for i, t in enumerate(r.get("backtest", [])):
            cut = t.get("cutoffs")
            if not isinstance(cut, list) or not cut:
                raise self._err(f"[[backtest]] #{i + 1}: 'cutoffs' must be a non-empty list")
            if set(t) - {"column", "cutoffs"}:
                raise self._err(f"[[backtest]] #{i + 1}: only 'column' and 'cutoffs' allowed")
        for i, t in enumerate(r.get("leave_one_out", [])):
            if "column" not in t or set(t) - {"column", "values"}:
                raise self._err(f"[[leave_one_out]] #{i + 1}: needs 'column' (and 'values')")
        for i, t in enumerate(r.get("select", [])):
            if "train" not in t or set(t) - {"name", "train", "test"}:
                raise self._err(f"[[select]] #{i + 1}: needs 'train' (and 'name', 'test')")
        for i, t in enumerate(r.get("fits", [])):
            where = f"[[fits]] #{i + 1}"
            if "spec" not in t or "data" not in t:
                raise self._err(f"{where}: needs 'spec' and 'data'")
            if t["data"] not in data:
                raise self._err(f"{where}: data {t['data']!r} is not one of {sorted(data)}")
            if set(t) - {"spec", "data", "train", "test", "seed", "name"}:
                raise self._err(f"{where}: allowed keys spec, data, train, test, seed, name")

    # --- expansion ------------------------------------------------------------------------
    def spec(self, name: str | dict[str, Any]) -> ModelSpec:
        """A spec by shipped name, path (relative to the sweep file) or inline table, sampler
        merged in."""
        if isinstance(name, dict):
            spec = ModelSpec.from_dict(name, source=f"{self.source}: specs ({name.get('name')})")
        else:
            path = self.base / name
            spec = load_spec(path if name.endswith(".toml") or path.exists() else name)
        sampler = self.raw.get("sampler")
        return spec.updated({"sampler": sampler}) if sampler else spec

    def datasets(self) -> dict[str, list[DataSet]]:
        """Each named data set, one entry per replicate for replicated simulations (loaded or
        simulated once, then cached)."""
        if self._datasets is None:
            self._datasets = self._load_datasets()
        return self._datasets

    def observations(self) -> dict[str, Observations]:
        """The observations of every data set by label (``name`` or ``name/r<replicate>``)."""
        return {ds.label: ds.observations for e in self.datasets().values() for ds in e}

    def _load_datasets(self) -> dict[str, list[DataSet]]:
        out: dict[str, list[DataSet]] = {}
        for name, table in self.raw["data"].items():
            options = dict(table.get("options", {}))
            if "path" in table:
                path = Path(table["path"])
                path = path if path.is_absolute() else self.base / path
                out[name] = [DataSet(name, load(path, **options))]
                continue
            fn = getattr(sim, f"simulate_{table['simulate']}", None)
            if fn is None:
                known = sorted(n.removeprefix("simulate_") for n in dir(sim) if "simulate_" in n)
                raise self._err(
                    f"[data.{name}]: no simulator {table['simulate']!r}; known: {known}"
                )
            reps = table.get("replicates")
            entries = []
            for r in range(reps or 1):
                # data seed: the table's `seed` (+ replicate), else derived from the root seed
                if "seed" in table:
                    seed = int(table["seed"]) + r
                else:
                    seed = derive_seed(self.root_seed, "data", name, str(r))
                simulation = fn(**options, seed=seed)
                entries.append(
                    DataSet(
                        name,
                        simulation.observations,
                        _jsonable(simulation.truth),
                        None if reps is None else r,
                    )
                )
            out[name] = entries
        return out

    def selections(self, data: Observations) -> list[Selection]:
        """The product's selections for one data set (generators expanded)."""
        out: list[Selection] = []
        for t in self.raw.get("backtest", []):
            out += backtest_cutoffs(t["cutoffs"], column=t.get("column", "flops"))
        for t in self.raw.get("leave_one_out", []):
            column = t["column"]
            values = t.get("values")
            if values is None:
                if column not in data.frame.columns:
                    raise DataError(
                        f"{data.source}: [[leave_one_out]] column {column!r} is not in the data "
                        f"(columns: {list(data.frame.columns)})"
                    )
                values = sorted(data.frame[column].dropna().unique().tolist())
            out += leave_one_out(values, column=column)
        for i, t in enumerate(self.raw.get("select", [])):
            out.append(Selection(t.get("name", f"select{i + 1}"), t["train"], t.get("test")))
        return out or [ALL]

    def tasks(self) -> list[FitTask]:
        """Every fit of the sweep, in a stable order, with ids and seeds (duplicates dropped)."""
        datasets = self.datasets()
        specs = {
            name if isinstance(name, str) else self.spec(name).name: self.spec(name)
            for name in self.raw.get("specs", [])
        }
        replicate_seeds: list[int | None]
        seeds = self.raw.get("seeds")
        replicate_seeds = list(seeds) if seeds else [None] * int(self.raw.get("replicates", 1))
        out: list[FitTask] = []
        for spec_name, spec in specs.items():
            for entries in datasets.values():
                for ds in entries:
                    for sel in self.selections(ds.observations):
                        for r, explicit in enumerate(replicate_seeds):
                            out.append(self._task(spec_name, spec, ds, sel, r, explicit))
        for i, t in enumerate(self.raw.get("fits", [])):
            spec = self.spec(t["spec"])
            sel = Selection(t.get("name", f"fit{i + 1}"), t.get("train"), t.get("test"))
            if sel.train is None and sel.test is None:
                sel = Selection(t.get("name", ALL.name))
            for ds in datasets[t["data"]]:
                out.append(self._task(t["spec"], spec, ds, sel, 0, t.get("seed")))
        unique: dict[str, FitTask] = {}
        for task in out:
            unique.setdefault(task.id, task)
        return list(unique.values())

    def _task(
        self,
        spec_name: str,
        spec: ModelSpec,
        ds: DataSet,
        sel: Selection,
        replicate: int,
        explicit_seed: int | None,
    ) -> FitTask:
        fp = ds.observations.fingerprint()
        if explicit_seed is None:
            seed = derive_seed(self.root_seed, spec.to_json(), fp, sel.key(), str(replicate))
        else:
            seed = int(explicit_seed)
        return FitTask(
            id=fit_id(spec, fp, sel, seed),
            spec=spec.to_dict(),
            spec_source=spec.source,
            spec_name=spec.name if spec_name.endswith(".toml") else spec_name,
            data=ds.label,
            data_fingerprint=fp,
            selection=sel,
            seed=seed,
            replicate=replicate if ds.replicate is None else ds.replicate,
            truth=ds.truth,
            sweep=self.name,
        )


def load_sweep(description: Sweep | Mapping[str, Any] | str | Path) -> Sweep:
    """A sweep from a ``SWEEP.toml`` path, a dict of the same content, or a :class:`Sweep`."""
    if isinstance(description, Sweep):
        return description
    if isinstance(description, Mapping):
        return Sweep.from_dict(description)
    return Sweep.from_toml(description)


def expand(description: Sweep | Mapping[str, Any] | str | Path) -> list[FitTask]:
    """The fit tasks of a sweep description (see :meth:`Sweep.tasks`)."""
    return load_sweep(description).tasks()


def tasks_frame(tasks: Iterable[FitTask]) -> pd.DataFrame:
    """One row per task: id, spec, data, selection, train, test, seed, replicate."""
    cols = ["id", "spec_name", "data", "selection", "kind", "train", "test", "seed", "replicate"]
    return pd.DataFrame([{k: t.record()[k] for k in cols} for t in tasks], columns=cols)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item"):
        return obj.item()
    return obj
