"""Every name and label derived from a user's name fits Kubernetes' limits, at the
boundaries (63 for labels and Job names, 253 for object names), and the directors'
lock knows one director by every way it is written."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from bosh_backup_operator import lock
from bosh_backup_operator.jobs import job_name
from bosh_backup_operator.names import label_value

# what Kubernetes accepts as an object name (a DNS subdomain), up to its 253 characters
DNS_NAME = st.from_regex(r"[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?", fullmatch=True)
LONG_NAMES = st.integers(min_value=60, max_value=253).flatmap(
    lambda n: st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=n - 2, max_size=n - 2)
    .map(lambda middle: f"a{middle}z"))
# a valid object name: dot-separated parts, each starting and ending with a letter or digit
VALID_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
SUBDOMAIN_NAME = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?){0,8}",
                               fullmatch=True)
LONG_SUBDOMAIN_NAMES = st.lists(st.from_regex(r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?", fullmatch=True),
                                min_size=2, max_size=7).map(".".join)
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@given(st.one_of(DNS_NAME, LONG_NAMES))
def test_label_values_fit_and_keep_short_names(name: str) -> None:
    value = label_value(name)
    assert len(value) <= 63 and LABEL_VALUE.match(value), value
    if len(name) <= 63:
        assert value == name


@given(LONG_NAMES, LONG_NAMES)
def test_long_names_stay_apart(first: str, second: str) -> None:
    if first != second:
        assert label_value(first) != label_value(second)


@given(st.one_of(SUBDOMAIN_NAME, LONG_SUBDOMAIN_NAMES), st.sampled_from(["DirectorBackup", "DirectorRestore"]))
@example("a" * 46 + ".bcdefghijklmnopqrstuvwxyz", "DirectorBackup")  # the cut falls just after a dot
def test_job_names_fit_a_dns_label(name: str, kind: str) -> None:
    candidate = job_name(kind, name)
    assert len(candidate) <= 63
    assert candidate.endswith("-backup" if kind == "DirectorBackup" else "-restore")
    assert VALID_SUBDOMAIN.match(candidate), candidate  # what the apiserver accepts as a Job's name


@given(st.text(min_size=1, max_size=300))
def test_lease_names_fit_whatever_the_director(url: str) -> None:
    for key in lock.director_keys(url, "f00d"):
        assert DNS_LABEL.match(lock.lease_name(key)) and len(lock.lease_name(key)) <= 63


def test_one_director_however_its_url_is_written() -> None:
    same = {lock.director_keys(url)[0] for url in (
        "https://10.0.0.6:25555", "https://10.0.0.6", "10.0.0.6", "HTTPS://10.0.0.6:25555/", "https://10.0.0.6:25555/info")}
    assert same == {"url:https://10.0.0.6:25555"}
    assert lock.director_keys("https://Bosh.Example.COM.")[0] == "url:https://bosh.example.com:25555"
    assert lock.director_keys("https://10.0.0.6:25556") != lock.director_keys("https://10.0.0.6")
    assert lock.director_keys("https://10.0.0.6", "ABC-1") == ["url:https://10.0.0.6:25555", "uuid:abc-1"]


def test_holders_name_their_namespace() -> None:
    holder = lock.holder_id("DirectorBackup", "team-a", "nightly-1")
    assert lock.parse_holder(holder) == ("DirectorBackup", "team-a", "nightly-1")
    assert lock.describe_holder(holder) == "DirectorBackup team-a/nightly-1"
    assert lock.parse_holder("DirectorBackup/old-style", "ns") == ("DirectorBackup", "ns", "old-style")


class Leases:
    """Just enough of the API for the lock: Leases by path."""

    def __init__(self) -> None:
        self.objects: dict[str, dict[str, Any]] = {}

    def get(self, path: str, **_: Any) -> dict[str, Any] | None:
        if path in self.objects:
            return self.objects[path]
        items = [o for p, o in self.objects.items() if p.rsplit("/", 1)[0] == path]
        return {"items": items} if path.endswith("leases") else None

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        body["metadata"]["resourceVersion"] = "1"
        self.objects[f"{path}/{body['metadata']['name']}"] = body
        return body

    def request(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        self.objects[path] = body
        return body

    def delete(self, path: str, body: Any = None) -> bool:
        return self.objects.pop(path, None) is not None


def test_a_run_takes_every_key_or_none() -> None:
    kube: Any = Leases()
    alive = {"DirectorBackup/a/one", "DirectorBackup/b/two"}
    by_url = lock.director_keys("https://10.0.0.6")
    by_uuid = lock.director_keys("https://bosh.internal", "u-1")  # the same director, another address
    assert lock.acquire(kube, "ops", [*by_url, "uuid:u-1"], "DirectorBackup/a/one", alive.__contains__) is None
    busy = lock.acquire(kube, "ops", by_uuid, "DirectorBackup/b/two", alive.__contains__)
    assert busy == "DirectorBackup/a/one"
    assert lock.held_by(kube, "ops", "DirectorBackup/b/two") == []  # it took its URL key, then gave it back
    lock.release(kube, "ops", lock.held_by(kube, "ops", "DirectorBackup/a/one"), "DirectorBackup/a/one")
    assert lock.acquire(kube, "ops", by_uuid, "DirectorBackup/b/two", alive.__contains__) is None


@given(st.one_of(DNS_NAME, LONG_NAMES), st.text(min_size=1, max_size=64))
def test_names_a_schedule_gives_its_backups_fit(schedule: str, run_now_value: str) -> None:
    import datetime

    from bosh_backup_operator.planning.schedule import backup_name, run_now_name

    moment = datetime.datetime(2026, 11, 29, 3, 0, tzinfo=datetime.UTC)
    for name in (backup_name(schedule, moment), run_now_name(schedule, run_now_value)):
        assert len(name) <= 253 and DNS_SUBDOMAIN.match(name), name


DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
