from bosh_backup_operator.status import condition, conditions_changed, merge_conditions


def test_unchanged_status_keeps_its_transition_time() -> None:
    first = condition("Ready", False, "SecretNotFound", "a", generation=1, at="2026-01-01T00:00:00Z")
    again = condition("Ready", False, "SecretKeyMissing", "b", generation=2, at="2026-01-02T00:00:00Z")
    merged = merge_conditions([first], [again])
    assert merged == [{**again, "lastTransitionTime": "2026-01-01T00:00:00Z"}]


def test_changed_status_moves_the_transition_time() -> None:
    first = condition("Ready", False, "SecretNotFound", "a", generation=1, at="2026-01-01T00:00:00Z")
    ready = condition("Ready", True, "ReferencesFound", "ok", generation=1, at="2026-01-03T00:00:00Z")
    assert merge_conditions([first], [ready])[0]["lastTransitionTime"] == "2026-01-03T00:00:00Z"


def test_other_conditions_are_kept_and_sorted() -> None:
    locked = condition("Locked", True, "Held", "x", generation=1)
    ready = condition("Ready", True, "ok", "y", generation=1)
    assert [c["type"] for c in merge_conditions([ready], [locked])] == ["Locked", "Ready"]


def test_unknown_status_and_change_detection() -> None:
    unknown = condition("Ready", None, "Checking", "z", generation=None)
    assert unknown["status"] == "Unknown" and "observedGeneration" not in unknown
    merged = merge_conditions([], [unknown])
    assert conditions_changed([], merged)
    assert not conditions_changed(merged, merge_conditions(merged, [unknown]))


def test_a_long_outcome_stays_whole_json() -> None:
    """A cut JSON document read as a runner crash; now only the message is shortened."""
    import json

    from bosh_backup_operator.runner.run import TERMINATION_LIMIT, termination_text

    outcome = {"result": "Failed", "reason": "UploadFailed", "step": "UploadReleases",
               "message": "release r/1 from " + "https://mirror.example/" * 400, "failing": ["x"] * 500}
    text = termination_text(outcome)
    assert len(text) <= TERMINATION_LIMIT
    parsed = json.loads(text)
    assert parsed["reason"] == "UploadFailed" and parsed["message"].endswith("(the whole message is in status.steps)")
    short = {"result": "Succeeded", "message": "ok"}
    assert json.loads(termination_text(short)) == short
