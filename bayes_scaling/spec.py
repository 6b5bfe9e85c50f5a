"""Model specs: a ``models/*.toml`` file read, validated and hashed.

A spec is data, not code. It names the model family and law, the response, the parameters
(prior on the latent scale, link, pooling, group-level scale priors), the likelihood and the
sampler defaults. Families validate their own keys through :meth:`ModelSpec.require`, so every
error names the file and the key.

Example::

    family = "loss"
    form = "overtraining"
    [response]
    task = "c4_val"
    [params.eta]
    prior = {dist = "Normal", mu = -2.0, sigma = 0.5}
    link = "log"
    pooling = "partial"
    sd = {dist = "HalfNormal", sigma = 0.2}
"""

from __future__ import annotations

import copy
import numbers
import tomllib
from dataclasses import asdict, dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from bayes_scaling.discrepancy import ExtrapolationError
from bayes_scaling.errors import did_you_mean
from bayes_scaling.hashing import canonical_json, digest
from bayes_scaling.priors import Prior, SpecError

LINKS = ("identity", "log", "logit")
SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax")
#: nutpie's mass matrix adaptation: diagonal, or diagonal plus a low-rank correction (nutpie's
#: ``adaptation="low_rank"``) for posteriors with a few strongly correlated directions.
MASS_MATRICES = ("diag", "low_rank")


