"""The one settings object: environment variables with documented defaults.

Every variable is prefixed ``HEART_`` except ``MLFLOW_TRACKING_URI``, which keeps MLflow's name.
Relative paths are resolved against ``HEART_HOME`` (default: the project checkout), so the
embedded defaults put every store under the project: a SQLite MLflow store and local artifact
folder, a SQLite database for our own tables, and the input/output folders.
"""

import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from heart_batch.storage.urls import LocalPostgres, store_url

PROJECT_ROOT = Path(__file__).resolve().parents[1]

QUIET_TOOLS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
}
"""No telemetry (it fails without internet and logs an error) and no progress bars in run logs."""


def quiet_tools(environ: MutableMapping[str, str] = os.environ) -> None:
    """Turn the tools' telemetry and progress bars off unless the environment says otherwise.

    Called by every entry point before Prefect or MLflow starts; the image and the deployments'
    job variables set the same values.
    """
    for name, value in QUIET_TOOLS.items():
        environ.setdefault(name, value)


UNSET_PATH = Path()
"""The default of a folder that lives inside another one unless a variable says otherwise."""


def _or(path: Path, default: Path) -> Path:
    return default if path == UNSET_PATH else path


class InvalidSettingError(ValueError):
    """A setting (variable, flow or deployment parameter) outside what it allows."""


def variable_name(name: str, field: FieldInfo) -> str:
    """The environment variable of a settings field: ``HEART_<NAME>`` unless it has an alias."""
    alias = field.validation_alias
    return alias if isinstance(alias, str) else f"HEART_{name.upper()}"


def allowed_range(field: FieldInfo) -> str:
    """The bounds of a numeric field in words ("> 0 and < 1"), or '' when it has none."""
    symbols = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}
    bounds = [
        f"{symbol} {getattr(constraint, name)}"
        for constraint in field.metadata
        for name, symbol in symbols.items()
        if getattr(constraint, name, None) is not None
    ]
    return " and ".join(bounds)


class _Area(BaseSettings):
    """Settings of one area, read from ``HEART_*`` variables (the same names in every area)."""

    model_config = SettingsConfigDict(env_prefix="HEART_", extra="ignore", populate_by_name=True)


class Seeded(_Area):
    """The seed training and monitoring share, so that a run is reproducible end to end."""

    seed: int = Field(
        42, description="Seed of the search, the folds, the models and the no-change replicates."
    )


class StoreSettings(_Area):
    """Where everything is kept: the project folder, the MLflow stores, our tables' database,
    the input and output folders, and a PostgreSQL server for all of them."""

    home: Path = Field(PROJECT_ROOT, description="Folder that relative paths are resolved against.")
    mlflow_tracking_uri: str = Field(
        "",
        repr=False,  # a database URL may hold a password
        validation_alias="MLFLOW_TRACKING_URI",
        description="MLflow tracking store; empty means sqlite:///<home>/mlflow.db.",
    )
    artifact_location: str = Field(
        "mlartifacts",
        description="Artifact root of a new experiment when the tracking store is a database URL "
        "(a folder or a remote URI such as s3://...); a tracking server chooses its own.",
    )
    experiment_name: str = Field("heart-disease-risk", description="MLflow experiment.")
    model_name: str = Field("heart-disease-risk", description="Registered model name.")
    input_dir: Path = Field(
        Path("input"),
        description="Folder that hospitals drop CSV files into (`processed/`, `quarantine/` "
        "inside).",
    )
    output_dir: Path = Field(
        Path("outputs"),
        description="Predictions at the top level; `_rejected/`, `_reports/`, `_evidently/` "
        "inside.",
    )
    database_url: str = Field(
        "",
        repr=False,  # a database URL may hold a password
        description="Our tables (ledger, monitoring); empty means sqlite:///<home>/heart.db, or "
        "the heart database of the PostgreSQL server when one is configured.",
    )
    postgres_url: SecretStr = Field(
        SecretStr(""),
        description="An existing PostgreSQL server, postgresql://user:password@host:port: our "
        "tables, the MLflow backend and the Prefect server's database live there (created if "
        "missing). Empty: SQLite files.",
    )
    postgres: Literal["", "local"] = Field(
        "",
        description="'local': `make up` starts a PostgreSQL server from the machine's binaries "
        "(data under <stack_dir>/postgres) and every store uses it.",
    )
    postgres_port: int = Field(
        5433, ge=1, le=65535, description="Port of the local PostgreSQL server."
    )
    heart_database: str = Field("heart", description="PostgreSQL database of our tables.")
    mlflow_database: str = Field("mlflow", description="PostgreSQL database of MLflow.")
    prefect_database: str = Field("prefect", description="PostgreSQL database of Prefect.")


