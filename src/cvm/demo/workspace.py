"""The demo workspace's ``cvm.yaml``: the closed loop of issue 18 switched on.

A demo workspace decides by incremental value (``plans.arbitration: incremental``) and keeps exploring
(``experiments.ladder.exploration: 0.1`` under a 5% global holdout), so its decision log keeps
randomised decisions and every ``cvm run`` goes log → outcomes → train → score → decide with no manual
step. A new workspace made by ``cvm init`` keeps the defaults (``propensity``, no exploration).
"""

from __future__ import annotations

from pathlib import Path

from cvm.config.settings import CONFIG_FILE, Settings
from cvm.config.template import render_template

DEMO_ARBITRATION = "incremental"
DEMO_HOLDOUT_SHARE = 0.05
DEMO_EXPLORATION = 0.30
DEMO_REPLAY_MONTHS = 12
"""Months of past decisions ``cvm demo`` replays with exploration (the randomised log the uplift models learn from)."""


def demo_settings() -> Settings:
    """The default settings with the demo's arbitration, global holdout and exploration."""
    return Settings.model_validate(
        {
            "plans": {"arbitration": DEMO_ARBITRATION},
            "experiments": {"holdout_share": DEMO_HOLDOUT_SHARE, "ladder": {"exploration": DEMO_EXPLORATION}},
        }
    )


def write_demo_config(workspace: Path) -> bool:
    """Write the demo's ``cvm.yaml`` into ``workspace`` unless one exists; whether it was written."""
    path = Path(workspace) / CONFIG_FILE
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_template(demo_settings()), encoding="utf-8")
    return True
