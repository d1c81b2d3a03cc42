"""The five custom resources, defined once; crds/ is generated from here.

Fragments that several kinds share (storage, secret references, pod overrides,
conditions, steps) are built by one function each, so a change lands everywhere.
"""

from __future__ import annotations

from typing import Any

from .. import GROUP, VERSION
from .schema import (
    DNS_SUBDOMAIN,
    DURATION,
    Schema,
    array,
    boolean,
    immutable,
    integer,
    obj,
    quantity_map,
    rule,
    string,
    string_map,
    timestamp,
)

CATEGORY = "bosh-backup"

BACKUP_PHASES = ["Pending", "Running", "Succeeded", "Failed", "Cancelled"]
STEP_STATES = ["Pending", "Running", "Succeeded", "Failed", "Skipped", "Cancelled"]
SHA1 = r"^[0-9a-f]{40}$"
SHA256 = r"^[0-9a-f]{64}$"


# --- shared fragments -------------------------------------------------------


# a URL's explicit port must be one a server can listen on (":0" used to become 25555)
PORT_IN_RANGE = rule("url(self).getPort() == '' || (int(url(self).getPort()) >= 1 && "
                     "int(url(self).getPort()) <= 65535)", "the port must be between 1 and 65535")

# a folder relative to the storage root; CEL refuses "." and ".." segments, so no path
# may climb out of the claim or the prefix
RELATIVE_PATH = r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$"
STAYS_INSIDE = rule("!self.matches('(^|/)[.]{1,2}(/|$)')",
                    "must not contain '.' or '..' segments: a path stays inside the storage root")

def object_ref(description: str) -> Schema:
    return obj(description, {
        "name": string("Name of the object, in the same namespace.", pattern=DNS_SUBDOMAIN,
                       min_length=1),
    }, required=["name"])


def key_ref(description: str, *, default_key: str, kind: str = "Secret") -> Schema:
    return obj(description, {
        "name": string(f"Name of the {kind}, in the same namespace.", pattern=DNS_SUBDOMAIN,
                       min_length=1),
        "key": string(f"Key within the {kind}'s data.", default=default_key,
                      pattern=r"^[-._a-zA-Z0-9]+$"),
    }, required=["name"])


def ca_cert(description: str) -> Schema:
    return obj(description, {
        "secretKeyRef": key_ref("A Secret key holding the PEM-encoded CA certificate.",
                                default_key="ca.crt"),
        "configMapKeyRef": key_ref("A ConfigMap key holding the PEM-encoded CA certificate.",
                                   default_key="ca.crt", kind="ConfigMap"),
    }, rules=[rule("has(self.secretKeyRef) != has(self.configMapKeyRef)",
                   "set exactly one of secretKeyRef or configMapKeyRef")])


# an age X25519 public key (bech32), or an SSH public key as in authorized_keys
AGE_RECIPIENT = r"^(age1[02-9ac-hj-np-z]{58}|(ssh-ed25519|ssh-rsa) [A-Za-z0-9+/]+={0,3}( [^\n]*)?)$"


def encryption(description: str) -> Schema:
    source = obj("A Secret or ConfigMap key holding recipients, one per line, as an age recipients "
                 "file (# comments allowed).", {
        "secretKeyRef": key_ref("A Secret key holding recipients.", default_key="recipients"),
        "configMapKeyRef": key_ref("A ConfigMap key holding recipients.", default_key="recipients",
                                   kind="ConfigMap"),
    }, rules=[rule("has(self.secretKeyRef) != has(self.configMapKeyRef)",
                   "set exactly one of secretKeyRef or configMapKeyRef")])
    return obj(description, {
        "recipients": array("Public keys to encrypt for: age X25519 recipients (age1..., from "
                            "age-keygen) or SSH public keys (ssh-ed25519 or ssh-rsa). Any one of the "
                            "matching private keys decrypts; none is needed to back up.",
                            string("One public key.", pattern=AGE_RECIPIENT, max_length=16384),
                            max_items=32, list_type="atomic"),
        "recipientsFrom": array("Secrets or ConfigMaps holding more recipients, read by the runner pod "
                                "(key rotation without editing this resource).", source, max_items=8,
                                list_type="atomic"),
    }, rules=[rule("(has(self.recipients) && size(self.recipients) > 0) || "
                   "(has(self.recipientsFrom) && size(self.recipientsFrom) > 0)",
                   "name at least one recipient, in recipients or recipientsFrom")])


def storage(description: str) -> Schema:
    pvc = obj("Store artifacts in a folder of a PersistentVolumeClaim (the embedded default).", {
        "claimName": string("Name of the PersistentVolumeClaim, in the same namespace.",
                            pattern=DNS_SUBDOMAIN, min_length=1),
        "prefix": string("Folder inside the volume under which artifacts are laid out as "
                         "<prefix>/<namespace>/<director>/<backup>/.", default="bosh-backups",
                         pattern=RELATIVE_PATH, rules=[STAYS_INSIDE], max_length=200),
    }, required=["claimName"])
    s3 = obj("Store artifacts in an S3-compatible bucket.", {
        "bucket": string("Bucket name; it must exist.", pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                         min_length=3, max_length=63),
        "prefix": string("Key prefix under which artifacts are laid out as "
                         "<prefix>/<namespace>/<director>/<backup>/.", default="bosh-backups",
                         pattern=RELATIVE_PATH, rules=[STAYS_INSIDE], max_length=200),
        "endpoint": string("Endpoint URL of the S3-compatible service, e.g. https://minio.example:9000."
                           " Empty means AWS S3 in the given region.",
                           pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$", max_length=512,
                           rules=[PORT_IN_RANGE]),
        "region": string("Region of the bucket.", default="us-east-1", pattern=r"^[a-z0-9-]+$",
                         max_length=64),
        "forcePathStyle": boolean("Address the bucket as <endpoint>/<bucket> instead of a "
                                  "virtual host; most self-hosted S3 servers need this.",
                                  default=False),
        "credentialsSecretRef": object_ref(
            "Secret holding the keys accessKeyId and secretAccessKey. Its values reach the "
            "runner pod only as secret references, never as literal values."),
        "caCert": ca_cert("CA that signed the endpoint's TLS certificate, when it is not "
                          "publicly trusted."),
    }, required=["bucket", "credentialsSecretRef"], rules=[
        rule("!(has(self.caCert) && has(self.endpoint) && self.endpoint.startsWith('http://'))",
             "caCert goes with an https:// endpoint: over http:// no certificate is checked, and the "
             "storage keys travel in the clear", field_path=".caCert")])
    return obj(description, {"pvc": pvc, "s3": s3},
               rules=[rule("has(self.pvc) != has(self.s3)", "set exactly one of pvc or s3")])


