# heart-batch: the image for the worker and the flow runs (process, Docker or Kubernetes pools).
# Default command: one scoring pass over HEART_HOME/input (mount it, and the model store).
#   docker build -t heart-batch .
#   docker run --rm -v "$PWD/data-dir:/data" -e MLFLOW_TRACKING_URI=http://mlflow:5000 heart-batch

# Stage 1: turn Pipfile.lock into a hash-pinned requirements file (pipenv stays out of the image).
FROM python:3.11-slim AS requirements
RUN pip install --no-cache-dir pipenv==2026.10.3
COPY Pipfile Pipfile.lock /lock/
WORKDIR /lock
RUN pipenv requirements --hash > requirements.txt

FROM python:3.11-slim
# git: prefect.yaml's pull step clones the project when the image serves a worker.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

COPY --from=requirements /lock/requirements.txt /tmp/requirements.txt
# The lock holds every transitive dependency, so --no-deps installs exactly it (without it, pip
# takes the lock's pandas[parquet] pin for an unpinned pandas and refuses --require-hashes).
RUN pip install --no-cache-dir --no-deps --require-hashes -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

RUN useradd --create-home --uid 10001 heart \
    && mkdir /data && chown heart:heart /data
WORKDIR /app
COPY --chown=heart:heart heart_batch/ heart_batch/
COPY --chown=heart:heart flows/ flows/
COPY --chown=heart:heart data/ data/
COPY --chown=heart:heart prefect.yaml deployment.yaml pyproject.toml ./

# State lives in /data (input/, outputs/, heart.db, and by default mlflow.db and mlartifacts/);
# the seed data ships in the image. No telemetry leaves the container.
# The commit the image is built from (the image holds no .git): recorded on its training runs.
ARG HEART_CODE_VERSION=""
ENV HEART_CODE_VERSION=$HEART_CODE_VERSION \
    HEART_HOME=/data \
    HEART_TRAINING_DATA=/app/data/heart.csv \
    HEART_PROJECT_DIR=/app \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PREFECT_SERVER_ANALYTICS_ENABLED=false \
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS=120 \
    MLFLOW_DISABLE_TELEMETRY=true \
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR=false \
    DO_NOT_TRACK=1
USER 10001:10001
VOLUME ["/data"]
CMD ["python", "-m", "flows.score"]
