"""Real-time events: the event contract, online profiles, and ingestion into the outbox."""

from cvm.events.ingest import DecideFn, EventIngestor, RankFn, Rescorer
from cvm.events.model import PROPERTY_MODELS, EventBatchIn, EventError, EventIn, parse_event
from cvm.events.profile import OnlineProfile
from cvm.events.results import EventOutcome, IngestReport
from cvm.events.snapshot import OfflineSnapshot

__all__ = [
    "PROPERTY_MODELS",
    "DecideFn",
    "EventBatchIn",
    "EventError",
    "EventIn",
    "EventIngestor",
    "EventOutcome",
    "IngestReport",
    "OfflineSnapshot",
    "OnlineProfile",
    "RankFn",
    "Rescorer",
    "parse_event",
]
