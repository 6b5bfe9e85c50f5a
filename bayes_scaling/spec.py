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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from bayes_scaling.discrepancy import ExtrapolationError
from bayes_scaling.errors import did_you_mean
from bayes_scaling.hashing import canonical_json, digest
from bayes_scaling.priors import Prior, SpecError

LINKS = ("identity", "log", "logit")
SAMPLERS = ("nutpie", "pymc", "numpyro", "blackjax")
SAMPLER_DEFAULTS: dict[str, Any] = {
    "name": "nutpie",
    "draws": 1000,
    "tune": 1000,
    "chains": 4,
    "target_accept": 0.9,
    "mass_matrix": "diag",
}
#: nutpie's mass matrix adaptation: diagonal, or diagonal plus a low-rank correction (nutpie's
#: ``low_rank_modified_mass_matrix``) for posteriors with a few strongly correlated directions.
MASS_MATRICES = ("diag", "low_rank")
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
    def sampler(self) -> dict[str, Any]:
        return {**SAMPLER_DEFAULTS, **self.section("sampler")}

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
        sampler = self.section("sampler")
        check_keys(sampler, SAMPLER_DEFAULTS, where=f"{self.source}: [sampler]")
        check_sampler(sampler, where=f"{self.source}: [sampler]")
        mass = sampler.get("mass_matrix", "diag")
        if mass not in MASS_MATRICES:
            raise SpecError(
                f"{self.source}: [sampler] mass_matrix {mass!r} is not one of {MASS_MATRICES}"
            )
        if mass != "diag" and sampler.get("name", "nutpie") != "nutpie":
            raise SpecError(f"{self.source}: [sampler] mass_matrix {mass!r} needs nutpie")


def check_keys(table: dict[str, Any], known: Any, *, where: str) -> None:
    """Raise :class:`SpecError` naming ``where`` and the first key of ``table`` not in
    ``known``, with a "did you mean" when a known key is close."""
    for key in table:
        if key not in known:
            hint = did_you_mean(key, known)
            raise SpecError(f"{where}: unknown key {key!r}{hint} (known: {sorted(known)})")


def check_sampler(sampler: dict[str, Any], *, where: str) -> None:
    """Raise :class:`SpecError` (prefixed by ``where``) for a sampler ``name`` not in
    :data:`SAMPLERS`, ``draws``/``tune``/``chains`` below 1 or not whole, or a
    ``target_accept`` outside (0, 1); absent keys are not checked."""
    if "name" in sampler and sampler["name"] not in SAMPLERS:
        raise SpecError(f"{where} name {sampler['name']!r} is not one of {SAMPLERS}")
    for key in ("draws", "tune", "chains"):
        value = sampler.get(key, 1)
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise SpecError(f"{where} {key} must be a positive integer, got {value!r}")
    ta = sampler.get("target_accept", 0.9)
    if not isinstance(ta, float) or not 0 < ta < 1:
        raise SpecError(f"{where} target_accept must be in (0, 1), got {ta!r}")


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
