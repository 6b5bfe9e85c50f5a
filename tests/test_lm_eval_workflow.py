"""A team's own lm-evaluation-harness folder, from the shell: fit → predict → report.

The fixture ``tests/fixtures/lm_eval`` is two sizes × five checkpoints × three tasks in the
lm-eval 0.4 layout with a ``data.toml`` (tokens per step) and a stray ``config.json``; see
``tests/fixtures/make_lm_eval.py``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from bayes_scaling import cli

FIXTURE = Path(__file__).parent / "fixtures" / "lm_eval"
TINY = ["--draws", "40", "--tune", "60", "--chains", "2", "--cores", "1", "--seed", "3"]


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    """Run the three commands once; every test reads their outputs."""
    out = tmp_path_factory.mktemp("lm_eval")
    fit = out / "fit.nc"
    assert cli.main(["fit", "task_dynamics", "--data", str(FIXTURE), "--out", str(fit), *TINY]) in (
        0,
        3,
    )
    grid = out / "grid.csv"
    pd.DataFrame(
        {"params": [4.1e8, 4.1e8], "tokens": [3.4e10, 1.0e11], "task": ["arc_easy", "piqa"]}
    ).to_csv(grid, index=False)
    predictions = out / "predictions.csv"
    assert cli.main(["predict", str(fit), "--grid", str(grid), "--out", str(predictions)]) == 0
    page = out / "report.html"
    assert cli.main(["report", str(fit), "--grid", str(grid), "--out", str(page)]) == 0
    return {"fit": fit, "grid": grid, "predictions": predictions, "report": page, "dir": out}


def test_the_fit_reads_the_folder_with_its_data_toml(workflow):
    from bayes_scaling.models.base import Fit

    fit = Fit.load(workflow["fit"])
    table = fit.model.table
    assert set(table["run"]) == {"acme-70m", "acme-160m"}
    assert set(table["params"]) == {7.0e7, 1.6e8}  # lm-eval 0.4's model_num_parameters
    assert table["tokens"].min() == 1000 * 2_097_152  # step × tokens_per_step from data.toml
    assert set(table["task"]) == {"arc_easy", "piqa", "sciq"}  # config.json was skipped


def test_predictions_name_their_distance(workflow):
    table = pd.read_csv(workflow["predictions"])
    assert list(table["task"]) == ["arc_easy", "piqa"]
    assert (table["params_decades"] > 0.4).all() and (table["distance"] > 0.4).all()
    assert ((table["eti90_lb"] < table["median"]) & (table["median"] < table["eti90_ub"])).all()


def test_report_has_the_sections_and_embedded_figures(workflow):
    page = workflow["report"].read_text()
    for heading in ("What was fitted", "Verdict", "Parameters", "The fit", "Predictions"):
        assert f"<h2>{heading}</h2>" in page
    assert "eti90_lb" in page and "eti90_ub" in page  # the interval named in the headers
    assert page.count('src="data:image/png;base64,') == 2  # rank plots, the fit
    assert "tests/fixtures/lm_eval" in page


def test_a_folder_without_its_options_says_how_to_give_them(tmp_path, capsys):
    folder = tmp_path / "evals"
    shutil.copytree(FIXTURE, folder)
    (folder / "data.toml").unlink()
    code = cli.main(
        ["fit", "task_dynamics", "--data", str(folder), "--out", str(tmp_path / "f.nc")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "no token count" in err
    assert "--data-option 'tokens_per_step=" in err and "data.toml" in err
    code = cli.main(
        [
            "fit",
            "task_dynamics",
            "--data",
            str(folder),
            "--data-option",
            "tokens_per_stp=2097152",
            "--out",
            str(tmp_path / "f.nc"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "did you mean 'tokens_per_step'" in err
    assert not (tmp_path / "f.nc").exists()


_PROBE = """<script>
window.addEventListener("load", () => {
  const images = Array.from(document.images);
  const broken = images.filter((im) => !(im.complete && im.naturalWidth > 0)).length;
  document.body.setAttribute("data-images", images.length);
  document.body.setAttribute("data-broken", broken);
});
</script></body>"""


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        message = "BROWSER MISSING: install Debian's chromium to run the report browser test"
        if os.environ.get("BAYES_SCALING_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{message} (BAYES_SCALING_REQUIRE_BROWSER=1, as .ci/run sets)")
        pytest.skip(message)
    return found


def _headless(browser: str, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    flags += ["--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]
    return subprocess.run(
        [browser, *flags, *args], capture_output=True, text=True, timeout=120, check=True
    )


def test_report_renders_in_a_real_browser(workflow):
    """Headless Chromium loads the page: every image decodes, no console message, and the
    screenshot shows the tables (dark text) and the figure (coloured lines and bands)."""
    browser = _chromium()
    probed = workflow["dir"] / "probed.html"
    probed.write_text(workflow["report"].read_text().replace("</body>", _PROBE))
    dom = _headless(browser, "--dump-dom", probed.as_uri())
    assert 'data-images="2"' in dom.stdout and 'data-broken="0"' in dom.stdout
    shot = workflow["dir"] / "report.png"
    page = _headless(
        browser, f"--screenshot={shot}", "--window-size=1200,2400", workflow["report"].as_uri()
    )
    assert ":CONSOLE" not in page.stderr
    pixels = plt.imread(shot)[..., :3]
    dark = (pixels.max(axis=2) < 0.3).mean()
    coloured = (pixels.max(axis=2) - pixels.min(axis=2) > 0.3).mean()
    assert dark > 0.005, "no text in the screenshot"
    assert coloured > 0.002, "no figure colours in the screenshot"


def test_outputs_are_readable_as_the_umask_allows(workflow):
    """Fit files and reports are not private to their writer (mkstemp's 0600)."""
    mask = os.umask(0)
    os.umask(mask)
    for name in ("fit", "predictions", "report"):
        assert workflow[name].stat().st_mode & 0o777 == 0o666 & ~mask
