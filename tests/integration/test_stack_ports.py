"""`make up` against a port some other program holds: a clear error, nothing left running."""

import socket

import pytest

from ops.stack import Stack, StackError, settings_for_up


def test_a_port_in_use_is_a_clear_error_and_up_stops_what_it_started(monkeypatch):
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        monkeypatch.setenv("HEART_PREFECT_PORT", str(stranger.getsockname()[1]))
        stack = Stack(settings_for_up())
        with pytest.raises(StackError, match="HEART_PREFECT_PORT"):
            stack.up()
    assert stack.processes() == []
    assert (stack.log_dir / "mail-sink.log").exists()
