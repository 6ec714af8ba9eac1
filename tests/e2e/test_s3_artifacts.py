"""Model artifacts in S3: the tracking server's artifact destination is an S3 bucket
(``HEART_ARTIFACT_LOCATION=s3://...``), here a local S3-compatible server (moto), and scoring
loads the champion from it over the server's HTTP proxy."""

import os
import subprocess
import sys
import time

import boto3
import numpy as np
import pytest
from mlflow import MlflowClient

from heart_batch.contract.features import FEATURE_NAMES
from heart_batch.scoring.intake import load_scoring_model
from heart_batch.settings import Settings
from ops.stack import Stack, settings_for_up
from tests.e2e.conftest import answers, register_a_champion
from tests.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BUCKET = "heart-models"


@pytest.fixture
def s3_endpoint(monkeypatch, tmp_path):
    """A local S3-compatible server, its credentials in the environment as boto3 reads them."""
    port = free_port()
    with (tmp_path / "s3.log").open("ab") as log:
        server = subprocess.Popen(  # pylint: disable=consider-using-with
            [sys.executable, "-m", "moto.server", "-p", str(port), "-H", "127.0.0.1"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while not answers(f"{endpoint}/moto-api/") and time.monotonic() < deadline:
            time.sleep(0.5)
        for name, value in {
            "MLFLOW_S3_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "heart",
            "AWS_SECRET_ACCESS_KEY": "heart-secret",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_the_champion_is_stored_in_s3_and_scored_through_the_tracking_server(
    s3_endpoint, stack_ports, monkeypatch
):
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    monkeypatch.setenv("HEART_ARTIFACT_LOCATION", f"s3://{BUCKET}/artifacts")
    monkeypatch.setenv("HEART_WORKERS", "0")
    system = Stack(settings_for_up())
    tracking = f"http://127.0.0.1:{stack_ports['mlflow']}"
    try:
        system.up()
        register_a_champion(os.environ | {"MLFLOW_TRACKING_URI": tracking})
        stored = s3.list_objects_v2(Bucket=BUCKET, Prefix="artifacts/")
        keys = [item["Key"] for item in stored.get("Contents", [])]
        assert any(key.endswith("model.skops") or key.endswith("MLmodel") for key in keys), keys

        # A scoring process with no S3 credentials: the artifacts come over HTTP.
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL"):
            monkeypatch.delenv(name)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking)
        [version] = MlflowClient(tracking).search_model_versions()
        assert version.source.startswith(("models:/", "mlflow-artifacts:"))
        model = load_scoring_model(Settings())
        assert model.version == str(version.version)
        rows = np.full((2, len(FEATURE_NAMES)), np.nan)
        assert np.all((model.risk(rows) > 0) & (model.risk(rows) < 1))
    finally:
        system.down()
