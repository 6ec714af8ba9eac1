"""`make bench-tests`: the wall time of each test tier on this machine, against its target.

The fast loop is only fast if it stays so: unit under 2 minutes (no servers, no training),
integration under 6. Each tier runs in its own pytest process, one after the other, as
`make test-unit` and `make test-integration` run them.
"""

import subprocess
import sys
import time

from tests.conftest import REPO_ROOT

TIERS = (("unit", "tests/unit", 120), ("integration", "tests/integration", 360))


def run_tier(folder: str) -> tuple[float, str]:
    """Seconds the tier took, and pytest's summary line."""
    begin = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", folder, "-q", "-p", "no:cacheprovider"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-200:]
    return time.perf_counter() - begin, summary


def main() -> None:
    """Run each tier and print its time beside its target."""
    print(f"{'tier':12} {'wall (s)':>9} {'target (s)':>11}  pytest")
    for name, folder, target in TIERS:
        seconds, summary = run_tier(folder)
        verdict = "ok" if seconds <= target else "OVER"
        print(f"{name:12} {seconds:9.0f} {target:11d}  {verdict}: {summary}", flush=True)


if __name__ == "__main__":
    main()
