"""The job ledger: what every layer knows about a job, kept in Redis (records and indexes)."""

from connector.ledger.records import (
    BRAND_FIELDS,
    DOMAIN_SEARCH_DEPTH,
    HISTORY_LENGTH,
    QUEUED_ID_PREFIX,
    RESULT_BUCKETS,
    TERMINAL,
    JobEvent,
    JobKind,
    JobRecord,
    JobStatus,
    bare_host,
    is_queued_id,
    iso,
    result_bucket,
)
from connector.ledger.redis_ledger import Ledger, get_ledger

__all__ = [
    "BRAND_FIELDS",
    "DOMAIN_SEARCH_DEPTH",
    "HISTORY_LENGTH",
    "QUEUED_ID_PREFIX",
    "RESULT_BUCKETS",
    "TERMINAL",
    "JobEvent",
    "JobKind",
    "JobRecord",
    "JobStatus",
    "Ledger",
    "bare_host",
    "get_ledger",
    "is_queued_id",
    "iso",
    "result_bucket",
]
