"""Ctrl-C stops a fit from the shell within seconds, during compilation and during sampling,
and leaves no output file (nor a temporary one) behind."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest


@pytest.fixture(scope="module")
def data_csv(small_testbed, tmp_path_factory):
    path = tmp_path_factory.mktemp("interrupt") / "testbed.csv"
    small_testbed.observations.frame.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("stage", ["compiling", "sampling"])
def test_sigint_stops_a_fit_quickly(data_csv, tmp_path, stage):
    out = tmp_path / "fit.nc"
    command = [sys.executable, "-m", "bayes_scaling.cli", "fit", "loss_overtraining"]
    command += ["--data", str(data_csv), "--out", str(out), "--draws", "200000", "--tune", "500"]
    command += ["--chains", "2", "--cores", "1"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    seen = []
    for line in proc.stderr:  # wait for the stage's log line
        seen.append(line)
        if stage in line:
            break
    assert proc.poll() is None, "".join(seen)
    if stage == "sampling":
        time.sleep(2.0)  # well inside the chains
    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail(f"still running 10 s after SIGINT during {stage}")
    elapsed = time.monotonic() - start
    rest = proc.stderr.read()
    assert code == 130, rest
    assert "interrupted" in rest
    assert elapsed < 10
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no fit file, no temporary
