"""Small operations from the shell, each reading the settings (so HEART_HOME and friends apply).

python -m heart_batch has-champion    exit status 0 if the registry has a champion, else 1
python -m heart_batch prepare-input   create a missing input folder with the example export
python -m heart_batch evidently-ui    serve the Evidently workspace on HEART_EVIDENTLY_PORT
python -m heart_batch clean           delete local state; ask before deleting outputs
"""

import argparse
import os
import sys

from heart_batch.scoring.inbox import seed_with_examples
from heart_batch.settings import PROJECT_ROOT, Settings, quiet_tools
from heart_batch.storage.urls import without_password
from ops.clean import delete, describe, plan_clean
from ops.stack import Stack


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the exit status."""
    commands = {
        "has-champion": has_champion,
        "prepare-input": prepare_input,
        "evidently-ui": evidently_ui,
        "clean": clean,
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


def prepare_input(settings: Settings) -> int:
    """On the very first run, an input folder holding the example export."""
    for name in seed_with_examples(settings.input_dir, PROJECT_ROOT / "data" / "examples"):
        print(
            f"First run: copied the example export data/examples/{name} into {settings.input_dir}"
        )
    return 0


def evidently_ui(settings: Settings) -> int:
    """Replace this process with the Evidently UI on the monitoring workspace."""
    settings.evidently_workspace.mkdir(parents=True, exist_ok=True)
    (ui,) = [service for service in Stack(settings).servers() if service.name == "evidently-ui"]
    print(f"Evidently UI of {settings.evidently_workspace} on {ui.ui_url}")
    os.execv(ui.command[0], ui.command)
    return 1  # not reached: execv does not return


def clean(settings: Settings) -> int:
    """Delete the local stores and state; delete the outputs only if the person says yes."""
    plan = plan_clean(settings)
    if plan.state:
        delete(plan.state)
        print(f"Deleted {describe(plan.state, settings.home)}")
    if not plan.outputs:
        print("No outputs to delete.")
    elif _confirmed(f"Also delete the outputs: {describe(plan.outputs, settings.home)}? [y/N] "):
        delete(plan.outputs)
        print("Deleted the outputs.")
    else:
        print(f"Kept the outputs in {settings.output_dir}.")
    print(f"The input folder {settings.input_dir} is never deleted by make clean.")
    return 0


def _confirmed(question: str) -> bool:
    """A yes typed at a terminal; without a terminal the answer is no."""
    if not sys.stdin.isatty():
        print(question + "no (not asked: no terminal)")
        return False
    return input(question).strip().lower() in ("y", "yes")


if __name__ == "__main__":
    sys.exit(main())
