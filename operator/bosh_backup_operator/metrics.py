"""Prometheus metrics on the operator's /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

RUNS = Counter("bosh_backup_runs_total", "Finished backup and restore runs, by kind and result",
               ["kind", "namespace", "director", "result"])
DURATION = Histogram("bosh_backup_run_duration_seconds", "Duration of finished runs", ["kind"],
                     buckets=(30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400))
LAST_SUCCESS = Gauge("bosh_backup_last_success_timestamp_seconds",
                     "Completion time of the newest successful backup of a director", ["namespace", "director"])
LAST_VERIFIED = Gauge("bosh_backup_last_verified_timestamp_seconds",
                      "When a stored backup of a director was last read back and found good", ["namespace", "director"])
VERIFICATION_FAILURES = Counter("bosh_backup_verification_failures_total",
                                "Verifications that found a stored backup changed, cut short, missing or unreadable",
                                ["namespace", "director"])
VERIFICATION_DEADLINE = Gauge("bosh_backup_verification_deadline_timestamp_seconds",
                              "When a schedule with a verify policy will have gone its maxAge without a backup "
                              "that verification found good", ["namespace", "schedule", "director"])
ARTIFACT_BYTES = Gauge("bosh_backup_artifact_bytes", "Size of the newest successful backup of a director",
                       ["namespace", "director"])


def deadline_labels() -> list[tuple[str, ...]]:
    """The label values VERIFICATION_DEADLINE holds now."""
    return [tuple(sample.labels[name] for name in ("namespace", "schedule", "director"))
            for family in VERIFICATION_DEADLINE.collect() for sample in family.samples]


def serve(port: int) -> None:
    if port:
        start_http_server(port)
