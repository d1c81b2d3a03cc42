"""Label values derived from users' names, within Kubernetes' limits.

Object names may be 253 characters long; a label value holds 63. A longer name becomes
its first characters and a hash of the whole, so it stays unique and readable; the
full name then travels in an annotation beside the label.
"""

from __future__ import annotations

import hashlib

LABEL_VALUE_MAX = 63
HASH_LENGTH = 10


def label_value(name: str) -> str:
    """`name` itself when it fits a label value, else a prefix and a hash of it."""
    if len(name) <= LABEL_VALUE_MAX:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:HASH_LENGTH]
    head = name[:LABEL_VALUE_MAX - HASH_LENGTH - 1].rstrip("-._")
    return f"{head}-{digest}"
