"""Free TCP ports for the servers the tests and benchmarks start."""

import random
import socket

# Below Linux's ephemeral range (32768-60999): the kernel never hands these out on its own, so a
# port chosen here stays free until our server binds it. A port from bind(0) is ephemeral, and
# another process's listener or connection could take it in between (a CI run lost one so).
PORT_RANGE = range(20000, 32768)
_handed_out: set[int] = set()
_choose = random.SystemRandom()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing uses now, outside the ephemeral range and not handed
    out before in this process."""
    while True:
        port = _choose.choice(PORT_RANGE)
        if port in _handed_out:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
