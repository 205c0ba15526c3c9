"""One typed configuration tree: ``cvm.yaml``, then ``CVM__SECTION__KEY`` environment variables."""

from cvm.config.settings import (
    CONFIG_FILE,
    ApiSettings,
    ConfigError,
    IngestSettings,
    Settings,
    StoreSettings,
    load_settings,
)
from cvm.config.template import render_template

__all__ = [
    "CONFIG_FILE",
    "ApiSettings",
    "ConfigError",
    "IngestSettings",
    "Settings",
    "StoreSettings",
    "load_settings",
    "render_template",
]
