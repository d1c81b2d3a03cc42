"""What `kubectl bosh-backup` shows, as pure functions of the resources: names for new
runs, one screen per director, a run's step timeline, what a restore will do, and a
run's end in words. The command line (plugin/cli.py) only fetches and prints these."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..controllers.runs import TERMINAL
from ..names import fit
from ..status import human_size, parse_time

UNREACHABLE = ("DirectorUnreachable", "DirectorAuthenticationFailed", "SshAuthenticationFailed")
STYLE = {"Succeeded": "green", "Passed": "green", "Failed": "red", "Cancelled": "yellow", "Error": "yellow",
         "Running": "cyan", "Pending": "dim", "Skipped": "dim"}


def run_name(director: str, kind: str, now: datetime.datetime) -> str:
    """A new run's name that says what and when: prod-backup-20261129-031502."""
    return fit(f"{director}-{kind}-{now.astimezone(datetime.UTC):%Y%m%d-%H%M%S}", 253)


def age(text: str | None, now: datetime.datetime) -> str:
    """How long ago, for people: 3m, 5h, 2d."""
    moment = parse_time(text)
    if moment is None:
        return "never"
    return f"{duration(max(0.0, (now - moment).total_seconds()))} ago"


def duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86400}d{seconds % 86400 // 3600}h"


def styled(word: str | None) -> Text:
    return Text(word or "-", style=STYLE.get(word or "", ""))


def storage_words(storage: dict[str, Any] | None) -> str:
    if not storage:
        return "-"
    if "pvc" in storage:
        return f"claim {storage['pvc']['claimName']}" + (f" /{storage['pvc']['path']}" if storage["pvc"].get("path")
                                                          else "")
    s3 = storage["s3"]
    return f"s3://{s3['bucket']}/{s3.get('prefix', '')}".rstrip("/") + (f" at {s3['endpoint']}"
                                                                        if s3.get("endpoint") else "")


@dataclass(frozen=True)
class Follow:
    """Where a run is, for the progress bar: the bar's percent and the line beside it."""
    percent: int
    line: str
    done: bool


def follow(run: dict[str, Any]) -> Follow:
    status = run.get("status") or {}
    phase = status.get("phase") or "Pending"
    progress = status.get("progress") or {}
    steps = status.get("steps") or []
    current = next((s for s in steps if s.get("state") == "Running"), None)
    if phase == "Pending" and not current:
        line = f"Pending: {status.get('message') or 'waiting for the operator'}"
    elif current:
        number = progress.get("stepIndex") or steps.index(current) + 1
        line = f"{number}/{len(steps)} {current['name']}"
        if current.get("message"):
            line += f": {current['message']}"
    else:
        line = f"{phase}: {progress.get('summary') or status.get('message') or ''}".rstrip(": ")
    percent = 100 if phase == "Succeeded" else int(progress.get("percent") or 0)
    return Follow(percent, line[:160], phase in TERMINAL)


def outcome(kind: str, run: dict[str, Any]) -> tuple[bool, str]:
    """(succeeded, what to tell): for a failure, what failed, why, and what to do."""
    name, status = run["metadata"]["name"], run.get("status") or {}
    phase = status.get("phase")
    took = f" in {status['duration']}" if status.get("duration") else ""
    if phase == "Succeeded":
        artifact = status.get("artifact") or (status.get("source") or {})
        where = f": {artifact.get('location')}" if artifact.get("location") else ""
        size = f" ({artifact['size']})" if artifact.get("size") else ""   # already for people
        return True, f"{kind} {name} Succeeded{took}{where}{size}"
    failed = next((s for s in status.get("steps") or [] if s.get("state") == "Failed"), None)
    step = f" at step {failed['name']}" if failed else ""
    reason = f" ({status['reason']})" if status.get("reason") else ""
    return False, f"{kind} {name} {phase}{step}{reason}{took}: {status.get('message') or 'no message'}"


def timeline(run: dict[str, Any]) -> Table:
    """Each step with its start, duration and result."""
    table = Table(box=None, pad_edge=False, show_edge=False)
    for column in ("STEP", "STATE", "STARTED", "TOOK", "MESSAGE"):
        table.add_column(column, overflow="fold")
    for step in (run.get("status") or {}).get("steps") or []:
        start, end = parse_time(step.get("startTime")), parse_time(step.get("completionTime"))
        took = duration((end - start).total_seconds()) if start and end else ("running" if start else "-")
        table.add_row(step["name"], styled(step.get("state")), step.get("startTime") or "-", took,
                      step.get("message") or "")
    return table


def describe(kind: str, run: dict[str, Any], now: datetime.datetime) -> Group:
    meta, spec, status = run["metadata"], run.get("spec") or {}, run.get("status") or {}
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("Name", f"{meta['namespace']}/{meta['name']}")
    head.add_row("Director", (spec.get("directorRef") or {}).get("name", "-"))
    head.add_row("Phase", styled(status.get("phase") or "Pending"))
    head.add_row("Started", f"{status.get('startTime') or '-'} ({age(status.get('startTime'), now)})")
    if status.get("duration"):
        head.add_row("Took", status["duration"])
    if kind == "DirectorRestore":
        source = spec.get("source") or {}
        head.add_row("From", (source.get("backupRef") or {}).get("name") or source.get("path") or "-")
    parts: list[Any] = [head, Text(""), Text("Steps", style="bold"), timeline(run)]
    artifact = status.get("artifact")
    if artifact:
        parts += [Text(""), Text(f"Artifact {artifact.get('location', '')}", style="bold")]
        files = Table(box=None, pad_edge=False, show_edge=False)
        for column in ("FILE", "SIZE", "SHA256"):
            files.add_column(column, overflow="fold")
        for entry in artifact.get("files") or []:
            files.add_row(entry["name"], human_size(int(entry.get("size") or 0)), entry.get("sha256", ""))
        parts.append(files)
    verification = status.get("verification")
    if verification:
        parts.append(Text(f"Verified: {verification.get('result')} at {verification.get('time') or '-'}"
                          + "".join(f"\n  {problem}" for problem in verification.get("problems") or [])))
    if status.get("phase") in ("Failed", "Cancelled"):
        parts += [Text(""), Text(outcome(kind.removeprefix("Director"), run)[1], style="red")]
    return Group(*parts)


def restore_preview(director: dict[str, Any], spec: dict[str, Any], artifact: str) -> str:
    """What a restore will do to which director, for the confirmation prompt."""
    name, url = director["metadata"]["name"], (director.get("spec") or {}).get("url", "?")
    reupload = spec.get("reupload") or {}
    steps = ["Precheck: the director answers, holds no deployments" + (" (force: any it holds are replaced)"
                                                                       if spec.get("force") else ""),
             "VerifyArtifact: every file's sha256, before the director is touched",
             "RestoreDatabase: the director's database (and blobstore, with bbr) REPLACED by the backup's",
             f"Reupload: stemcells {'yes' if reupload.get('stemcells', True) else 'no'}, releases "
             f"{'yes' if reupload.get('releases', True) else 'no'} ({reupload.get('when', 'Needed')}, --fix)",
             f"CloudCheck: {spec.get('cloudCheck', 'report')}",
             f"VerifyInstances: {'yes' if spec.get('verifyInstances', True) else 'no'}"]
    lines = [f"Restore into director {name} ({url})", f"  from {artifact}", "", "Steps:"]
    lines += [f"  {number}. {step}" for number, step in enumerate(steps, start=1)]
    lines += ["", f"The database of director {name} will be replaced by the backup's."]
    return "\n".join(lines)


def director_screen(director: dict[str, Any], backups: list[dict[str, Any]], restores: list[dict[str, Any]],
                    schedules: list[dict[str, Any]], now: datetime.datetime) -> Group:
    """One screen per director: can it be reached, its last good backup, what runs and
    waits, when its schedule fires next, where backups go and how long they are kept."""
    meta, spec, status = director["metadata"], director.get("spec") or {}, director.get("status") or {}
    name = meta["name"]
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), None)
    runs = sorted(backups + restores, key=lambda r: r["metadata"].get("creationTimestamp") or "")
    last_run = next((r for r in reversed(runs) if (r.get("status") or {}).get("phase") in TERMINAL), None)
    grid.add_row("Director", f"{meta['namespace']}/{name}  {spec.get('url', '')}")
    if ready is not None and ready.get("status") != "True":
        grid.add_row("Reachable", Text(f"cannot try: {ready.get('message')}", style="red"))
    elif last_run is None:
        grid.add_row("Reachable", "not known yet (no run has ended)")
    elif (last_run.get("status") or {}).get("reason") in UNREACHABLE:
        grid.add_row("Reachable", Text(f"no, as of {age(last_run['status'].get('completionTime'), now)}: "
                                       f"{last_run['status'].get('reason')}", style="red"))
    else:
        grid.add_row("Reachable", Text(f"yes, as of {age(last_run['status'].get('completionTime'), now)}",
                                       style="green"))
    good = (status.get("lastSuccessfulBackup") or {})
    if good.get("name"):
        grid.add_row("Last good backup", f"{good['name']} ({age(good.get('time'), now)}) at {good.get('location', '')}")
    else:
        grid.add_row("Last good backup", Text("none", style="red"))
    active = [r for r in runs if (r.get("status") or {}).get("phase") not in TERMINAL]
    running = [r for r in active if (r.get("status") or {}).get("phase") == "Running"]
    queued = [r for r in active if r not in running]
    grid.add_row("Running", ", ".join(f"{r['kind']} {r['metadata']['name']} ({follow(r).line})" for r in running)
                 or "nothing")
    grid.add_row("Queued", ", ".join(f"{r['kind']} {r['metadata']['name']}" for r in queued) or "nothing")
    mine = [s for s in schedules if (s.get("spec") or {}).get("directorRef", {}).get("name") == name]
    for schedule in mine:
        sstatus = schedule.get("status") or {}
        suspended = " (suspended)" if (schedule.get("spec") or {}).get("suspend") else ""
        grid.add_row("Schedule", f"{schedule['metadata']['name']}: next {sstatus.get('nextScheduleTime', '-')}"
                                 f"{suspended}; {sstatus.get('effectiveRetention', '')}")
        verification = sstatus.get("verification")
        if verification:
            grid.add_row("Verification", f"{verification.get('passed', 0)} passed, {verification.get('failed', 0)} "
                                         f"failed, {verification.get('unverified', 0)} unverified; last good "
                                         f"{age(verification.get('lastPassedTime'), now)}; next "
                                         f"{verification.get('nextScheduleTime', '-')}")
    if not mine:
        grid.add_row("Schedule", "none")
    grid.add_row("Storage", storage_words(spec.get("storage")))
    verified = [b for b in backups if (b.get("status") or {}).get("verification", {}).get("time")]
    if verified:
        latest = max(verified, key=lambda b: b["status"]["verification"]["time"])
        found = latest["status"]["verification"]
        grid.add_row("Latest verification", Text(f"{latest['metadata']['name']}: {found.get('result')} "
                                                 f"({age(found.get('time'), now)})",
                                                 style=STYLE.get(found.get("result") or "", "")))
    return Group(grid)
