"""Configuration: YAML, then CVM__ environment variables; bad values name their key."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cvm.config import ConfigError, Settings, load_settings, render_template


def test_template_is_commented_and_loads_to_defaults(tmp_path: Path) -> None:
    text = render_template()
    assert text.count("#") > 10
    (tmp_path / "cvm.yaml").write_text(text)
    assert load_settings(tmp_path, environ={}) == Settings()
    assert yaml.safe_load(text)["ingest"]["max_reject_ratio"] == 0.05


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    (tmp_path / "cvm.yaml").write_text("ingest:\n  max_reject_ratio: 0.1\napi:\n  port: 9000\n")
    s = load_settings(tmp_path, environ={"CVM__INGEST__MAX_REJECT_RATIO": "0.2"})
    assert s.ingest.max_reject_ratio == 0.2
    assert s.api.port == 9000


@pytest.mark.parametrize(
    ("yaml_text", "env", "needle"),
    [
        ("ingest:\n  max_reject_ratio: 2\n", {}, "ingest.max_reject_ratio"),
        ("api:\n  prot: 80\n", {}, "api.prot"),
        ("", {"CVM__API__PORT": "http"}, "api.port"),
        ("store: [1, 2]\n", {}, "store"),
    ],
)
def test_invalid_values_are_refused_with_their_key_path(
    tmp_path: Path, yaml_text: str, env: dict[str, str], needle: str
) -> None:
    (tmp_path / "cvm.yaml").write_text(yaml_text)
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        load_settings(tmp_path, environ=env)
