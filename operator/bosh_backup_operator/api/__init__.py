"""The custom resources' API: schemas (the one source of truth for crds/)."""
