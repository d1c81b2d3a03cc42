"""kubectl bosh-backup: start, follow, inspect and cancel backups and restores without YAML.

Installed as the console script kubectl-bosh_backup, which kubectl runs for
`kubectl bosh-backup ...`. It reads the kubeconfig as kubectl does (--kubeconfig or
$KUBECONFIG, --context, -n or the context's namespace)."""

from __future__ import annotations

import datetime
import functools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

import click
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

from .. import GROUP, VERSION
from ..planning.schedule import RUN_NOW_ANNOTATION, run_now_name
from . import views

PLURALS = {"Director": "directors", "DirectorBackup": "directorbackups", "DirectorRestore": "directorrestores",
           "DirectorBackupSchedule": "directorbackupschedules"}
KINDS = {"backup": "DirectorBackup", "restore": "DirectorRestore"}
POLL_SECONDS = 1.0


@dataclass
class Cluster:
    """The objects the plugin reads and writes, in one namespace."""
    api: client.ApiClient
    namespace: str

    @property
    def custom(self) -> Any:   # the client's answers are plain dicts, whatever its stubs say
        return client.CustomObjectsApi(self.api)

    def get(self, kind: str, name: str) -> dict[str, Any]:
        try:
            return dict(self.custom.get_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURALS[kind], name))
        except ApiException as error:
            if error.status == 404:
                fail(f'{kind} "{name}" not found in namespace {self.namespace}')
            raise

    def list(self, kind: str) -> list[dict[str, Any]]:
        found = self.custom.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURALS[kind])
        return [{**item, "kind": kind} for item in found.get("items", [])]

    def create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, **body}
        try:
            return dict(self.custom.create_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURALS[kind],
                                                                    body))
        except ApiException as error:
            fail(f"the API server refused the {kind}: {api_message(error)}")

    def merge(self, kind: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        try:
            return dict(self.custom.patch_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURALS[kind],
                                                                   name, patch))
        except ApiException as error:
            if error.status == 404:
                fail(f'{kind} "{name}" not found in namespace {self.namespace}')
            fail(f"the API server refused the change to {kind} {name}: {api_message(error)}")


def api_message(error: ApiException) -> str:
    try:
        return str(json.loads(error.body or "{}").get("message") or error.reason)
    except ValueError:
        return str(error.reason)


def fail(message: str) -> NoReturn:
    screen(stderr=True).print(f"error: {message}", style="red", highlight=False)
    sys.exit(1)


def connect(kubeconfig: str | None, context: str | None, namespace: str | None) -> Cluster:
    try:
        api = config.new_client_from_config(config_file=kubeconfig, context=context)
        contexts, active = config.list_kube_config_contexts(config_file=kubeconfig)
    except (config.ConfigException, OSError) as error:
        fail(f"cannot read the kubeconfig: {error}")
    chosen = next((c for c in contexts if c["name"] == context), active) if context else active
    return Cluster(api, namespace or (chosen or {}).get("context", {}).get("namespace") or "default")


def screen(stderr: bool = False) -> Console:
    """The console for people: on a terminal its width; piped, one line per line (no
    wrapping at rich's 80 columns, which would cut a failure's message in a log)."""
    terminal = (sys.stderr if stderr else sys.stdout).isatty()
    return Console(stderr=stderr, soft_wrap=not terminal, width=None if terminal else 240)


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def printed(obj: Any, output: str | None) -> bool:
    """Prints obj as JSON or YAML when -o asks for it; False when it does not."""
    if output == "json":
        click.echo(json.dumps(obj, indent=2))
    elif output == "yaml":
        click.echo(yaml.safe_dump(obj, sort_keys=False))
    return output is not None


def follow_run(cluster: Cluster, kind: str, name: str, console: Console) -> int:
    """Follows a run to its end: a live bar on a terminal, a line per change otherwise."""
    run = cluster.get(kind, name)
    if console.is_terminal:
        columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
                   TimeElapsedColumn())
        with Progress(*columns, console=console) as bar:
            task = bar.add_task(name, total=100)
            while True:
                where = views.follow(run)
                bar.update(task, completed=where.percent, description=where.line)
                if where.done:
                    break
                time.sleep(POLL_SECONDS)
                run = cluster.get(kind, name)
    else:
        last = ""
        while True:
            where = views.follow(run)
            if where.line != last:
                console.print(f"{where.percent:3d}% {where.line}", highlight=False)
                last = where.line
            if where.done:
                break
            time.sleep(POLL_SECONDS)
            run = cluster.get(kind, name)
    succeeded, words = views.outcome(kind.removeprefix("Director"), run)
    console.print(words, style="green" if succeeded else "red", highlight=False)
    return 0 if succeeded else 1