def pod_overrides(description: str) -> Schema:
    toleration = obj("A toleration, as in a Pod spec.", {
        "key": string("Taint key the toleration applies to; empty matches all keys.",
                      max_length=317),
        "operator": string("How key and value are compared.", enum=["Exists", "Equal"]),
        "value": string("Taint value the toleration matches.", max_length=63),
        "effect": string("Taint effect to match; empty matches all effects.",
                         enum=["NoSchedule", "PreferNoSchedule", "NoExecute"]),
        "tolerationSeconds": integer("For NoExecute, how long the pod stays bound after the "
                                     "taint appears.", int64=True),
    })
    return obj(description, {
        "image": string("Runner image (operator, bosh CLI and bbr); defaults to the "
                        "operator's configured runner image.", max_length=512),
        "imagePullPolicy": string("When the kubelet pulls the image.",
                                  enum=["Always", "IfNotPresent", "Never"]),
        "resources": obj("Compute resources of the runner container.", {
            "requests": quantity_map("Minimum resources, e.g. cpu: 100m, memory: 128Mi."),
            "limits": quantity_map("Maximum resources, e.g. memory: 512Mi."),
        }),
        "nodeSelector": string_map("Node labels the runner pod must be scheduled on."),
        "tolerations": array("Tolerations of the runner pod.", toleration, max_items=32,
                             list_type="atomic"),
        "scratch": obj("The runner's scratch volume (an emptyDir), where bbr writes the backup before "
                       "it is stored and a restore puts the artifact before bbr reads it.", {
            "sizeLimit": string("The volume's sizeLimit, e.g. 20Gi: at least the artifact's size plus a "
                                "tenth. The runner measures before writing, and stops a step that would "
                                "pass it with ScratchSpaceExhausted, naming the space it needed, rather "
                                "than be evicted by the kubelet.",
                                pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$",
                                max_length=32),
        }),
        "labels": string_map("Extra labels on the runner pod."),
        "annotations": string_map("Extra annotations on the runner pod."),
    })