@dataclass(frozen=True)
class SamplerConfig:
    """How a fit samples: a spec's ``[sampler]`` table, validated once, as one value.

    The spec's table (:attr:`ModelSpec.sampler`), the keyword arguments of ``fit()``, the
    CLI's sampling flags and a sweep's ``[sampler]`` table all make one of these by
    :meth:`updated`; inference and the Dask chains take it whole. The fields are the table's
    keys and their defaults (a key not here is an error naming it).

    Attributes
    ----------
    name
        The NUTS implementation: one of :data:`SAMPLERS` (``numpyro``/``blackjax`` need JAX).
    draws, tune, chains
        Draws kept and warm-up steps per chain; the number of chains.
    target_accept
        NUTS's target acceptance rate, in (0, 1).
    mass_matrix
        ``"diag"`` or ``"low_rank"`` (nutpie only; :data:`MASS_MATRICES`).
    """

    name: str = "nutpie"
    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    target_accept: float = 0.9
    mass_matrix: str = "diag"

    @classmethod
    def keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def updated(self, *, where: str = "sampler setting:", **changes: Any) -> SamplerConfig:
        """A copy with ``changes`` (``None`` values ignored), validated.

        Raises
        ------
        SpecError
            Naming ``where`` and the key: unknown, or a value out of range.
        """
        changes = {k: v for k, v in changes.items() if v is not None}
        check_keys(changes, self.keys(), where=where.rstrip(":"))
        new = replace(self, **changes)
        new._check(where)
        return new

    def _check(self, where: str) -> None:
        if self.name not in SAMPLERS:
            raise SpecError(f"{where} name {self.name!r} is not one of {SAMPLERS}")
        for key in ("draws", "tune", "chains"):
            value = getattr(self, key)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
                raise SpecError(f"{where} {key} must be a positive integer, got {value!r}")
        ta = self.target_accept
        if isinstance(ta, bool) or not isinstance(ta, numbers.Real) or not 0 < ta < 1:
            raise SpecError(f"{where} target_accept must be in (0, 1), got {ta!r}")
        if self.mass_matrix not in MASS_MATRICES:
            raise SpecError(
                f"{where} mass_matrix {self.mass_matrix!r} is not one of {MASS_MATRICES}"
            )
        if self.mass_matrix != "diag" and self.name != "nutpie":
            raise SpecError(
                f"{where} mass_matrix {self.mass_matrix!r} needs nutpie (sampler "
                f"{self.name!r}: set mass_matrix = 'diag')"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Keys renamed so that one key has one meaning in every family: old → new.
RENAMED = {
    ("data", "skip_fraction"): "drop_first_fraction (with checkpoints = 'all')",
}
#: Sections whose keys each family declares (:attr:`ScalingModel.spec_keys`).
FAMILY_SECTIONS = ("response", "input", "groups", "data", "likelihood")
_TOP_KEYS = {
    "family",
    "name",
    "description",
    "form",
    "response",
    "input",
    "groups",
    "data",
    "params",
    "likelihood",
    "sampler",
    "extrapolation",
}


@dataclass(frozen=True)
class ParamSpec:
    """One law parameter: its prior on the latent scale, link and pooling.

    ``value = inverse_link(latent)``. With ``pooling = "partial"`` the latent of each group is
    the parent's latent plus ``sd[level] · z``, level by level. ``centered`` chooses the
    parameterisation: ``False`` (the default) centres no level, ``True`` every level, a list
    of level names those levels; ``"auto"`` centres each group of the parameter's finest
    pooled level that has at least :data:`~bayes_scaling.constants.AUTO_CENTER_ROWS` rows of
    data (the data pin it down; non-centred it would make a funnel) and leaves the others and
    every coarser level non-centred (rows are not information: on the Gadre loss fit, where
    each dataset's E, a, b trade off against each other, it made 103 divergences).
    ``pooling = "shared"`` is one value for all groups; ``"none"`` is one independent value
    per group under ``prior``.
    """

    name: str
    prior: Prior
    link: str = "identity"
    pooling: str | tuple[str, ...] = "shared"
    sd: dict[str, Prior] | Prior | None = None
    centered: bool | str | tuple[str, ...] = False

    def is_centered(self, level: str) -> bool:
        """Whether the offsets of ``level`` are all centred by an explicit ``centered``
        (``"auto"`` decides per group: :func:`bayes_scaling.hierarchy.centred_groups`)."""
        return self.centered is True or (
            isinstance(self.centered, tuple) and level in self.centered
        )

    def sd_for(self, level: str) -> Prior:
        if isinstance(self.sd, Prior):
            return self.sd
        assert self.sd is not None
        return self.sd[level]


@dataclass(frozen=True)
class ModelSpec:
    """A validated model spec; ``raw`` is the TOML content, the single source of truth."""

    raw: dict[str, Any]
    source: str = "<spec>"

    # --- construction -------------------------------------------------------------------
    @classmethod
    def from_toml(cls, path: str | Path) -> ModelSpec:
        path = Path(path)
        return cls.from_dict(read_toml(path, what="spec"), source=str(path))

    @classmethod
    def from_dict(cls, raw: dict[str, Any], *, source: str = "<spec>") -> ModelSpec:
        spec = cls(copy.deepcopy(raw), source)
        spec._check()
        return spec

    def to_dict(self) -> dict[str, Any]:
        return copy.deepcopy(self.raw)

    def to_json(self) -> str:
        return canonical_json(self.raw)

    @classmethod
    def from_json(cls, text: str, *, source: str = "<saved spec>") -> ModelSpec:
        import json

        return cls.from_dict(json.loads(text), source=source)

    @property
    def hash(self) -> str:
        return digest(self.to_json())

    def updated(self, updates: dict[str, Any]) -> ModelSpec:
        """A new spec with ``updates`` merged in (nested tables merge, other values replace)."""
        return ModelSpec.from_dict(_merge(self.raw, updates), source=self.source)

    def with_keys(self, pairs: dict[str, Any]) -> ModelSpec:
        """A new spec with each dotted key set (``{"data.max_checkpoints": 8}``), in order."""
        spec = self
        for key, value in pairs.items():
            *tables, last = key.split(".")
            update: dict = {last: value}
            for table in reversed(tables):
                update = {table: update}
            spec = spec.updated(update)
        return spec

    # --- accessors ----------------------------------------------------------------------
    @property
    def family(self) -> str:
        return self.raw["family"]

    @property
    def name(self) -> str:
        return self.raw.get("name", Path(self.source).stem)

    @property
    def form(self) -> str | None:
        return self.raw.get("form")

    def section(self, key: str) -> dict[str, Any]:
        value = self.raw.get(key, {})
        if not isinstance(value, dict):
            raise SpecError(f"{self.source}: [{key}] must be a table")
        return value

    def require(self, dotted: str, kind: type | tuple[type, ...] | None = None) -> Any:
        """The value at ``a.b.c``; raise naming the key when missing or of the wrong type."""
        node: Any = self.raw
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                raise SpecError(f"{self.source}: missing key {dotted!r}")
            node = node[part]
        if kind is not None and not isinstance(node, kind):
            names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
            raise SpecError(f"{self.source}: key {dotted!r} must be {names}, got {node!r}")
        return node

    def get(self, dotted: str, default: Any = None) -> Any:
        try:
            return self.require(dotted)
        except SpecError:
            return default

    def param(self, name: str) -> ParamSpec:
        params = self.section("params")
        if name not in params:
            raise SpecError(f"{self.source}: missing [params.{name}] (the law needs it)")
        return _param(name, params[name], where=f"{self.source}: [params.{name}]")

    @property
    def extrapolation_error(self) -> ExtrapolationError:
        """The ``[extrapolation]`` term (see :mod:`bayes_scaling.discrepancy`; off if absent)."""
        return ExtrapolationError.from_table(
            self.section("extrapolation"), where=f"{self.source}: [extrapolation]"
        )

    @property
    def sampler(self) -> SamplerConfig:
        """The ``[sampler]`` table over the defaults (:class:`SamplerConfig`)."""
        return SamplerConfig().updated(where=f"{self.source}: [sampler]", **self.section("sampler"))

    # --- validation ---------------------------------------------------------------------
    def check_sections(self, keys: dict[str, tuple[str, ...]], *, family: str) -> None:
        """Every key of the family's sections is one it reads (``keys``: section → keys).

        Raises
        ------
        SpecError
            For a key the family does not read (with a "did you mean"), or one of these
            sections that the family does not have at all.
        """
        for section in FAMILY_SECTIONS:
            table = self.section(section)
            if table and section not in keys:
                raise SpecError(f"{self.source}: the {family} family has no [{section}] section")
            for key in table:
                if (section, key) in RENAMED:
                    raise SpecError(
                        f"{self.source}: [{section}] {key!r} is now {RENAMED[section, key]}"
                    )
            check_keys(table, keys.get(section, ()), where=f"{self.source}: [{section}]")

    def _check(self) -> None:
        unknown = set(self.raw) - _TOP_KEYS
        if unknown:
            raise SpecError(
                f"{self.source}: unknown top-level key(s) {sorted(unknown)}; "
                f"allowed: {sorted(_TOP_KEYS)}"
            )
        self.require("family", str)
        self.extrapolation_error  # noqa: B018 (validates the section)
        for name in self.section("params"):
            self.param(name)
        self.sampler  # noqa: B018 (validates the section)


def check_keys(table: dict[str, Any], known: Any, *, where: str) -> None:
    """Raise :class:`SpecError` naming ``where`` and the first key of ``table`` not in
    ``known``, with a "did you mean" when a known key is close."""
    for key in table:
        if key not in known:
            hint = did_you_mean(key, known)
            raise SpecError(f"{where}: unknown key {key!r}{hint} (known: {sorted(known)})")


def read_toml(path: Path, *, what: str, error: type[Exception] = SpecError) -> dict[str, Any]:
    """The TOML file at ``path``; ``error`` names the file when it is missing or malformed."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise error(f"{path}: {what} file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from exc


def _param(name: str, table: Any, *, where: str) -> ParamSpec:
    if not isinstance(table, dict):
        raise SpecError(f"{where} must be a table")
    unknown = set(table) - {"prior", "link", "pooling", "sd", "centered"}
    if unknown:
        raise SpecError(f"{where}: unknown key(s) {sorted(unknown)}")
    if "prior" not in table:
        raise SpecError(f"{where}: missing key 'prior'")
    prior = Prior.from_dict(table["prior"], where=f"{where}.prior")
    link = table.get("link", "identity")
    if link not in LINKS:
        raise SpecError(f"{where}.link: {link!r} is not one of {LINKS}")
    pooling = table.get("pooling", "shared")
    if isinstance(pooling, list):
        pooling = tuple(str(p) for p in pooling)
    elif pooling not in ("shared", "none", "partial"):
        raise SpecError(
            f"{where}.pooling: {pooling!r} must be 'shared', 'none', 'partial' "
            "or a list of group levels"
        )
    sd_raw = table.get("sd")
    sd: dict[str, Prior] | Prior | None
    if sd_raw is None:
        sd = None
    elif isinstance(sd_raw, dict) and "dist" in sd_raw:
        sd = Prior.from_dict(sd_raw, where=f"{where}.sd")
    elif isinstance(sd_raw, dict):
        sd = {lvl: Prior.from_dict(p, where=f"{where}.sd.{lvl}") for lvl, p in sd_raw.items()}
    else:
        raise SpecError(f"{where}.sd: must be a prior table or a table of priors per level")
    if pooling not in ("shared", "none") and sd is None:
        raise SpecError(f"{where}: pooling {pooling!r} needs an 'sd' prior for the group scale")
    centered = table.get("centered", False)
    if isinstance(centered, list) and all(isinstance(c, str) for c in centered):
        centered = tuple(centered)
    elif not isinstance(centered, bool) and centered != "auto":
        raise SpecError(f'{where}.centered: must be "auto", true, false or a list of group levels')
    return ParamSpec(name, prior, link, pooling, sd, centered)


def _merge(base: dict[str, Any], updates: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict) and "dist" not in value:
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def shipped_specs() -> dict[str, Path]:
    """The specs that come with the package, by name (``loss_overtraining`` …)."""
    repo_models = Path(__file__).resolve().parents[1] / "models"
    if repo_models.is_dir():  # a source checkout or editable install
        folder = repo_models
    else:
        folder = Path(str(resources.files("bayes_scaling") / "_specs"))
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def load_spec(name_or_path: str | Path | ModelSpec) -> ModelSpec:
    """A spec from a file path or the name of a shipped spec."""
    if isinstance(name_or_path, ModelSpec):
        return name_or_path
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        return ModelSpec.from_toml(path)
    shipped = shipped_specs()
    if str(name_or_path) in shipped:
        return ModelSpec.from_toml(shipped[str(name_or_path)])
    raise SpecError(
        f"{name_or_path}: no such spec file, and not a shipped spec (shipped: {sorted(shipped)})"
    )
