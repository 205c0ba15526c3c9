"""Fixtures shared by the end-to-end tests: one Chromium and one dashboard-pages workspace for ``tests/e2e``.

``browser``: a headless Chromium (tests/e2e/browser.py), launched the first time a test asks for it and closed
when the last e2e test has run. Package scope, not session scope: Playwright's sync API keeps an asyncio loop
running on the main thread while it is open, which would break any later test that calls ``asyncio.run``.
Tests isolate themselves with ``browser.new_context()`` (cookies, storage, viewport), never with a new browser.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.e2e.browser import chromium


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    """The e2e package's headless Chromium; open a context per test or module on it."""
    with chromium() as b:
        yield b


@pytest.fixture(scope="package")
def pages_workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """Issue 16's pages workspace (test_dashboard_pages.build_pages_workspace) and its analyst key, built once.

    Closed when returned. A module that only reads serves it as it is; a module that changes its data serves
    a ``shutil.copytree`` copy (a copy takes a fraction of a second, a rebuild tens of seconds).
    """
    from tests.e2e.test_dashboard_pages import build_pages_workspace

    return build_pages_workspace(tmp_path_factory.mktemp("pages"))
