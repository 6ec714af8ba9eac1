"""How our messages count things, in the logs, the artifacts and the emails alike."""


def plural(count: int, noun: str) -> str:
    """``1 file``, ``2 files``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
