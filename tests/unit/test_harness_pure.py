"""The node agent's pure parts: kubelet's $(VAR) expansion."""

from harness.nodeagent import expand


def test_expansion_follows_kubernetes_rules() -> None:
    env = {"A": "1", "B": "two"}
    assert expand("$(A)-$(B)", env) == "1-two"
    assert expand("$$(A)", env) == "$(A)"
    assert expand("$(MISSING)", env) == "$(MISSING)"
    assert expand("plain $ sign", env) == "plain $ sign"
