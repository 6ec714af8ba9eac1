"""The local stack's commands, each reading the settings (so HEART_HOME and friends apply).

python -m ops up             start the whole system on this machine (`make up`)
python -m ops down           stop exactly what `make up` started
python -m ops status         which services run and answer; exit status 1 if any does not
python -m ops evidently-ui   serve the Evidently workspace on HEART_EVIDENTLY_PORT
python -m ops clean          delete local state; ask before deleting outputs
"""

import argparse
import os
import sys

from heart_batch.settings import Settings, quiet_tools
from ops.clean import delete, describe, plan_clean
from ops.stack import Stack, StackError, settings_for_up


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the exit status."""
    commands = {
        "up": up,
        "down": down,
        "status": status,
        "evidently-ui": evidently_ui,
        "clean": clean,
    }
    parser = argparse.ArgumentParser(prog="python -m ops")
    parser.add_argument("command", choices=commands)
    command = parser.parse_args(argv).command
    quiet_tools()
    try:
        return commands[command](Settings())
    except StackError as error:
        print(f"heart-batch stack: {error}", file=sys.stderr)
        return 1


def up(_settings: Settings) -> int:
    """Start what is not running, provision the Prefect server, say where the UIs are."""
    print("\n".join(Stack(settings_for_up()).up()))
    return 0


def down(settings: Settings) -> int:
    """Stop what `make up` started, workers first."""
    print("\n".join(Stack(settings).down()))
    return 0


def status(settings: Settings) -> int:
    """One line per service; 1 when one is stopped or not answering."""
    rows = Stack(settings).status()
    for name, pid, healthy in rows:
        state = f"running (pid {pid})" if pid else "stopped"
        print(f"{name:15} {state}{'' if healthy or not pid else ', not answering'}")
    return 0 if all(healthy for *_, healthy in rows) else 1


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