class TrainingSettings(Seeded):
    """Nightly training: the search, the fixed folds, the promotion gate and the risk bands."""

    training_data: Path = Field(Path("data/heart.csv"), description="Seed training CSV.")
    other_hospitals_data: Path = Field(
        Path("data/heart_other_hospitals.csv"),
        description="Other hospitals' labelled rows (the contract's columns, the label and "
        "`hospital`): the model card reports each version's figures there; no such file: none.",
    )
    learn_from_scored_labels: bool = Field(
        True, description="Training adds labelled rows that scoring accepted to the seed data."
    )
    code_version: str = Field(
        "",
        description="Version recorded on training runs when the code is not a git checkout (the "
        "image sets it from its build argument); empty: the package version. In a checkout, the "
        "commit of the code that runs.",
    )
    max_evals: int = Field(40, ge=1, description="Hyperopt trials per training run.")
    cv_folds: int = Field(5, ge=2, description="Stratified folds per cross-validation repeat.")
    cv_repeats: int = Field(5, ge=1, description="Repeats of the cross-validation.")
    min_auc_gain: float = Field(
        0.0, ge=0.0, description="ROC AUC gain over the champion that counts as better."
    )
    max_brier_increase: float = Field(
        0.01, ge=0.0, description="Brier score a challenger may lose against the champion."
    )
    max_auc_loss: float = Field(
        0.005, ge=0.0, description="ROC AUC a challenger may lose against the champion."
    )
    max_subgroup_auc_loss: float = Field(
        0.03,
        ge=0.0,
        description="ROC AUC a challenger may lose against the champion for one patient subgroup "
        "(women, men, an age group).",
    )
    max_subgroup_brier_increase: float = Field(
        0.02,
        ge=0.0,
        description="Brier score a challenger may lose against the champion for one patient "
        "subgroup.",
    )
    min_source_rows: int = Field(
        30,
        ge=2,
        description="Labelled rows a data source or a patient subgroup needs for figures of its "
        "own in the promotion gate.",
    )
    band_min_sensitivity: float = Field(
        0.95,
        gt=0,
        lt=1,
        description='Training: the low risk band\'s cut-off keeps the sensitivity of "not low" '
        "at least this high on the out-of-fold risks.",
    )
    band_min_specificity: float = Field(
        0.90,
        gt=0,
        lt=1,
        description="Training: the high risk band's cut-off keeps its specificity at least this "
        "high on the out-of-fold risks.",
    )


class ScoringSettings(_Area):
    """Hourly scoring: when a file is taken, what a row may miss, how files are read."""

    settle_seconds: float = Field(
        30.0, ge=0, description="A file is picked up only once unchanged for this long."
    )
    max_missing_features: int = Field(
        4, ge=0, le=13, description="Most features a row may miss (and have imputed) to be scored."
    )
    reasons: bool = Field(
        True,
        description="Scoring: give each row its reasons. Off, a bulk re-score runs faster (the "
        "reasons cost about 30 % with a linear champion, several times the scoring with others).",
    )
    max_broken_line_share: float = Field(
        0.5,
        ge=0,
        le=1,
        description="A file whose lines with the wrong number of fields are more than this share "
        "of its rows is quarantined; below it, each such line is a rejected row.",
    )
    max_line_bytes: int = Field(
        64 << 20,
        ge=1 << 10,
        description="Longest line (or quoted value over several lines) read from an export; a "
        "longer one is a rejected row, never held in memory whole.",
    )
    max_decompressed_bytes: int = Field(
        2 << 30,
        ge=1 << 20,
        description="Most bytes a compressed export may unpack to; beyond it the file is "
        "quarantined (a gzip bomb costs a few seconds, never the machine's memory).",
    )
    max_file_attempts: int = Field(
        3,
        ge=1,
        description="A file that fails this many runs in a row (unreadable, or crashing the "
        "scorer) is quarantined with its history.",
    )
    claim_lease_seconds: float = Field(
        3600.0, gt=0, description="After this long a claim by a process on another host is stale."
    )
    scoring_threads: int = Field(2, ge=1, description="Batches predicted in parallel.")
    batch_bytes: int = Field(
        2 << 20, ge=1 << 10, description="CSV bytes read per batch (bounds memory per batch)."
    )
    dask_address: str = Field(
        "",
        description="A Dask scheduler (tcp://host:port): the score flow scores its files as tasks "
        "on that cluster. Empty: in the flow's own process.",
    )


