import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from bosh_backup_operator import __version__
from bosh_backup_operator.cli import parse_args
from bosh_backup_operator.settings import FINALIZER, configure


def test_console_scripts_are_installed() -> None:
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts["bosh-backup-operator"] == "bosh_backup_operator.cli:main"
    assert scripts["bosh-backup-runner"] == "bosh_backup_operator.runner.main:main"


@pytest.mark.parametrize("module", ["bosh_backup_operator.cli", "bosh_backup_operator.runner.main"])
def test_version_flag(module: str) -> None:
    code = f"import sys, {module} as m; sys.argv=['x','--version']; m.main()"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == __version__


def test_operator_watches_all_namespaces_unless_told() -> None:
    assert parse_args([]).namespace == []
    assert parse_args(["-n", "a", "--namespace", "b"]).namespace == ["a", "b"]
    assert parse_args(["--peering", "p"]).peering == "p"


def test_kopf_settings_use_our_names() -> None:
    import kopf

    settings = kopf.OperatorSettings()
    configure(settings)
    assert settings.persistence.finalizer == FINALIZER == "bosh-backup.dev/finalizer"
    assert isinstance(settings.persistence.progress_storage, kopf.AnnotationsProgressStorage)
    assert settings.persistence.progress_storage.prefix == "kopf.bosh-backup.dev"
    assert settings.posting.reporting_component == "bosh-backup-operator"


def test_the_log_drops_timer_ticks_that_went_well_and_keeps_everything_else() -> None:
    import logging

    from bosh_backup_operator.cli import quiet_timers

    def record(level: int, message: str) -> logging.LogRecord:
        return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)
    assert not quiet_timers(record(logging.INFO, "Timer 'runs_safety_net' succeeded."))
    assert quiet_timers(record(logging.ERROR, "Timer 'runs_safety_net' failed with an exception. Will retry."))
    assert quiet_timers(record(logging.INFO, "Handler 'backup_changed' succeeded."))
    assert quiet_timers(record(logging.WARNING, "Timer 'catalog_tick' succeeded."))
