"""Real-time events: online profiles, and ingestion into the outbox.

The event contract itself (``EventIn``, the property models, ``parse_event``) is
:mod:`cvm.contracts.events`.
"""

from cvm.events.ingest import DecideFn, EventIngestor, RankFn, Rescorer
from cvm.events.profile import OnlineProfile
from cvm.events.results import EventOutcome, IngestReport
from cvm.events.snapshot import OfflineSnapshot

__all__ = [
    "DecideFn",
    "EventIngestor",
    "EventOutcome",
    "IngestReport",
    "OfflineSnapshot",
    "OnlineProfile",
    "RankFn",
    "Rescorer",
]