class MonitoringSettings(Seeded):
    """Monitoring: the window, the checks' floors, the false-alarm budget, alerts, retraining."""

    min_window_rows: int = Field(
        100, ge=1, description="Fewer input rows are carried over instead of judged."
    )
    false_alarm_rate: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="Chance that a window from an unchanged population raises any alarm.",
    )
    max_drift_share: float = Field(0.3, description="Floor: most features that may drift.")
    max_number_drift: float = Field(
        0.1, description="Floor: most drift of a numeric feature (Wasserstein normed by its sd)."
    )
    max_code_drift: float = Field(
        0.07,
        description="Floor: most drift of a coded feature (Jensen-Shannon distance; 0.07 is about "
        "10 % of patients moved into the most common code).",
    )
    max_risk_drift: float = Field(
        0.1, description="Floor: most Wasserstein drift (normed) of the predicted risk."
    )
    max_missing_share: float = Field(0.1, description="Floor: most feature values imputed.")
    max_rejected_share: float = Field(0.05, description="Floor: most input rows rejected.")
    min_roc_auc: float = Field(0.75, description="Floor: least ROC AUC on labelled rows.")
    max_brier: float = Field(0.2, description="Floor: most Brier score on labelled rows.")
    min_labelled_rows: int = Field(
        50,
        ge=2,
        description="Labelled rows needed to judge quality; a patient subgroup's rows (women, "
        "men, an age group) needed to judge its risk distribution, and its labelled rows to judge "
        "its calibration.",
    )
    max_subgroup_calibration_gap: float = Field(
        0.1,
        gt=0,
        lt=1,
        description="Floor: most gap between a subgroup's observed disease rate and its mean "
        "risk, on its labelled rows.",
    )
    column_drift_level: float = Field(
        0.05, gt=0, lt=1, description="Level of a feature's drift flag counted by drift_share."
    )
    monitor_replicates: int = Field(
        20_000, ge=1000, description="No-change replicates per champion and window size."
    )
    quality_resamples: int = Field(
        4000, ge=100, description="Bootstrap resamples of the ROC AUC and Brier intervals."
    )
    calibration_cache: Path = Field(
        Path(".cache/calibration"), description="No-change replicates per champion and size."
    )
    reports_dir: Path = Field(
        UNSET_PATH, description="Monitoring HTML reports; default: <output_dir>/_reports."
    )
    evidently_workspace: Path = Field(
        UNSET_PATH,
        description="Evidently workspace (`make evidently-ui`); default: <output_dir>/_evidently.",
    )
    email_block: str = Field("heart-alerts", description="prefect-email credentials block name.")
    alert_to: str = Field("", description="Alert recipients, comma-separated; empty: no email.")
    alert_from: str = Field("heart-batch@localhost", description="Sender of alert emails.")
    smtp_timeout_seconds: float = Field(
        30.0,
        gt=0,
        description="Longest wait for the SMTP server to connect or answer; an alert not sent "
        "is kept and sent by the next monitor run.",
    )
    train_deployment: str = Field(
        "train-heart-risk/train",
        description="Deployment run on violation (flow/deployment); empty: no retraining.",
    )
    retrain_cooldown_hours: float = Field(
        24.0, ge=0, description="No second retraining trigger within this many hours."
    )

    # The whole system on one machine (`make up`): servers on 127.0.0.1, state under stack_dir.


