"""Observation tables: the tidy schema, the loaders of the public data sets and the domain map."""

from bayes_scaling.data.chinchilla import load_chinchilla
from bayes_scaling.data.datablations import load_datablations
from bayes_scaling.data.detect import load
from bayes_scaling.data.domains import assign_domains, domain_of, load_domain_map
from bayes_scaling.data.gadre import TASKS_17, TASKS_46, load_gadre
from bayes_scaling.data.gemstones import load_gemstones
from bayes_scaling.data.hitchhiker import load_hitchhiker_olmo
from bayes_scaling.data.lm_eval import load_lm_eval
from bayes_scaling.data.olmo_ladder import load_olmo_ladder
from bayes_scaling.data.pythia import load_pythia
from bayes_scaling.data.schema import DataError, Observations, validate
from bayes_scaling.data.tidy import load_tidy

__all__ = [
    "TASKS_17",
    "TASKS_46",
    "DataError",
    "Observations",
    "assign_domains",
    "domain_of",
    "load",
    "load_chinchilla",
    "load_datablations",
    "load_domain_map",
    "load_gadre",
    "load_gemstones",
    "load_hitchhiker_olmo",
    "load_lm_eval",
    "load_olmo_ladder",
    "load_pythia",
    "load_tidy",
    "validate",
]
