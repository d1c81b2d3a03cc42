"""The node agent's pure parts: kubelet's $(VAR) expansion, and its eviction of a pod whose
emptyDir passes its sizeLimit (what a real kubelet does instead of ENOSPC)."""

from pathlib import Path

from harness.nodeagent import PodWorker, expand, quantity_bytes


def test_expansion_follows_kubernetes_rules() -> None:
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)", env) == "1-two"
    assert expand("$$(A)", env) == "$(A)"
    assert expand("$(MISSING)", env) == "$(MISSING)"
    assert expand("plain $ sign", env) == "plain $ sign"


def test_an_empty_dir_past_its_size_limit_evicts_the_pod(tmp_path: Path) -> None:
    assert quantity_bytes("2Mi") == 2 << 20 and quantity_bytes("1G") == 10**9
    worker = PodWorker.__new__(PodWorker)   # only the parts the check reads
    worker.dir, worker.reason, worker.message = tmp_path, None, None
    worker.pod = {"spec": {"volumes": [{"name": "work", "emptyDir": {"sizeLimit": "2Mi"}},
                                       {"name": "tmp", "emptyDir": {}}]}}
    (tmp_path / "volumes" / "work").mkdir(parents=True)
    (tmp_path / "volumes" / "tmp").mkdir(parents=True)
    (tmp_path / "volumes" / "tmp" / "big").write_bytes(b"x" * (4 << 20))   # no limit there
    (tmp_path / "volumes" / "work" / "small").write_bytes(b"x" * (1 << 20))
    assert not worker.over_empty_dir_limit()
    (tmp_path / "volumes" / "work" / "more").write_bytes(b"x" * (2 << 20))
    assert worker.over_empty_dir_limit()
    assert worker.reason == "Evicted"
    assert worker.message == 'Usage of EmptyDir volume "work" exceeds the limit "2Mi". '