class StackSettings(_Area):
    """The whole system on one machine (`make up`): servers on 127.0.0.1, state under stack_dir."""

    stack_dir: Path = Field(Path(".state"), description="Pid files, logs and servers' state.")
    bind_host: str = Field(
        "127.0.0.1",
        description="Address the Prefect, MLflow and PostgreSQL servers listen on; any other "
        "than 127.0.0.1 requires HEART_PREFECT_AUTH and HEART_MLFLOW_PASSWORD.",
    )
    prefect_auth: SecretStr = Field(
        SecretStr(""),
        description="user:password the Prefect server requires and its clients send "
        "(PREFECT_SERVER_API_AUTH_STRING, PREFECT_API_AUTH_STRING); empty: `make up` generates "
        "one into <stack_dir>/secrets/prefect-password. Only ever in the environment.",
    )
    mlflow_username: str = Field("admin", description="MLflow basic-auth user (the admin).")
    mlflow_password: SecretStr = Field(
        SecretStr(""), description="Its password: the MLflow server then requires basic auth."
    )
    prefect_port: int = Field(
        4200, ge=1, le=65535, description="Port of the Prefect server and UI."
    )
    mlflow_port: int = Field(
        5000, ge=1, le=65535, description="Port of the MLflow tracking server and UI."
    )
    evidently_port: int = Field(8000, ge=1, le=65535, description="Port of the Evidently UI.")
    mail_port: int = Field(
        1025, ge=1, le=65535, description="Port of the local mail sink (no HEART_SMTP_SERVER)."
    )
    work_pool: str = Field("heart-batch", description="Process work pool the workers serve.")
    workers: int = Field(
        1,
        ge=0,
        description="`make up`: workers on the pool (each its own machine in production); 0: "
        "the servers only, the workers run elsewhere (for example the image).",
    )
    dask_workers: int = Field(
        0, ge=0, description="`make up`: start a local Dask scheduler and this many workers."
    )
    dask_port: int = Field(
        8786, ge=1, le=65535, description="`make up`: port of the local Dask scheduler."
    )
    deployment_file: str = Field(
        "prefect.yaml",
        description="What `make up` deploys: prefect.yaml (clone from git) or deployment.yaml "
        "(this working tree).",
    )
    git_url: str = Field(
        "", description="Repository the worker clones (prefect.yaml); empty: this checkout."
    )
    git_branch: str = Field("", description="Branch it clones; empty: the checkout's branch.")
    smtp_server: str = Field(
        "", description="SMTP server of the email block; empty: the local mail sink."
    )
    smtp_port: int = Field(465, ge=1, le=65535, description="SMTP port (465 SSL, 587 STARTTLS).")
    smtp_type: Literal["SSL", "STARTTLS", "INSECURE"] = Field("SSL", description="SMTP security.")
    smtp_username: str = Field("", description="SMTP login; empty: no authentication.")
    smtp_password: SecretStr = Field(
        SecretStr(""), description="SMTP password (an app password for Gmail); never in git."
    )
    allowed_hosts: str = Field(
        "",
        description="Host names and addresses other machines use to reach `make up`'s MLflow "
        "server when it listens beyond 127.0.0.1 (comma-separated; empty: this machine's name, "
        "its full name and the addresses of its network interfaces).",
    )


