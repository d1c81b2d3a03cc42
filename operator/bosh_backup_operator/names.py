"""Names and label values derived from users' names, within Kubernetes' limits.

Object names may be 253 characters long; a label value holds 63. A longer name becomes
its first characters and a hash of the whole, so it stays unique and readable; the
full name then travels in an annotation beside the label.
"""

from __future__ import annotations

import hashlib

LABEL_VALUE_MAX = 63
HASH_LENGTH = 10


def fit(name: str, limit: int, *, suffix: str = "", hash_length: int = HASH_LENGTH) -> str:
    """`name` (then `-suffix`) within `limit` characters. A longer name keeps its start and
    gains a hash of the whole; the start never ends on '-', '.' or '_', where no valid
    name or label part may end."""
    tail = f"-{suffix}" if suffix else ""
    if len(name) + len(tail) <= limit:
        return name + tail
    digest = hashlib.sha256(name.encode()).hexdigest()[:hash_length]
    head = name[:limit - len(tail) - hash_length - 1].rstrip("-._")
    return f"{head}-{digest}{tail}"


def label_value(name: str) -> str:
    """`name` itself when it fits a label value, else a prefix and a hash of it."""
    return fit(name, LABEL_VALUE_MAX)
