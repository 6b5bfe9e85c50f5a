"""Where the real public data sets live (never inside this package)."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "BAYES_SCALING_DATA"
_DEFAULT = Path(__file__).resolve().parents[3] / "shared" / "data"


def shared_data_dir() -> Path:
    """The folder holding ``overtraining/``, ``olmo-ladder/``, ``trajectories/`` ….

    ``$BAYES_SCALING_DATA`` if set, else ``../shared/data`` beside the repository.

    Raises
    ------
    FileNotFoundError
        With the paths tried and how to point at the data, when the folder is missing.
    """
    path = Path(os.environ.get(ENV_VAR, _DEFAULT)).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(
            f"real data folder not found at {path}. Set ${ENV_VAR} to the folder that holds "
            "overtraining/, olmo-ladder/, trajectories/, chinchilla/ and hitchhiker/."
        )
    return path
