"""Specs validate, hash canonically, and name the offending key in every error."""

import pytest

from bayes_scaling.spec import ModelSpec, SpecError, load_spec, shipped_specs

BASE = {
    "family": "loss",
    "form": "chinchilla",
    "response": {"task": "train"},
    "params": {"E": {"prior": {"dist": "Normal", "mu": 0.5, "sigma": 0.5}, "link": "log"}},
}


def spec(**changes):
    return ModelSpec.from_dict({**BASE, **changes}, source="test.toml")


def test_every_shipped_spec_loads():
    names = shipped_specs()
    assert {"loss_overtraining", "loss_chinchilla"} <= set(names)
    for name in names:
        assert load_spec(name).family


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"famly": "loss"}, "unknown top-level key(s) ['famly']"),
        ({"params": {"E": {"link": "log"}}}, "[params.E]: missing key 'prior'"),
        ({"params": {"E": {"prior": {"dist": "Normall"}}}}, "unknown PyMC distribution 'Normall'"),
        (
            {"params": {"E": {"prior": {"dist": "Normal", "mean": 1.0}}}},
            "[params.E].prior: Normal has no argument 'mean'",
        ),
        (
            {"params": {"E": {"prior": {"dist": "Normal"}, "pooling": "some"}}},
            "[params.E].pooling: 'some'",
        ),
        (
            {"params": {"E": {"prior": {"dist": "Normal"}, "pooling": "partial"}}},
            "[params.E]: pooling 'partial' needs an 'sd' prior",
        ),
        ({"params": {"E": {"prior": {"dist": "Normal"}, "link": "exp"}}}, "[params.E].link"),
        ({"sampler": {"name": "stan"}}, "[sampler] name 'stan'"),
        ({"sampler": {"draws": 0}}, "[sampler] draws must be a positive integer"),
        ({"sampler": {"mass_matrix": "dense"}}, "[sampler] mass_matrix 'dense'"),
        (
            {"sampler": {"name": "pymc", "mass_matrix": "low_rank"}},
            "[sampler] mass_matrix 'low_rank' needs nutpie",
        ),
    ],
)
def test_errors_name_the_key(change, message):
    with pytest.raises(SpecError) as err:
        spec(**change)
    assert "test.toml" in str(err.value)
    assert message in str(err.value)


def test_bad_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("family = \n")
    with pytest.raises(SpecError, match=r"broken\.toml: not valid TOML"):
        load_spec(path)


def test_unknown_spec_name_lists_the_shipped_ones():
    with pytest.raises(SpecError, match="loss_overtraining"):
        load_spec("no_such_spec")


def test_hash_is_canonical_and_updates_merge():
    a = spec()
    b = ModelSpec.from_dict(dict(reversed(list(a.raw.items()))), source="other.toml")
    assert a.hash == b.hash
    c = a.updated({"response": {"task": "c4_val"}})
    assert c.require("response.task") == "c4_val"
    assert c.hash != a.hash
    assert a.require("response.task") == "train"  # the original is untouched


def test_missing_law_parameter_is_named(small_testbed):
    from bayes_scaling.models import model_for

    with pytest.raises(SpecError, match=r"missing \[params.A_ref\]"):
        model_for(spec(), small_testbed.observations)


def test_sampler_is_one_validated_value():
    from bayes_scaling.spec import SamplerConfig

    s = load_spec("error_sigmoid").sampler
    assert isinstance(s, SamplerConfig)
    assert (s.mass_matrix, s.target_accept, s.chains) == ("low_rank", 0.95, 4)
    quick = s.updated(draws=200, chains=None)  # None: not given
    assert (quick.draws, quick.chains, s.draws) == (200, 4, 1000)
    assert set(SamplerConfig.keys()) == set(s.to_dict())
    with pytest.raises(SpecError, match="needs nutpie"):
        s.updated(name="pymc")  # low_rank stays: an error, not silently dropped
    with pytest.raises(SpecError, match="unknown key 'target_acept'; did you mean"):
        s.updated(target_acept=0.9)


def test_fit_takes_one_sampler_config_with_arguments_over_it():
    from bayes_scaling.data.simulate import simulate_chinchilla
    from bayes_scaling.models import model_for
    from bayes_scaling.spec import SamplerConfig

    model = model_for("loss_chinchilla", simulate_chinchilla(n_runs=20, seed=4).observations)
    config = SamplerConfig(draws=20, tune=20, chains=1, target_accept=0.8)
    fit = model.fit(sampler=config, draws=15, progressbar=False)
    assert fit.posterior.sizes["draw"] == 15 and fit.posterior.sizes["chain"] == 1
    with pytest.raises(SpecError, match="fit\\(\\) sampler argument: chains must be a positive"):
        model.fit(sampler=config, chains=0)
