"""When a failed task is worth retrying: I/O, yes; a registry with nothing to load, no."""


def unless_nothing_to_load(_task, _task_run, state) -> bool:
    """Retry a failed load of the champion, unless there is none (or it has no reference data):
    waiting does not make one appear."""
    # Imported only on failure: the registry module imports MLflow.
    # pylint: disable=import-outside-toplevel
    from heart_batch.registry.champion import NoChampionError, NoReferenceError

    try:
        state.result()
    except (NoChampionError, NoReferenceError):
        return False
    except Exception:  # pylint: disable=broad-exception-caught
        return True
    return True
