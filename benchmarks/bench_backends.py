"""nutpie's two gradient backends side by side (issue 13, item 4): PyTensor's numba (the
default) against JAX, on the same PyMC model, one chain each, one after the other.

Run: ``.venv/bin/pip install "jax[cpu]"`` then ``.venv/bin/python benchmarks/bench_backends.py
[--fits error_sigmoid_46 pythia_dynamics] [--draws 100 --tune 100]`` (writes
``benchmarks/results/backends.json``). JAX is not a dependency of the package: this file is how
the choice of numba was measured. Per backend: compile seconds, sampling seconds, leapfrog
steps (warm-up included) and microseconds per step; a backend that fails says how.
"""

from __future__ import annotations

import argparse
import time

import nutpie
from _common import write_results
from bench_speed import FITS

from bayes_scaling.data.paths import shared_data_dir

BACKENDS = {"numba": {"backend": "numba"}, "jax": {"backend": "jax", "gradient_backend": "jax"}}


def measure(model, *, draws: int, tune: int) -> dict:
    out: dict = {}
    for name, options in BACKENDS.items():
        try:
            start = time.perf_counter()
            compiled = nutpie.compile_pymc_model(model, **options)
            compile_s = time.perf_counter() - start
            start = time.perf_counter()
            tree = nutpie.sample(
                compiled, draws=draws, tune=tune, chains=1, cores=1, seed=1,
                progress_bar=False, save_warmup=True,
            )  # fmt: skip
            seconds = time.perf_counter() - start
        except BaseException as exc:  # nutpie's Rust panics are BaseException
            if isinstance(exc, KeyboardInterrupt):
                raise
            out[name] = {"failed": f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
            continue
        steps = int(tree["sample_stats"]["n_steps"].sum())
        steps += int(tree["warmup_sample_stats"]["n_steps"].sum())
        out[name] = {
            "compile_seconds": round(compile_s, 1),
            "sampling_seconds": round(seconds, 1),
            "gradients": steps,
            "us_per_gradient": round(1e6 * seconds / steps, 1),
        }
    if all("us_per_gradient" in v for v in out.values()):
        out["jax_over_numba_per_gradient"] = round(
            out["jax"]["us_per_gradient"] / out["numba"]["us_per_gradient"], 2
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fits", nargs="+", default=["error_sigmoid_46", "pythia_dynamics"])
    ap.add_argument("--draws", type=int, default=100)
    ap.add_argument("--tune", type=int, default=100)
    args = ap.parse_args()
    root = shared_data_dir()
    results = {}
    for name in args.fits:
        results[name] = measure(FITS[name](root).build(), draws=args.draws, tune=args.tune)
        print(name, results[name], flush=True)
    write_results("backends", results)


if __name__ == "__main__":
    main()
