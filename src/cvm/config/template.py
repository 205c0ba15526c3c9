"""The commented ``cvm.yaml`` that ``cvm init`` writes."""

from __future__ import annotations

from cvm.config.settings import Settings

_TEMPLATE = """\
# CVM workspace configuration.
# Every key can be overridden by an environment variable CVM__SECTION__KEY,
# for example CVM__INGEST__MAX_REJECT_RATIO=0.1 or CVM__STORE__ONLINE_URL=postgresql+psycopg://...

store:
  # Offline store engine: Parquet files queried with DuckDB.
  offline: {store.offline}
  # Folder of the offline store, relative to the workspace.
  offline_path: {store.offline_path}
  # SQLAlchemy URL of the online store (API keys, audit log, ...).
  # Leave empty for SQLite at <workspace>/online.db; PostgreSQL: postgresql+psycopg://user@host/db
  # Put passwords in the environment (CVM__STORE__ONLINE_URL), not in this file.
  online_url: {online_url}

ingest:
  # A batch whose rejected share exceeds this ratio is refused whole (nothing stored).
  max_reject_ratio: {ingest.max_reject_ratio}
  # Dates later than now plus this many days are rejected.
  future_tolerance_days: {ingest.future_tolerance_days}
  # Time zone of timestamps without an offset in source files.
  timezone: {ingest.timezone}

api:
  # Where `cvm serve` listens.
  host: {api.host}
  port: {api.port}
"""


def render_template(settings: Settings | None = None) -> str:
    """Return the commented YAML for ``settings`` (defaults when omitted)."""
    s = settings or Settings()
    return _TEMPLATE.format(store=s.store, ingest=s.ingest, api=s.api, online_url=s.store.online_url or "null")
