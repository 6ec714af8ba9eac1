"""Small operations from the shell, each reading the settings (so HEART_HOME and friends apply).

python -m heart_batch has-champion    exit status 0 if the registry has a champion, else 1
python -m heart_batch has-work        exit status 0 if the input folder holds something to score
python -m heart_batch prepare-input   create a missing input folder with the example export
python -m heart_batch settings-reference   print docs/settings.md (`make docs` writes it)

The local stack's commands (up, down, status, evidently-ui, clean) are ``python -m ops``.
"""

import argparse
import sys

from heart_batch.scoring.inbox import scan_inbox, seed_with_examples
from heart_batch.scoring.summary import ScoringSummary, describe_settling
from heart_batch.settings import PROJECT_ROOT, Settings, quiet_tools, reference_page
from heart_batch.storage.urls import without_password


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the exit status."""
    commands = {
        "has-champion": has_champion,
        "has-work": has_work,
        "prepare-input": prepare_input,
        "settings-reference": settings_reference,
    }
    parser = argparse.ArgumentParser(prog="python -m heart_batch")
    parser.add_argument("command", choices=commands)
    command = parser.parse_args(argv).command
    quiet_tools()
    return commands[command](Settings())


def has_champion(settings: Settings) -> int:
    """0 when the registry has a champion; otherwise say so and return 1."""
    # MLflow takes seconds to import: only this command needs it.
    # pylint: disable=import-outside-toplevel
    from mlflow import MlflowClient

    from heart_batch.registry.champion import champion_version
    from heart_batch.registry.tracking import connect

    connect(settings)
    version = champion_version(MlflowClient(), settings.model_name)
    if version is None:
        store = without_password(settings.mlflow_tracking_uri)
        print(f"no champion for '{settings.model_name}' in {store}")
        return 1
    print(f"champion: {settings.model_name} v{version.version}")
    return 0


def has_work(settings: Settings) -> int:
    """0 when the input folder holds a file to score or an entry to report; otherwise say so, as
    the score flow would, and return 1. It reads no file and starts nothing, so that a ``make
    run`` with nothing to do takes a moment instead of starting Prefect and MLflow."""
    scan = scan_inbox(settings.input_dir, settings.settle_seconds)
    if scan.ready or scan.links or scan.unsupported or scan.not_files:
        return 0
    for waiting in scan.settling:
        print(describe_settling(waiting, settings.settle_seconds))
    print(ScoringSummary(settling=len(scan.settling)).one_line(settings.input_dir))
    return 1


def prepare_input(settings: Settings) -> int:
    """On the very first run, an input folder holding the example export."""
    for name in seed_with_examples(settings.input_dir, PROJECT_ROOT / "data" / "examples"):
        print(
            f"First run: copied the example export data/examples/{name} into {settings.input_dir}"
        )
    return 0


def settings_reference(_settings: Settings) -> int:
    """Print docs/settings.md, the reference page of every setting."""
    print(reference_page(), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
