"""Helpers shared by the benchmark scripts: environment facts and atomic JSON output."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bayes_scaling.atomic import write_text
from bayes_scaling.fitfile import versions
from bayes_scaling.inference import available_cpus

RESULTS = Path(__file__).resolve().parent / "results"


def environment() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "cpus_available": available_cpus(),
        "versions": versions(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


@contextmanager
def timer(into: dict[str, Any], key: str):
    start = time.perf_counter()
    yield
    into[key] = round(time.perf_counter() - start, 2)


def write_results(name: str, payload: dict[str, Any]) -> Path:
    path = RESULTS / f"{name}.json"
    text = json.dumps({"environment": environment(), **payload}, indent=2, default=float)
    write_text(path, text + "\n")
    print(f"wrote {path}", file=sys.stderr)
    return path


def run_parts(name: str, parts: Sequence[str], runners: dict[str, Callable[[Any], Any]]) -> None:
    """Run ``parts`` in order and write ``results/<name>.json`` after each one.

    Parts not run keep their previous results. Each runner gets its part's previous result
    (``None`` when there is none).
    """
    previous = RESULTS / f"{name}.json"
    results = json.loads(previous.read_text()) if previous.exists() else {}
    results = {k: v for k, v in results.items() if k in runners}
    for part in parts:
        results[part] = runners[part](results.get(part))
        write_results(name, results)


def ess_per_second(summary, seconds: float) -> float:
    return float(summary["ess_bulk"].min() / seconds) if seconds > 0 else float("nan")


os.environ.setdefault("PYTHONHASHSEED", "0")
