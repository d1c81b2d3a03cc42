"""A playground to try the operator by hand: `bash hack/playground.sh`.

A local control plane with the operator; a simulated BOSH director "prod" (three
deployments, reached by the real bosh CLI and, over real SSH, the real bbr) registered
as a Director in namespace `bosh`, backing up to a PersistentVolumeClaim by default;
an S3 server with a bucket and a Secret for its keys; and a mirror of the director's
stemcells and releases for restores. Everything stays up until a signal (Ctrl-C,
SIGTERM, SIGHUP), then everything that was started is stopped.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from boshsim.fixtures import ArtifactServer, SimulatedDirector, install_clis, seed
from boshsim.k8s import register, s3_storage

from .env import Harness, wait_forever
from .pki import CertificateAuthority
from .s3 import S3Server

NS = "bosh"
DEFAULT_WORKDIR = Path("/tmp/bosh-backup-playground")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.playground", description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    harness = Harness(args.workdir / "cluster", operator_env={"BOSH_BACKUP_SAFETY_NET_SECONDS": "3"})
    s3 = S3Server(args.workdir / "s3")
    director: SimulatedDirector | None = None
    mirror: ArtifactServer | None = None
    try:
        print("Starting the control plane, the node agent and the operator ...", flush=True)
        harness.start()
        harness.create_namespace(NS)
        print("Starting a simulated BOSH director (API over HTTPS, its VM's sshd) and an S3 server ...", flush=True)
        s3.start()
        bucket = s3.bucket("director-backups")
        ca = CertificateAuthority(args.workdir / "director-ca", common_name="director-ca")
        director = SimulatedDirector(args.workdir / "director", args.workdir / "iaas.json", ca, name="prod").start()
        mirror = ArtifactServer(args.workdir / "mirror")
        seed(director, mirror, install_clis(args.workdir / "tools"))
        register(harness, NS, director, "prod")
        storage = s3_storage(harness, s3, NS, bucket)
        url = f"http://127.0.0.1:{mirror.port}/{{name}}-{{version}}.tgz"
        print(f"""
The playground is up.

  export KUBECONFIG={harness.plane.admin_kubeconfig}
  export PATH={harness.plane.bin_dir}:$PATH

  kubectl get bdir,dbk,drs,dbs -n {NS}           # Director "prod" is Ready
  kubectl apply -n {NS} -f - <<'EOF'              # a backup to the claim "backups"
  {{apiVersion: bosh-backup.dev/v1alpha1, kind: DirectorBackup,
   metadata: {{name: first}}, spec: {{directorRef: {{name: prod}}}}}}
  EOF
  kubectl get dbk -n {NS} -w
  kubectl apply -n {NS} -f - <<'EOF'              # the same director, to S3
  {{apiVersion: bosh-backup.dev/v1alpha1, kind: DirectorBackup, metadata: {{name: to-s3}},
   spec: {{directorRef: {{name: prod}}, storage: {{s3: {{bucket: {bucket}, endpoint: "{s3.endpoint}",
     forcePathStyle: true, credentialsSecretRef: {{name: {storage['s3']['credentialsSecretRef']['name']}}}}}}}}}}}
  EOF
  kubectl apply -n {NS} -f - <<'EOF'              # restore it (the director has deployments: force)
  {{apiVersion: bosh-backup.dev/v1alpha1, kind: DirectorRestore, metadata: {{name: again}},
   spec: {{directorRef: {{name: prod}}, source: {{backupRef: {{name: first}}}}, force: true,
     reupload: {{stemcellUrlPattern: "{url}", releaseUrlPattern: "{url}"}}}}}}
  EOF

The director's API: {director.url} (CA {ca.cert_path}); its VM's sshd: {director.ssh_host}
Runner pods' output: {harness.node_root / 'logs'}; components' logs: {harness.plane.logs}
Stop with Ctrl-C (or SIGTERM): everything started here stops with it.
""", flush=True)
        wait_forever(harness, *(p for p in (director.process, director.vm.process, s3.process) if p))
        return 0
    finally:
        if director:
            director.stop()
        if mirror:
            mirror.close()
        s3.stop()
        harness.stop()


if __name__ == "__main__":
    sys.exit(main())
