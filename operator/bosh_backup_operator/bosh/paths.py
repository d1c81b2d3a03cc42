"""Where things are inside the runner pod; jobs.py mounts them, plans refer to them."""

WORK = "/var/lib/bosh-backup/work"      # emptyDir: bbr's artifact, scratch, the working dir
TMP = "/var/lib/bosh-backup/tmp"        # emptyDir: TMPDIR (the root file system is read-only)
ARTIFACT = f"{WORK}/artifact"           # where the tool writes the backup before it is stored
CA_CERT = "/bosh/ca/ca.crt"             # the director's CA (Secret or ConfigMap key)
SSH_KEY = "/bosh/ssh/private-key"       # bbr's SSH private key (Secret key)
STATE_FILE = "/bosh/state/state.json"   # the create-env state file (Secret key)
STORAGE = "/storage"                    # the PersistentVolumeClaim, for pvc storage
S3_CA_CERT = "/bosh/s3-ca/ca.crt"       # the S3 endpoint's CA
RECIPIENTS = "/bosh/recipients"         # <n>/recipients: each spec.encryption.recipientsFrom key
IDENTITY = "/bosh/identity/identity"    # a restore's private key (spec.identitySecretRef)
V1_CONFIG = f"{WORK}/.bosh_config"      # bosh v1's target and settings