def conditions() -> Schema:
    condition = obj("One aspect of the resource's state, in the Kubernetes condition style.", {
        "type": string("Kind of condition, e.g. Ready, Succeeded, Locked.", max_length=316,
                       pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
                               r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"),
        "status": string("Whether the condition holds.", enum=["True", "False", "Unknown"]),
        "reason": string("One CamelCase word for the cause; troubleshooting docs are indexed "
                         "by it.", max_length=1024, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"),
        "message": string("What happened and, for a failure, what to do next.",
                          max_length=32768),
        "lastTransitionTime": timestamp("When the status last changed."),
        "observedGeneration": integer("The .metadata.generation the condition was set "
                                      "for.", minimum=0, int64=True),
    }, required=["type", "status", "lastTransitionTime", "reason", "message"])
    return array("Standard conditions of the resource.", condition, max_items=16,
                 list_type="map", list_map_keys=["type"])


def step_status() -> Schema:
    step = obj("One step of the run.", {
        "name": string("Step name.", max_length=64),
        "state": string("Where the step is.", enum=STEP_STATES),
        "startTime": timestamp("When the step started."),
        "completionTime": timestamp("When the step ended."),
        "message": string("One line about the step: progress while it runs, the tool's "
                          "error line and the next action when it failed.", max_length=4096),
        "percent": integer("Completion of the step, when the tool reports it.", minimum=0,
                           maximum=100),
        "attempts": integer("How many times the step was started (retries resume after the "
                            "last step recorded as done).", minimum=0),
        "itemsDone": integer("Items finished, for steps over a list (uploads).", minimum=0),
        "itemsTotal": integer("Items in the list, for steps over a list.", minimum=0),
        "itemsFailed": integer("Items that failed, for steps over a list.", minimum=0),
    }, required=["name", "state"])
    return array("Every step of the plan, in order, with its state.", step, max_items=32,
                 list_type="map", list_map_keys=["name"])


def progress() -> Schema:
    return obj("Where the run is now.", {
        "step": string("Name of the current (or last) step.", max_length=64),
        "stepIndex": integer("1-based number of the current step.", minimum=0),
        "stepCount": integer("Number of steps in the plan.", minimum=0),
        "bytesDone": integer("Bytes transferred so far, for copy steps.", minimum=0, int64=True),
        "bytesTotal": integer("Bytes to transfer, when known.", minimum=0, int64=True),
        "percent": integer("Completion of the whole run.", minimum=0, maximum=100),
        "summary": string("A short line for `kubectl get`, e.g. \"3/6 Backup 45%\".",
                          max_length=128),
    })


def director_snapshot(description: str) -> Schema:
    return obj(description, {
        "name": string("Director name (bosh env).", max_length=253),
        "uuid": string("Director UUID.", max_length=64),
        "version": string("Director version.", max_length=128),
        "cpi": string("Cloud provider interface.", max_length=128),
    })


def common_status(phases: list[str], extra: dict[str, Schema]) -> Schema:
    fields: dict[str, Schema] = {
        "phase": string("Lifecycle phase of the run.", enum=phases),
        "reason": string("Why the run is in its phase, one CamelCase word.", max_length=128),
        "message": string("Human summary of the phase; for a failure: what failed, why, and "
                          "what to do next.", max_length=32768),
        "observedGeneration": integer("The .metadata.generation last acted upon.", minimum=0,
                                      int64=True),
        "conditions": conditions(),
        "jobName": string("The Job that runs (or ran) the plan.", max_length=253),
        "startTime": timestamp("When the run started."),
        "completionTime": timestamp("When the run ended."),
        "duration": string("How long the run took, e.g. 3m12s.", max_length=32),
        "progress": progress(),
        "steps": step_status(),
        "tools": obj("Versions of the tools this run executed, as each reported itself "
                     "(`bosh --version`, `bbr version`), and of the runner.", {
                         "bosh": string("The bosh CLI (v2).", max_length=64),
                         "boshV1": string("The retired Ruby CLI v1.", max_length=64),
                         "bbr": string("BOSH Backup and Restore.", max_length=64),
                         "runner": string("This operator's runner.", max_length=64)}),
    }
    fields.update(extra)
    return obj("Observed state, written by the operator and its runner.", fields)


def timeout(default: str) -> Schema:
    return string("How long the whole run may take before it is stopped (with cleanup) "
                  "and marked Failed with reason DeadlineExceeded, e.g. 2h or 90m.",
                  pattern=DURATION, default=default, max_length=32,
                  rules=[rule("self != '' && self.matches('[1-9]')",
                              "timeout must be a positive duration such as 2h or 90m")])


# --- Director ---------------------------------------------------------------

def director_schema() -> Schema:
    spec = obj("How to reach one BOSH director, and where its backups go by default.", {
        "url": string("Director API URL, e.g. https://10.0.0.6:25555.",
                      pattern=r"^https://[^\s/?#]+(:[0-9]{1,5})?/?$", max_length=512, rules=[PORT_IN_RANGE]),
        "caCert": ca_cert("CA that signed the director's TLS certificate (the director_ssl "
                          "CA of bosh-deployment)."),
        "credentialsSecretRef": object_ref(
            "Secret with the director's credentials: keys client and clientSecret (a UAA "
            "client), or username and password (basic auth, CLI v1 directors)."),
        "ssh": obj("SSH access to the director VM, which `bbr director` needs.", {
            "host": string("Host name or IP for SSH; defaults to the host of url.",
                           pattern=r"^[A-Za-z0-9.:\[\]-]+$"),
            "port": integer("SSH port.", minimum=1, maximum=65535, default=22),
            "username": string("SSH user (bosh-deployment's jumpbox user by default).",
                               default="jumpbox", pattern=r"^[a-z_][a-z0-9_-]*$", max_length=32),
            "privateKeySecretRef": key_ref("Secret key holding the SSH private key.",
                                           default_key="ssh-privatekey"),
        }, required=["privateKeySecretRef"]),
        "cli": string("Dialect of the director: v2 (bosh CLI v2+, the default) or v1 (a "
                      "director that still serves the retired CLI v1 backup API).",
                      enum=["v2", "v1"], default="v2"),
        "stateFileSecretRef": key_ref(
            "Secret key holding the bosh create-env (bosh-init) state file; backups copy it "
            "so a lost director VM can be recreated from its persistent disk.",
            default_key="state.json"),
        "storage": storage("Default storage for this director's backups."),
        "encryption": encryption("Client-side encryption of this director's backups by default: every "
                                 "stored file but manifest.json is encrypted in the age format, in the "
                                 "runner, before it reaches storage. A backup's own spec.encryption "
                                 "replaces it."),
        "catalog": obj("The catalog of this director's default storage: a DirectorBackupCatalog "
                       "named <director>-storage that lists the artifacts stored there and imports "
                       "those without a DirectorBackup (after a lost cluster, say).", {
            "sync": boolean("Keep the catalog; false deletes it (imported backups stay).", default=True),
            "intervalSeconds": integer("How often the storage is listed.", minimum=10, default=300,
                                       int64=True),
        }, default={}),
    }, required=["url", "credentialsSecretRef"])
    status = obj("What the operator last learned about the director.", {
        "observedGeneration": integer("The .metadata.generation last acted upon.", minimum=0,
                                      int64=True),
        "conditions": conditions(),
        "director": director_snapshot("The director as its last backup saw it (bosh env)."),
        "lastBackup": obj("The most recent backup run, whatever its result.", {
            "name": string("DirectorBackup name.", max_length=253),
            "phase": string("Its phase.", enum=BACKUP_PHASES),
            "time": timestamp("When it ended, or started if still running."),
        }),
        "lastSuccessfulBackup": obj("The most recent backup whose artifact is stored and "
                                    "verified.", {
            "name": string("DirectorBackup name.", max_length=253),
            "time": timestamp("When it completed."),
            "location": string("Where its artifact is stored.", max_length=2048),
        }),
    })
    return {"spec": spec, "status": status}


# --- DirectorBackup ---------------------------------------------------------

def backup_spec_fields(*, for_template: bool) -> dict[str, Schema]:
    """DirectorBackup spec fields; a schedule's template takes all but the director and cancel."""
    fields: dict[str, Schema] = {
        "method": string(
            "bbr: `bbr director backup` (director database, blobstore, credhub and uaa "
            "databases). v1: CLI v1 `bosh backup` (database only; restores then re-upload "
            "stemcells and releases).", enum=["bbr", "v1"], default="bbr"),
        "storage": storage("Where the artifact goes; defaults to the Director's storage."),
        "encryption": encryption("Encrypt the artifact's files for these recipients; defaults to the "
                                 "Director's spec.encryption (none: stored as they are)."),
        "includeStateFile": boolean("Also store the Director's create-env state file, when it "
                                    "has one.", default=True),
        "deletionPolicy": string("Delete: deleting this resource deletes its artifact. "
                                 "Retain: the artifact outlives the resource.",
                                 enum=["Delete", "Retain"], default="Retain"),
        "timeout": timeout("2h"),
        "pod": pod_overrides("Overrides for the runner pod."),
    }
    if not for_template:
        fields["directorRef"] = object_ref("The Director to back up.")
        fields["cancel"] = boolean(
            "Set to true to stop a pending or running backup: the pod is stopped, bbr's "
            "cleanup runs, no artifact is kept, and the phase becomes Cancelled.",
            default=False,
            rules=[rule("self || !oldSelf", "cancel cannot be undone once set")])
    return dict(sorted(fields.items()))


# A backup's spec is what it ran with: only cancel and deletionPolicy may change once it
# exists. A rule on the spec, not on each field, so adding a field that was unset is refused too.
BACKUP_SPEC_FIXED = ("directorRef", "method", "storage", "encryption", "includeStateFile", "timeout", "pod")
BACKUP_SPEC_UNCHANGED = rule(
    " && ".join(f"has(self.{f}) == has(oldSelf.{f}) && (!has(self.{f}) || self.{f} == oldSelf.{f})"
                for f in BACKUP_SPEC_FIXED),
    "only spec.cancel and spec.deletionPolicy can change once a DirectorBackup exists; create a new "
    "DirectorBackup to back up with other settings")


def backup_schema() -> Schema:
    spec = obj("One backup run of a director; its spec is fixed once created, but for cancel and "
               "deletionPolicy.", backup_spec_fields(for_template=False),
               required=["directorRef"], rules=[BACKUP_SPEC_UNCHANGED])
    file_entry = obj("One stored file.", {
        "name": string("Path relative to the artifact's folder.", max_length=1024),
        "size": integer("Size in bytes.", minimum=0, int64=True),
        "sha256": string("SHA-256 of the stored bytes, verified after upload.", pattern=SHA256,
                         max_length=64),
        "plaintext": obj("For an encrypted file (<name>.age): the file it decrypts to.", {
            "name": string("Its name in the artifact, e.g. bbr/<tar>.", max_length=1024),
            "size": integer("Size in bytes.", minimum=0, int64=True),
            "sha256": string("SHA-256 of the plaintext, checked after decryption.", pattern=SHA256,
                             max_length=64),
        }),
    }, required=["name", "size", "sha256"])
    status = common_status(BACKUP_PHASES, {
        "artifact": obj("The stored artifact; set only once every checksum verified.", {
            "location": string("URL of the artifact's folder: pvc://<claim>/<path> or "
                               "s3://<bucket>/<key>.", max_length=2048),
            "path": string("Folder relative to the storage root, for DirectorRestore "
                           "source.path.", max_length=1024),
            "storage": storage("The storage the artifact went to, as the run resolved it (the "
                               "backup's or its Director's at the time); restores and deletion read "
                               "it from here, whatever the specs say later."),
            "files": array("Every stored file.", file_entry, max_items=64, list_type="atomic"),
            "encryption": obj("Set when the files are encrypted.", {
                "format": string("The encryption format.", max_length=64),
                "recipients": array("Who can decrypt: age public keys, and SSH keys by type, "
                                    "SHA256 fingerprint and comment.",
                                    string("One recipient.", max_length=16384), max_items=64,
                                    list_type="atomic"),
            }),
            "totalSize": integer("Sum of the files' sizes in bytes.", minimum=0, int64=True),
            "size": string("totalSize for people, e.g. 1.2 GiB.", max_length=32),
        }),
        "verification": obj("The latest check that the stored artifact is still good (annotate "
                            "bosh-backup.dev/verify-now with a new value to run one): every file read back "
                            "and its sha256 recomputed, encrypted files checked as stored (or decrypted "
                            "and checked in full when bosh-backup.dev/verify-identity names a Secret with "
                            "the private key), and every file in bbr's tars against bbr's metadata.", {
            "requested": string("The verify-now value this verification answers.", max_length=253),
            "startTime": timestamp("When it started."),
            "time": timestamp("When it ended."),
            "result": string("Running; Passed; Failed: the artifact is damaged (problems name each "
                             "file), and retention counts the backup as a failure; or Error: it could "
                             "not be checked (storage unreachable, a bad identity), which says nothing "
                             "about the artifact.", enum=["Running", "Passed", "Failed", "Error"]),
            "filesChecked": integer("Stored files read back and checked.", minimum=0),
            "bytesChecked": integer("Bytes read back.", minimum=0, int64=True),
            "tarsChecked": integer("bbr tars whose files were checked against bbr's metadata.", minimum=0),
            "decrypted": boolean("Encrypted files were decrypted and their plaintexts checked too."),
            "problems": array("What is wrong, each naming the file (the first few).",
                              string("One problem.", max_length=1024), max_items=20, list_type="atomic"),
            "problemCount": integer("How many problems were found in all.", minimum=0),
            "jobName": string("The Job running it.", max_length=253),
            "lastVerdict": string("The latest conclusive result, Passed or Failed, kept while a "
                                  "later check runs or ends in Error: what retention acts on.",
                                  enum=["Passed", "Failed"]),
            "lastPassedTime": timestamp("When a verification of this backup last passed, kept across "
                                        "later verifications."),
        }),
        "director": director_snapshot("The director at backup time (bosh env)."),
        "inventory": obj("What the director held at backup time; the full list, with "
                         "source URLs and sha1s, is in the stored manifest.json.", {
            "stemcells": integer("Number of stemcells.", minimum=0),
            "releases": integer("Number of releases.", minimum=0),
            "deployments": integer("Number of deployments.", minimum=0),
        }),
    })
    return {"spec": spec, "status": status}


# --- DirectorRestore --------------------------------------------------------

def restore_schema() -> Schema:
    source_override = obj("Where to download one stemcell or release from.", {
        "kind": string("What it is.", enum=["Stemcell", "Release"]),
        "name": string("Its name as `bosh stemcells` / `bosh releases` show it.",
                       max_length=253),
        "version": string("Its version.", max_length=128),
        "url": string("Download URL.", pattern=r"^(https?|file)://\S+$", max_length=2048),
        "sha1": string("Expected SHA-1 (bosh upload-* --sha1).", pattern=SHA1, max_length=40),
    }, required=["kind", "name", "version", "url"])
    spec = obj("A whole disaster-recovery run onto a fresh director: the BOSH docs' "
               "procedure, step by step. Immutable once created; it runs at most once.", {
        "directorRef": object_ref("The (fresh) Director to restore into."),
        "source": obj("The backup to restore.", {
            "backupRef": object_ref("A DirectorBackup in this namespace; it must have "
                                    "Succeeded."),
            "path": string("Folder of an artifact relative to the storage root (a "
                           "DirectorBackup's status.artifact.path), for when no "
                           "DirectorBackup resource exists any more.", max_length=1024,
                           pattern=RELATIVE_PATH, rules=[STAYS_INSIDE]),
            "storage": storage("Storage that holds path; defaults to the Director's storage."),
        }, rules=[
            rule("has(self.backupRef) != has(self.path)",
                 "set exactly one of source.backupRef or source.path"),
            rule("!has(self.storage) || has(self.path)",
                 "source.storage goes with source.path"),
        ]),
        "identitySecretRef": key_ref(
            "Secret key holding the private key that decrypts an encrypted backup: age identities "
            "(AGE-SECRET-KEY-1..., as age-keygen writes them; several lines for several keys) or an "
            "unencrypted OpenSSH private key. It reaches the runner pod as a mounted Secret only.",
            default_key="identity"),
        "force": boolean("Restore even if the target director already has deployments "
                         "(they are replaced).", default=False),
        "reupload": obj("Re-upload of stemcells and releases whose blobs the restored "
                        "database expects (bosh upload-* --fix).", {
            "stemcells": boolean("Re-upload stemcells.", default=True),
            "releases": boolean("Re-upload releases.", default=True),
            "when": string("Needed: upload only what the restored director lacks. After a bbr "
                           "restore that is nothing (bbr brought the blobstore back with the "
                           "database); after a v1 restore (the database only) it is every stemcell "
                           "and release, and one with no source fails the step naming what to "
                           "provide. Always: upload every stemcell and release that has a source, "
                           "with --fix.", enum=["Needed", "Always"], default="Needed"),
            "stemcellUrlPattern": string(
                "URL for a stemcell missing a source, with {name} and {version}, e.g. "
                "https://bosh.io/d/stemcells/{name}?v={version}.", max_length=1024),
            "releaseUrlPattern": string(
                "URL for a release missing a source, with {name} and {version}.",
                max_length=1024),
            "sources": array("Explicit sources; they win over the backup's manifest.",
                             source_override, max_items=200, list_type="atomic"),
        }, default={}),
        "cloudCheck": string("bosh cloud-check after the restore: report (list problems), "
                             "auto (resolve them), or skip.", enum=["report", "auto", "skip"],
                             default="report"),
        "verifyInstances": boolean("Run `bosh instances --ps` and summarise processes.",
                                   default=True),
        "timeout": timeout("4h"),
        "pod": pod_overrides("Overrides for the runner pod."),
    }, required=["directorRef", "source"])
    immutable(spec, "spec of a DirectorRestore (create a new one to restore again)")
    status = common_status(BACKUP_PHASES, {
        "source": obj("The artifact being restored.", {
            "backup": string("DirectorBackup name, when restoring from one.", max_length=253),
            "location": string("Artifact folder URL.", max_length=2048),
            "method": string("How the artifact was made.", enum=["bbr", "v1"]),
        }),
        "databaseInPlace": boolean("The director already held this backup's database (the same "
                                   "UUID and deployments, e.g. after an earlier restore whose uploads "
                                   "failed): RestoreDatabase was skipped and the restore went on after it."),
        "summary": obj("Counts over the whole restore.", {
            "stemcellsUploaded": integer("Stemcells re-uploaded.", minimum=0),
            "releasesUploaded": integer("Releases re-uploaded.", minimum=0),
            "uploadsFailed": integer("Uploads that failed.", minimum=0),
            "uploadsNotNeeded": integer("Stemcells and releases left as the restore brought them "
                                        "back, because the director did not lack them.", minimum=0),
            "problemsFound": integer("Problems cloud-check found.", minimum=0),
            "problemsResolved": integer("Problems cloud-check resolved.", minimum=0),
            "processesRunning": integer("Processes running after restore.", minimum=0),
            "processesFailing": integer("Processes not running after restore.", minimum=0),
        }),
        "problems": array("Problems cloud-check reported or resolved.",
                          string("One problem.", max_length=1024), max_items=200,
                          list_type="atomic"),
        "failing": array("Instances or processes not running, and uploads that failed, "
                         "by name.", string("One item.", max_length=1024), max_items=200,
                         list_type="atomic"),
        "uploaded": array("Stemcells and releases re-uploaded so far, as kind:name/version; a "
                          "resumed restore skips them.", string("One item.", max_length=512),
                          max_items=500, list_type="atomic"),
    })
    return {"spec": spec, "status": status}


# --- DirectorBackupSchedule -------------------------------------------------

CRON_MACROS = r"@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@(weekly|daily|hourly)-random"


def _cron_field(value: str) -> str:
    """One cron field: a list of *, values or ranges, each with an optional /step."""
    item = rf"(\*|{value}(-{value})?)(/[1-9][0-9]?)?"
    return rf"{item}(,{item})*"


MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
WEEKDAYS = "SUN|MON|TUE|WED|THU|FRI|SAT"
CRON_FIELDS = [_cron_field(r"([0-5]?[0-9])"), _cron_field(r"([01]?[0-9]|2[0-3])"),
               _cron_field(r"(0?[1-9]|[12][0-9]|3[01])"), _cron_field(rf"(0?[1-9]|1[0-2]|{MONTHS})"),
               _cron_field(rf"([0-7]|{WEEKDAYS})")]
CRON = rf"^((?i:{' +'.join(CRON_FIELDS)})|{CRON_MACROS})$"  # names of months and days in any case


def schedule_schema() -> Schema:
    spec = obj("Backups of one director on a schedule, with retention; safe to keep in git.", {
        "directorRef": object_ref("The Director to back up."),
        "schedule": string("When to back up: 5-field cron (minute hour day month weekday), "
                           "@hourly/@daily/@weekly/@monthly, or @hourly-random/@daily-random/"
                           "@weekly-random for a stable time picked from this schedule's "
                           "namespace and name.", max_length=128, rules=[rule(
                               f"self.matches(r'{CRON}')",
                               "must be 5 cron fields: minute 0-59, hour 0-23, day 1-31, month 1-12 or "
                               "JAN-DEC, weekday 0-7 or SUN-SAT (each *, a value, a range, a list, with "
                               "an optional /step), or @hourly, @daily, @weekly, @monthly, @yearly, "
                               "@hourly-random, @daily-random, @weekly-random")]),
        "timeZone": string("IANA time zone the schedule and retention days are read in.",
                           default="UTC", pattern=r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$",
                           max_length=64),
        "suspend": boolean("Stop creating backups; unsuspending does not run missed ones.",
                           default=False),
        "concurrencyPolicy": string(
            "When a backup of this schedule is still active at fire time: Forbid skips the "
            "new one, Replace cancels the active one, Allow queues behind the director lock.",
            enum=["Forbid", "Replace", "Allow"], default="Forbid"),
        "startingDeadlineSeconds": integer(
            "A missed run starts late only within this many seconds of its time; at most one "
            "missed run is caught up. At least 10: a fire may be seen a few seconds after its "
            "time, and a smaller deadline would skip it.", minimum=10, default=3600, int64=True),
        "backupTemplate": obj("The DirectorBackups this schedule creates.", {
            "metadata": obj("Labels and annotations for the created backups.", {
                "labels": string_map("Labels to add."),
                "annotations": string_map("Annotations to add."),
            }),
            "spec": obj("DirectorBackup spec, without directorRef and cancel.",
                        backup_spec_fields(for_template=True)),
        }, default={}),
        "retention": obj("Which successful backups to keep (grandfather-father-son, in "
                         "timeZone). The newest successful backup is always kept. With no keep* "
                         "above 0 (or no retention at all), every successful backup is kept: "
                         "status.effectiveRetention says which policy is in force.", {
            "keepLast": integer("Keep the newest N successful backups.", minimum=0),
            "keepDaily": integer("Keep the newest successful backup of each of the last N "
                                 "days that have one.", minimum=0),
            "keepWeekly": integer("Likewise per ISO week.", minimum=0),
            "keepMonthly": integer("Likewise per month.", minimum=0),
        }),
        "failedBackupsHistoryLimit": integer("Failed or cancelled backups, and backups a verification "
                                             "found damaged, kept for inspection.", minimum=0, default=3),
        "deleteBackupsWithSchedule": boolean(
            "Delete this schedule's backups when the schedule is deleted. Off by default, so "
            "a GitOps prune of a schedule never wipes its backups.", default=False),
        "verify": obj("Read this schedule's stored backups back and check them, on a schedule of "
                      "their own: at each time, every Succeeded backup of the schedule (those "
                      "retention kept) is verified as by bosh-backup.dev/verify-now. The annotation "
                      "bosh-backup.dev/verify-now on the schedule verifies them all at once.", {
            "schedule": string("When: 5-field cron or a macro as spec.schedule; @weekly-random picks "
                               "a stable time, apart from the backups' own.", max_length=128,
                               rules=[rule(f"self.matches(r'{CRON}')",
                                           "must be 5 cron fields or a macro, as spec.schedule")]),
            "identitySecretRef": key_ref(
                "The private key (age identity, or an unencrypted OpenSSH key) to decrypt encrypted "
                "backups with, so that their plaintexts and tars are checked too. Without it, "
                "encrypted files are checked as stored, and no private key is needed.",
                default_key="identity"),
            "maxAge": string("How long this schedule may go without a backup that verification found "
                             "good before status.verification.deadline passes and the "
                             "BoshDirectorBackupUnverified alert fires, e.g. 8d or 36h. Default: twice "
                             "the time between two verifications.", pattern=DURATION, max_length=32,
                             rules=[rule("self.matches('[1-9]')", "maxAge must be a positive duration "
                                         "such as 8d or 36h")]),
        }, required=["schedule"]),
    }, required=["directorRef", "schedule"])
    status = obj("Observed state of the schedule.", {
        "observedGeneration": integer("The .metadata.generation last acted upon.", minimum=0,
                                      int64=True),
        "conditions": conditions(),
        "effectiveRetention": string("The retention in force, in words, e.g. \"keeps the newest 3, "
                                     "and always the newest successful backup; 3 failed, cancelled or found damaged\".",
                                     max_length=512),
        "effectiveSchedule": string("The cron expression in force (random forms resolved).",
                                    max_length=128),
        "lastScheduleTime": timestamp("Scheduled time of the most recent backup created."),
        "nextScheduleTime": timestamp("When the next backup is due."),
        "lastSuccessfulTime": timestamp("Completion time of the newest successful backup."),
        "lastBackup": obj("The most recent backup of this schedule.", {
            "name": string("DirectorBackup name.", max_length=253),
            "phase": string("Its phase.", enum=BACKUP_PHASES),
        }),
        "active": array("Backups of this schedule still pending or running.",
                        string("DirectorBackup name.", max_length=253), max_items=100,
                        list_type="atomic"),
        "lastRunNow": string("The value of the bosh-backup.dev/run-now annotation last acted upon.",
                             max_length=253),
        "lastSkipped": obj("The most recent fire time that did not create a backup.", {
            "time": timestamp("The scheduled time."),
            "reason": string("Why, e.g. ConcurrencyForbid or MissedDeadline.", max_length=128),
        }),
        "verification": obj("Verification of this schedule's backups (spec.verify).", {
            "effectiveSchedule": string("The cron expression in force (random forms resolved).",
                                        max_length=128),
            "lastScheduleTime": timestamp("The most recent time its backups were sent to verification."),
            "nextScheduleTime": timestamp("When they are next verified."),
            "lastRunNow": string("The value of the schedule's bosh-backup.dev/verify-now annotation last "
                                 "acted upon.", max_length=253),
            "lastPassedTime": timestamp("The newest verification that found one of the schedule's "
                                        "backups good."),
            "deadline": timestamp("When the schedule has gone maxAge without a backup found good "
                                  "(since its oldest good backup, if none was ever verified): the "
                                  "BoshDirectorBackupUnverified alert fires after it."),
            "passed": integer("Succeeded backups whose latest verification passed.", minimum=0),
            "failed": integer("Succeeded backups whose latest verification found damage.", minimum=0),
            "unverified": integer("Succeeded backups not yet verified, or whose latest check could "
                                  "not finish.", minimum=0),
        }),
    })
    return {"spec": spec, "status": status}


# --- DirectorBackupCatalog -----------------------------------------------------

CATALOG_FORMS = ["operator", "bbr-folder", "bbr-tar", "incomplete"]


def catalog_schema() -> Schema:
    spec = obj("Artifacts in one storage folder, each made a DirectorBackup (imported) when none "
               "exists for it, so that the history and restores by backupRef survive a lost cluster.", {
        "directorRef": object_ref("The Director the artifacts belong to; imported backups name it."),
        "storage": storage("The storage to list; defaults to the Director's storage."),
        "path": string("Folder to list, relative to the storage root; defaults to "
                       "<prefix>/<namespace>/<director>, where this operator stores the Director's "
                       "backups. A folder of plain `bbr director backup` artifacts works too.",
                       pattern=RELATIVE_PATH, rules=[STAYS_INSIDE], max_length=1024),
        "intervalSeconds": integer("How often the storage is listed.", minimum=10, default=300, int64=True),
        "suspend": boolean("Stop listing; imported backups stay.", default=False),
        "retention": obj("Imported backups are left alone by retention unless a schedule is named "
                         "here: that schedule's retention then counts and prunes them like its own.", {
            "scheduleRef": object_ref("The DirectorBackupSchedule whose retention applies."),
        }),
        "pod": pod_overrides("Overrides for the listing pod."),
    }, required=["directorRef"])
    entry = obj("One artifact, or one folder that is not a whole artifact.", {
        "path": string("Relative to the listed folder.", max_length=1024),
        "form": string("operator (manifest.json), bbr-folder (bbr's metadata), bbr-tar, or "
                       "incomplete.", enum=CATALOG_FORMS),
        "reason": string("For an incomplete one: why it cannot be restored.", max_length=1024),
        "size": integer("Bytes stored.", minimum=0, int64=True),
        "files": integer("Files stored.", minimum=0),
        "location": string("pvc:// or s3:// URL.", max_length=2048),
        "storagePath": string("Path relative to the storage root (a restore's source.path).",
                              max_length=2048),
        "backup": string("The DirectorBackup that made it, per its manifest.json.", max_length=253),
        "namespace": string("That DirectorBackup's namespace.", max_length=63),
        "method": string("bbr or v1.", enum=["bbr", "v1"]),
        "completionTime": timestamp("When the backup completed."),
        "director": obj("The director backed up, per the manifest.", {
            "name": string("Director name (bosh env).", max_length=253),
            "uuid": string("Director UUID.", max_length=64),
        }),
    }, required=["path", "form"])
    status = obj("What the last listing found.", {
        "observedGeneration": integer("The .metadata.generation last acted upon.", minimum=0,
                                      int64=True),
        "conditions": conditions(),
        "location": string("The folder listed, as a pvc:// or s3:// URL.", max_length=2048),
        "jobName": string("The Job listing the storage now, if any.", max_length=253),
        "lastSyncTime": timestamp("When the storage was last listed completely."),
        "nextSyncTime": timestamp("When it is listed next."),
        "complete": integer("Complete artifacts found.", minimum=0),
        "incomplete": integer("Folders that are not whole artifacts.", minimum=0),
        "imported": integer("DirectorBackups created by the last listing.", minimum=0),
        "held": array("Storage paths a DirectorBackup pointed at in the last listing.",
                      string("A path.", max_length=2048), max_items=2000, list_type="atomic"),
        "released": array("Storage paths whose DirectorBackup was deleted (by a person or by "
                          "retention): they are not imported again. Delete the catalog to forget them.",
                          string("A path.", max_length=2048), max_items=2000, list_type="atomic"),
        "lastSyncRequest": string("The value of the bosh-backup.dev/sync-now annotation last acted upon.",
                                  max_length=253),
        "artifacts": array("What the last listing found, by path.", entry, max_items=2000,
                           list_type="atomic"),
        "progress": progress(),
        "steps": step_status(),
    })
    return {"spec": spec, "status": status}


# --- CRD assembly -----------------------------------------------------------

def _column(name: str, json_path: str, *, kind: str = "string", description: str,
            priority: int = 0) -> dict[str, Any]:
    column: dict[str, Any] = {"name": name, "type": kind, "jsonPath": json_path,
                              "description": description}
    if priority:
        column["priority"] = priority
    return column


AGE = _column("Age", ".metadata.creationTimestamp", kind="date", description="Age.")

KINDS: list[dict[str, Any]] = [
    {
        "kind": "Director", "plural": "directors", "short": ["bdir"],
        "description": "A BOSH director the operator can back up and restore into.",
        "schema": director_schema,
        "columns": [
            _column("URL", ".spec.url", description="Director URL."),
            _column("CLI", ".spec.cli", description="Director dialect."),
            _column("Ready", ".status.conditions[?(@.type==\"Ready\")].status",
                    description="Whether everything the Director references exists."),
            _column("Last-Success", ".status.lastSuccessfulBackup.time", kind="date",
                    description="When the last successful backup completed."),
            AGE,
            _column("Message", ".status.conditions[?(@.type==\"Ready\")].message",
                    description="Why it is not ready.", priority=1),
        ],
    },
    {
        "kind": "DirectorBackup", "plural": "directorbackups", "short": ["dbk"],
        "description": "One backup run of a BOSH director.",
        "schema": backup_schema,
        "columns": [
            _column("Director", ".spec.directorRef.name", description="Director backed up."),
            _column("Method", ".spec.method", description="bbr or v1."),
            _column("Phase", ".status.phase", description="Lifecycle phase."),
            _column("Progress", ".status.progress.summary", description="Current step."),
            _column("Size", ".status.artifact.size", description="Stored size."),
            _column("Verified", ".status.verification.result", description="Latest read-back check.", priority=1),
            AGE,
            _column("Message", ".status.message", description="Summary.", priority=1),
        ],
    },
    {
        "kind": "DirectorRestore", "plural": "directorrestores", "short": ["drs"],
        "description": "A restore of a director backup onto a fresh director, with re-upload "
                       "of stemcells and releases, cloud-check and instance verification.",
        "schema": restore_schema,
        "columns": [
            _column("Director", ".spec.directorRef.name", description="Director restored into."),
            _column("Backup", ".spec.source.backupRef.name", description="Backup restored (empty for "
                    "source.path)."),
            _column("Phase", ".status.phase", description="Lifecycle phase."),
            _column("Progress", ".status.progress.summary", description="Current step."),
            AGE,
            _column("Message", ".status.message", description="Summary.", priority=1),
        ],
    },
    {
        "kind": "DirectorBackupSchedule", "plural": "directorbackupschedules", "short": ["dbs"],
        "description": "Scheduled backups of a director, with retention.",
        "schema": schedule_schema,
        "columns": [
            _column("Director", ".spec.directorRef.name", description="Director backed up."),
            _column("Schedule", ".status.effectiveSchedule", description="Cron in force."),
            _column("Suspend", ".spec.suspend", kind="boolean", description="Suspended."),
            # the last backup made (a skipped time is in status.lastSkipped, not here)
            _column("Last-Backup", ".status.lastBackup.name", description="Last backup created."),
            _column("Last-Phase", ".status.lastBackup.phase", description="Its phase."),
            # a string: kubectl shows a date column in the future as <invalid>
            _column("Next", ".status.nextScheduleTime", description="Next backup due (UTC)."),
            AGE,
        ],
    },
    {
        "kind": "DirectorBackupCatalog", "plural": "directorbackupcatalogs", "short": ["dbc"],
        "description": "The backups in one storage folder, imported as DirectorBackups.",
        "schema": catalog_schema,
        "columns": [
            _column("Director", ".spec.directorRef.name", description="Director the artifacts belong to."),
            _column("Location", ".status.location", description="Folder listed."),
            _column("Complete", ".status.complete", kind="integer", description="Complete artifacts."),
            _column("Incomplete", ".status.incomplete", kind="integer", description="Incomplete folders."),
            _column("Synced", ".status.conditions[?(@.type==\"Synced\")].status",
                    description="Whether the last listing worked."),
            _column("Last-Sync", ".status.lastSyncTime", kind="date", description="Last complete listing."),
            AGE,
            _column("Message", ".status.conditions[?(@.type==\"Synced\")].message",
                    description="What the last listing found, or why it failed.", priority=1),
        ],
    },
]


def crd(entry: dict[str, Any]) -> dict[str, Any]:
    parts = entry["schema"]()
    kind, plural = entry["kind"], entry["plural"]
    root = {
        "type": "object",
        "description": entry["description"],
        "properties": {
            "apiVersion": {"type": "string", "description": "API version of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            # the apiserver allows nothing but the type here
            "metadata": {"type": "object"},
            "spec": parts["spec"],
            "status": parts["status"],
        },
        "required": ["spec"],
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}",
                     "labels": {"app.kubernetes.io/part-of": "bosh-backup-operator"}},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural,
                      "singular": kind.lower(), "shortNames": entry["short"],
                      "categories": [CATEGORY]},
            "versions": [{
                "name": VERSION, "served": True, "storage": True,
                "schema": {"openAPIV3Schema": root},
                "subresources": {"status": {}},
                "additionalPrinterColumns": entry["columns"],
            }],
        },
    }


def all_crds() -> list[dict[str, Any]]:
    return [crd(entry) for entry in KINDS]
