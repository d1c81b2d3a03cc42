"""A Kubernetes operator that backs up and restores BOSH directors."""

GROUP = "bosh-backup.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

__version__ = "0.1.0"
