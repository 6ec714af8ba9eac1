"""Small operations from the shell.

python -m heart_batch has-champion    exit status 0 if the registry has a champion, else 1
"""

import argparse
import sys

from mlflow import MlflowClient

from heart_batch.registry import champion_version
from heart_batch.settings import Settings
from heart_batch.tracking import connect


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m heart_batch")
    parser.add_argument("command", choices=["has-champion"])
    parser.parse_args(argv)
    settings = Settings()
    connect(settings)
    version = champion_version(MlflowClient(), settings.model_name)
    if version is None:
        print(f"no champion for '{settings.model_name}' in {settings.mlflow_tracking_uri}")
        return 1
    print(f"champion: {settings.model_name} v{version.version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
