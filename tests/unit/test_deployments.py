"""prefect.yaml (pulled from git) and deployment.yaml (local checkout) declare the same jobs."""

import importlib

import pytest
import yaml

from heart_batch.settings import QUIET_TOOLS, Settings
from tests.conftest import REPO_ROOT

DECLARED = (
    "name",
    "entrypoint",
    "schedules",
    "parameters",
    "work_pool",
    "concurrency_limit",
    "tags",
)


def deployments(file_name: str) -> dict[str, dict]:
    spec = yaml.safe_load((REPO_ROOT / file_name).read_text())
    return {d["name"]: {key: d.get(key) for key in DECLARED} for d in spec["deployments"]}


def flow_of(entrypoint: str):
    module, name = entrypoint.split(":")
    return getattr(importlib.import_module(module.removesuffix(".py").replace("/", ".")), name)


def test_both_files_declare_the_same_deployments():
    assert deployments("prefect.yaml") == deployments("deployment.yaml")


def test_the_git_file_clones_and_the_local_file_does_not():
    pulled = yaml.safe_load((REPO_ROOT / "prefect.yaml").read_text())["pull"]
    local = yaml.safe_load((REPO_ROOT / "deployment.yaml").read_text())["pull"]
    assert pulled[0]["prefect.deployments.steps.git_clone"]["repository"] == "{{ $HEART_GIT_URL }}"
    assert "prefect.deployments.steps.set_working_directory" in local[0]


@pytest.mark.parametrize("job", ["train", "score", "monitor"])
def test_three_scheduled_deployments_one_run_at_a_time(job):
    declared = deployments("prefect.yaml")
    assert len(declared) == 3
    deployment = declared[job]
    assert job in flow_of(deployment["entrypoint"]).name
    assert deployment["schedules"][0]["timezone"] == "UTC"
    assert deployment["concurrency_limit"]["limit"] == 1


def test_monitoring_retrains_through_the_declared_train_deployment(monkeypatch):
    monkeypatch.delenv("HEART_TRAIN_DEPLOYMENT", raising=False)
    train = deployments("prefect.yaml")["train"]
    assert Settings().train_deployment == f"{flow_of(train['entrypoint']).name}/{train['name']}"


HEARTBEAT = "PREFECT_FLOWS_HEARTBEAT_FREQUENCY"


@pytest.mark.parametrize("file_name", ["prefect.yaml", "deployment.yaml"])
def test_every_flow_run_is_quiet_whoever_started_the_worker(file_name):
    for deployment in deployments(file_name).values():
        environment = dict(deployment["work_pool"]["job_variables"]["env"])
        environment.pop(HEARTBEAT)
        assert environment == QUIET_TOOLS


def test_the_lost_run_automation_watches_every_deployment_run_and_waits_three_heartbeats():
    [automation] = yaml.safe_load((REPO_ROOT / "flows" / "lost_runs.yaml").read_text())[
        "automations"
    ]
    trigger = automation["trigger"]
    watched_tag = trigger["match_related"]["prefect.resource.id"].removeprefix("prefect.tag.")
    for deployment in deployments("prefect.yaml").values():
        assert watched_tag in deployment["tags"]
        heartbeat = int(deployment["work_pool"]["job_variables"]["env"][HEARTBEAT])
        assert trigger["within"] >= 3 * heartbeat
    assert trigger["posture"] == "Proactive" and automation["actions"][0]["state"] == "CRASHED"