def storage_option(text: str | None, director: dict[str, Any]) -> dict[str, Any] | None:
    """--storage pvc:CLAIM or s3:BUCKET (the rest of S3's settings from the Director's)."""
    if not text:
        return None
    kind, _, where = text.partition(":")
    if kind == "pvc" and where:
        return {"pvc": {"claimName": where}}
    if kind == "s3" and where:
        s3 = ((director.get("spec") or {}).get("storage") or {}).get("s3")
        if not s3:
            fail(f"--storage {text}: the Director's storage is not S3, so the endpoint and credentials are not "
                 "known; write the DirectorBackup by hand")
        return {"s3": {**s3, "bucket": where}}
    fail(f'--storage "{text}": give pvc:CLAIM or s3:BUCKET')


def pass_cluster(command: Callable[..., Any]) -> Callable[..., Any]:
    """Connects when a command runs, not before: `COMMAND --help` needs no cluster."""
    @functools.wraps(command)
    def with_cluster(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        return command(connect(*ctx.find_root().obj), *args, **kwargs)
    return with_cluster


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--kubeconfig", envvar="KUBECONFIG", help="Path to the kubeconfig (else $KUBECONFIG, ~/.kube/config).")
@click.option("--context", help="The kubeconfig context to use.")
@click.option("-n", "--namespace", help="Namespace (else the context's, else default).")
@click.pass_context
def main(ctx: click.Context, kubeconfig: str | None, context: str | None, namespace: str | None) -> None:
    """Back up and restore BOSH directors: kubectl bosh-backup COMMAND --help for each."""
    if kubeconfig and ":" in kubeconfig:   # $KUBECONFIG may list several; kubectl merges, we read the first
        kubeconfig = kubeconfig.split(":")[0]
    ctx.obj = (kubeconfig, context, namespace)


OUTPUT = click.option("-o", "--output", type=click.Choice(["json", "yaml"]), help="Print objects as JSON or YAML.")


@main.command()
@click.argument("director")
@click.option("--method", type=click.Choice(["bbr", "v1"]), help="Default: the Director's.")
@click.option("--storage", help="pvc:CLAIM or s3:BUCKET; default: the Director's storage.")
@click.option("--wait", is_flag=True, help="Follow the backup to its end; exit 1 if it fails.")
@OUTPUT
@pass_cluster
def backup(cluster: Cluster, director: str, method: str | None, storage: str | None, wait: bool,
           output: str | None) -> None:
    """Start a backup of DIRECTOR now."""
    found = cluster.get("Director", director)
    spec: dict[str, Any] = {"directorRef": {"name": director}}
    if method:
        spec["method"] = method
    if storage:
        spec["storage"] = storage_option(storage, found)
    created = cluster.create("DirectorBackup", {"metadata": {"name": views.run_name(director, "backup", now())},
                                                "spec": spec})
    start(cluster, "DirectorBackup", created, wait, output)


def start(cluster: Cluster, kind: str, created: dict[str, Any], wait: bool, output: str | None) -> None:
    name = created["metadata"]["name"]
    if not wait:
        if not printed(created, output):
            click.echo(f"{kind} {name} created; follow it: kubectl bosh-backup describe "
                       f"{kind.removeprefix('Director').lower()} {name}")
        return
    console = screen()
    console.print(f"{kind} {name} created", highlight=False)
    code = follow_run(cluster, kind, name, console)
    printed(cluster.get(kind, name), output)
    sys.exit(code)


@main.command("run-now")
@click.argument("schedule")
@click.option("--wait", is_flag=True, help="Follow the backup to its end; exit 1 if it fails.")
@OUTPUT
@pass_cluster
def run_now(cluster: Cluster, schedule: str, wait: bool, output: str | None) -> None:
    """A backup of SCHEDULE now, from its template (the run-now annotation)."""
    value = now().strftime("%Y%m%d-%H%M%S")
    cluster.merge("DirectorBackupSchedule", schedule, {"metadata": {"annotations": {RUN_NOW_ANNOTATION: value}}})
    name = run_now_name(schedule, value)
    deadline = time.monotonic() + 60
    while True:   # the operator creates it
        try:
            created = dict(cluster.custom.get_namespaced_custom_object(
                GROUP, VERSION, cluster.namespace, PLURALS["DirectorBackup"], name))
            break
        except ApiException as error:
            if error.status != 404:
                raise
        if time.monotonic() > deadline:
            fail(f"the operator did not create DirectorBackup {name} within 60s: is it running? "
                 "kubectl -n bosh-backup-system get pods")
        time.sleep(POLL_SECONDS)
    start(cluster, "DirectorBackup", created, wait, output)


@main.command()
@click.argument("director", required=False)
@OUTPUT
@pass_cluster
def status(cluster: Cluster, director: str | None, output: str | None) -> None:
    """One screen per director: reachable, last good backup, runs, schedule, storage."""
    directors = [cluster.get("Director", director)] if director else cluster.list("Director")
    backups, restores = cluster.list("DirectorBackup"), cluster.list("DirectorRestore")
    schedules = cluster.list("DirectorBackupSchedule")
    if printed({"directors": directors, "schedules": schedules}, output):
        return
    if not directors:
        click.echo(f"no Directors in namespace {cluster.namespace}")
        return
    console = screen()

    def of(runs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
        return [r for r in runs if (r.get("spec") or {}).get("directorRef", {}).get("name") == name]
    for number, found in enumerate(directors):
        if number:
            console.print()
        name = found["metadata"]["name"]
        console.print(views.director_screen(found, of(backups, name), of(restores, name), schedules, now()))


@main.command()
@click.argument("kind", type=click.Choice(sorted(KINDS)))
@click.argument("name")
@OUTPUT
@pass_cluster
def describe(cluster: Cluster, kind: str, name: str, output: str | None) -> None:
    """The step timeline, artifact and result of a backup or restore."""
    run = cluster.get(KINDS[kind], name)
    if not printed(run, output):
        screen().print(views.describe(KINDS[kind], run, now()))


@main.command()
@click.argument("director")
@click.option("--from", "from_backup", help="The DirectorBackup to restore.")
@click.option("--path", help="An artifact folder in storage (status.artifact.path), when no DirectorBackup is left.")
@click.option("--storage", help="With --path: pvc:CLAIM or s3:BUCKET; default: the Director's storage.")
@click.option("--identity", help="Secret holding the private key of an encrypted backup.")
@click.option("--force", is_flag=True, help="Restore even if the director holds deployments (they are replaced).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@OUTPUT
@pass_cluster
def restore(cluster: Cluster, director: str, from_backup: str | None, path: str | None, storage: str | None,
            identity: str | None, force: bool, yes: bool, output: str | None) -> None:
    """Restore DIRECTOR from a backup: says what it will do, asks, then follows it."""
    if bool(from_backup) == bool(path):
        fail("give exactly one of --from BACKUP or --path PATH")
    if storage and not path:
        fail("--storage goes with --path")
    found = cluster.get("Director", director)
    source: dict[str, Any]
    if from_backup:
        backup = cluster.get("DirectorBackup", from_backup)
        if (backup.get("status") or {}).get("phase") != "Succeeded":
            fail(f"DirectorBackup {from_backup} is {(backup.get('status') or {}).get('phase') or 'Pending'}; "
                 "only a Succeeded backup can be restored")
        source = {"backupRef": {"name": from_backup}}
        artifact = f"DirectorBackup {from_backup} ({backup['status'].get('artifact', {}).get('location', '?')})"
    else:
        source = {"path": path}
        where = storage_option(storage, found)
        if where:
            source["storage"] = where
        artifact = f"{path} in {views.storage_words(where or (found.get('spec') or {}).get('storage'))}"
    spec: dict[str, Any] = {"directorRef": {"name": director}, "source": source, "force": force}
    if identity:
        spec["identitySecretRef"] = {"name": identity}
    console = screen()
    console.print(views.restore_preview(found, spec, artifact), highlight=False)
    if not yes and not click.confirm("\nRestore now?", default=False):
        console.print("Nothing was changed.")
        sys.exit(1)
    created = cluster.create("DirectorRestore", {"metadata": {"name": views.run_name(director, "restore", now())},
                                                 "spec": spec})
    start(cluster, "DirectorRestore", created, True, output)


@main.command()
@click.argument("kind", type=click.Choice(sorted(KINDS)))
@click.argument("name")
@click.option("-f", "--follow", is_flag=True, help="Keep printing as the runner writes.")
@pass_cluster
def logs(cluster: Cluster, kind: str, name: str, follow: bool) -> None:
    """The runner pod's log of a backup or restore."""
    run = cluster.get(KINDS[kind], name)
    job = (run.get("status") or {}).get("jobName")
    if not job:
        fail(f"{KINDS[kind]} {name} has no runner Job yet ({(run.get('status') or {}).get('message') or 'pending'})")
    core: Any = client.CoreV1Api(cluster.api)
    pods = core.list_namespaced_pod(cluster.namespace, label_selector=f"job-name={job}").items
    if not pods:
        fail(f"Job {job} has no pod (it may have been cleaned up); status.steps keeps each step's message")
    pod = sorted(pods, key=lambda p: p.metadata.creation_timestamp)[-1]
    try:
        stream = core.read_namespaced_pod_log(pod.metadata.name, cluster.namespace, container="runner",
                                              follow=follow, _preload_content=False)
    except ApiException as error:
        fail(f"cannot read the log of pod {pod.metadata.name} (container runner): {api_message(error)}; "
             f"status.steps keeps each step's message: kubectl bosh-backup describe {kind} {name}")
    for chunk in stream.stream():
        click.echo(chunk.decode(errors="replace"), nl=False)


@main.command()
@click.argument("name")
@OUTPUT
@pass_cluster
def cancel(cluster: Cluster, name: str, output: str | None) -> None:
    """Cancel a running backup and follow it until it has cleaned up."""
    cluster.merge("DirectorBackup", name, {"spec": {"cancel": True}})
    console = screen()
    console.print(f"DirectorBackup {name}: cancel requested", highlight=False)
    follow_run(cluster, "DirectorBackup", name, console)
    printed(cluster.get("DirectorBackup", name), output)
    phase = (cluster.get("DirectorBackup", name).get("status") or {}).get("phase")
    sys.exit(0 if phase == "Cancelled" else 1)


if __name__ == "__main__":
    main()