class Settings(  # pylint: disable=too-many-ancestors  # one base per area, by design
    StoreSettings, TrainingSettings, ScoringSettings, MonitoringSettings, StackSettings
):
    """Every area's settings in one object, read from the environment (docs/settings.md).

    Each area's functions take their own area's type, so a test builds only what it needs; an
    entry point builds this one object, and ``with_overrides`` validates a flow's parameters.
    """

    def with_overrides(self, **overrides: Any) -> Self:
        """These settings with some replaced (None means "keep"), validated like the environment.

        Raises:
            InvalidSettingError: An override is outside its range; the message names the
                variable, the value and what is allowed.
        """
        updates = {name: value for name, value in overrides.items() if value is not None}
        unknown = sorted(set(updates) - set(type(self).model_fields))
        if unknown:
            raise InvalidSettingError(f"No such setting: {', '.join(unknown)}")
        try:
            return type(self).model_validate({**self.model_dump(), **updates})
        except ValidationError as error:
            raise InvalidSettingError(self._explain(error, updates)) from None

    def _explain(self, error: ValidationError, updates: dict[str, Any]) -> str:
        problems = []
        for problem in error.errors():
            name = str(problem["loc"][0])
            field = type(self).model_fields.get(name) or FieldInfo()
            bounds = allowed_range(field)
            problems.append(
                f"{variable_name(name, field)}={updates.get(name)!r} is not allowed: "
                f"{problem['msg'].lower()}{f' (allowed: {bounds})' if bounds else ''}. "
                f"{field.description}"
            )
        return "Invalid setting: " + "; ".join(problems)

    @model_validator(mode="after")
    def _resolve_paths(self) -> "Settings":
        self.home = self.home.expanduser().resolve()
        self.training_data = self.home / self.training_data
        self.other_hospitals_data = self.home / self.other_hospitals_data
        self.input_dir = self.home / self.input_dir
        self.output_dir = self.home / self.output_dir
        self.reports_dir = self.home / _or(self.reports_dir, self.output_dir / "_reports")
        self.evidently_workspace = self.home / (
            _or(self.evidently_workspace, self.output_dir / "_evidently")
        )
        self.calibration_cache = self.home / self.calibration_cache
        self.stack_dir = self.home / self.stack_dir
        server = self.postgres_server_url
        if server and not self.database_url:
            self.database_url = store_url(server, self.heart_database)
        if server and not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = store_url(server, self.mlflow_database)
        if not self.database_url:
            self.database_url = f"sqlite:///{self.home / 'heart.db'}"
        if self.dask_workers and not self.dask_address:
            self.dask_address = f"tcp://127.0.0.1:{self.dask_port}"
        if not self.mlflow_tracking_uri:
            self.mlflow_tracking_uri = f"sqlite:///{self.home / 'mlflow.db'}"
        if "://" not in self.artifact_location:
            self.artifact_location = str(self.home / self.artifact_location)
        return self

    @property
    def local_postgres(self) -> LocalPostgres | None:
        """The PostgreSQL server `make up` starts (``HEART_POSTGRES=local``), if any."""
        if self.postgres != "local":
            return None
        return LocalPostgres(
            self.stack_dir / "postgres", self.postgres_port, self.client_host, self.bind_host
        )

    @property
    def postgres_server_url(self) -> str:
        """postgresql://user:password@host:port of the configured server, or ''."""
        local = self.local_postgres
        return local.server_url() if local else self.postgres_url.get_secret_value()

    @property
    def postgres_databases(self) -> list[str]:
        """The databases a PostgreSQL server holds for us: ours, MLflow's, Prefect's, and the
        MLflow users' when the tracking server requires basic auth."""
        users = [self.mlflow_users_database] if self.mlflow_password.get_secret_value() else []
        return [self.heart_database, self.mlflow_database, self.prefect_database, *users]

    @property
    def mlflow_users_database(self) -> str:
        """PostgreSQL database of the MLflow server's basic-auth users."""
        return f"{self.mlflow_database}_auth"

    @property
    def exposed(self) -> bool:
        """True when `make up`'s servers listen beyond this machine."""
        return self.bind_host not in ("127.0.0.1", "localhost", "::1")

    @property
    def client_host(self) -> str:
        """Where this machine reaches `make up`'s servers: 127.0.0.1, unless they listen on one
        other address only."""
        everywhere = self.bind_host in ("0.0.0.0", "::")
        return "127.0.0.1" if everywhere or not self.exposed else self.bind_host

    @property
    def tracking_store_is_database(self) -> bool:
        """True when MLflow talks to a database directly (no tracking server)."""
        return not self.mlflow_tracking_uri.startswith(("http://", "https://", "databricks"))


AREAS: tuple[type[BaseSettings], ...] = (
    StoreSettings,
    TrainingSettings,
    ScoringSettings,
    MonitoringSettings,
    StackSettings,
)
"""The areas of ``Settings``, in the order of the reference page."""


def reference_page() -> str:
    """docs/settings.md: every variable of every area, its default, range and meaning."""
    lines = [
        "# Settings",
        "",
        "<!-- Generated from heart_batch/settings.py by `make docs`; a test keeps it current. -->",
        "",
        "Every setting is an environment variable (flow and deployment parameters of the same name "
        "override it, validated the same way). Relative paths are resolved against `HEART_HOME`.",
    ]
    for area in AREAS:
        lines += ["", f"## {area.__name__.removesuffix('Settings')}", ""]
        lines += [" ".join(line.strip() for line in (area.__doc__ or "").splitlines()), ""]
        lines += ["| variable | default | allowed | meaning |", "|---|---|---|---|"]
        for name, field in area.model_fields.items():
            lines.append(
                f"| `{variable_name(name, field)}` | {_shown_default(field)} | "
                f"{allowed_range(field) or _choices(field)} | {field.description} |"
            )
    return "\n".join(lines) + "\n"


def _shown_default(field: FieldInfo) -> str:
    default = field.default
    if isinstance(default, SecretStr):
        default = default.get_secret_value()
    if isinstance(default, Path) and default.is_absolute():
        return "the project checkout"
    if default is None or default in ("", UNSET_PATH):
        return "empty"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    return f"`{default}`"


def _choices(field: FieldInfo) -> str:
    choices = getattr(field.annotation, "__args__", ())
    return ", ".join(
        f"`{choice}`" if choice else "empty" for choice in choices if isinstance(choice, str)
    )
