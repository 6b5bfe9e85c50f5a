"""Checkpoint selection: one meaning of the [data] keys in every family."""

import numpy as np
import pandas as pd
import pytest

from bayes_scaling.checkpoints import CHECKPOINT_KEYS, select_checkpoints
from bayes_scaling.errors import SpecError
from bayes_scaling.models.downstream import DownstreamModel
from bayes_scaling.models.dynamics import DynamicsModel

TOKENS = np.arange(1, 101) * 1e9  # one run, 100 checkpoints equally spaced in steps
ROWS = pd.DataFrame({"run": "r", "tokens": TOKENS, "value": 0.5})


def _kept(**keys) -> np.ndarray:
    chosen = {**CHECKPOINT_KEYS, **keys}
    return select_checkpoints(
        ROWS,
        min_tokens=chosen["min_tokens"],
        drop_first_fraction=chosen["drop_first_fraction"],
        max_checkpoints=chosen["max_checkpoints"],
        spacing=chosen["checkpoint_spacing"],
        where="x.toml: [data]",
    )["tokens"].to_numpy()


def test_spacing_and_dropping():
    assert len(_kept()) == 100  # 0 = all
    even = _kept(max_checkpoints=4, checkpoint_spacing="even")
    np.testing.assert_array_equal(even, [1e9, 34e9, 67e9, 100e9])
    log = _kept(max_checkpoints=3)  # nearest to 1e9, 10e9, 100e9
    np.testing.assert_array_equal(log, [1e9, 10e9, 100e9])
    assert _kept(drop_first_fraction=0.1).min() == 10e9  # from 10% of the final tokens on
    assert _kept(min_tokens=5e10).min() == 5e10


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"max_checkpoints": -1}, "max_checkpoints must be an integer ≥ 0"),
        ({"max_checkpoints": 2.5}, "max_checkpoints must be an integer ≥ 0"),
        ({"drop_first_fraction": 1.0}, "drop_first_fraction must lie in"),
        ({"checkpoint_spacing": "linear"}, "checkpoint_spacing must be one of"),
    ],
)
def test_bad_values_name_the_key(keys, message):
    with pytest.raises(SpecError, match=message) as err:
        _kept(**keys)
    assert "x.toml: [data]" in str(err.value)


def test_both_families_declare_the_same_keys_and_defaults():
    for family in (DownstreamModel, DynamicsModel):
        data = family.spec_keys["data"]
        assert {k: data[k] for k in CHECKPOINT_KEYS} == CHECKPOINT_KEYS


def test_a_renamed_key_says_its_new_name():
    from bayes_scaling.data.simulate import simulate_downstream
    from bayes_scaling.spec import load_spec

    spec = load_spec("accuracy_sigmoid").updated({"data": {"skip_fraction": 0.1}})
    with pytest.raises(SpecError, match="'skip_fraction' is now drop_first_fraction"):
        DownstreamModel(spec, simulate_downstream(seed=1).observations)
