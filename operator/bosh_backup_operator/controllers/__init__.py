"""One controller per kind: the logic that kopf handlers call."""
