"""What ``python -m flows.<name>`` runs: a flow from the shell, leaving nothing running after it.

Without ``PREFECT_API_URL`` a flow starts Prefect's temporary API server as a child process and
stops it when it ends; a flow killed with ``kill -9`` cannot, and the server (about 235 MB) would
run on. So a small reaper process watches this one and, once it is gone, stops whatever it had
started.
"""

import os
import secrets
import subprocess
import sys
from collections.abc import Callable

from heart_batch.settings import quiet_tools

TOKEN = "HEART_REAPER_TOKEN"
"""Every process this one starts inherits it; the reaper stops those that carry its value."""
REAPER = """
import os, sys, time
import psutil

parent, variable, token = psutil.Process(int(sys.argv[1])), sys.argv[2], sys.argv[3]

def alive(process):
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False

while alive(parent):
    time.sleep(0.5)
left = []
for process in psutil.process_iter():
    try:
        if process.pid != os.getpid() and process.environ().get(variable) == token:
            left.append(process)
    except psutil.Error:  # gone meanwhile, or another user's
        continue
for process in left:
    try:
        process.terminate()
    except psutil.NoSuchProcess:
        pass
for process in psutil.wait_procs(left, timeout=10)[1]:
    try:
        process.kill()
    except psutil.NoSuchProcess:
        pass
"""
"""Waits for its parent to end, then stops every process that carries the parent's token (the
temporary Prefect server, or anything else the run started and left behind)."""


def run_from_shell(flow: Callable[[], object]) -> None:
    """Run ``flow`` as a command: tools quiet, and its temporary Prefect server (if it needs one)
    never outliving it."""
    quiet_tools()
    if not os.environ.get("PREFECT_API_URL"):
        os.environ[TOKEN] = token = secrets.token_hex(8)
        subprocess.Popen(  # pylint: disable=consider-using-with  # it outlives this function
            [sys.executable, "-c", REAPER, str(os.getpid()), TOKEN, token],
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C of the shell stops us; the reaper then cleans up
        )
    flow()
