"""heart-batch: the library behind the train, score and monitor flows. It never imports Prefect.

Where to look, by question (docs/architecture.md says why it is cut this way):

contract/     What a valid row is and what we write.
              features (the 13 inputs and their domains), validation (which rows pass, why the
              others are rejected), columns (every output column, the schemas, the label
              convention ``output`` = 1 for no disease, and its inverse), words (how our
              messages count things).
model/        The fitted pipeline and what we compute from it.
              pipeline (preprocessing, model families, probability calibration), directed
              (classifiers held to the features' established directions), risk (a champion's
              kind, and a linear one in closed form), explanations (each row's reasons), bands
              (the risk bands' cut-offs).
training/     The nightly run. data (seed CSV plus labelled scored rows), cross_validation
              (fixed folds), tuning (hyperopt), selection (one-standard-error rule), promotion
              (the gate: new, refresh, incumbent), figures (ROC, reliability), run (one parent
              MLflow run), summary (the run's name, the version's description, its one line).
registry/     MLflow. champion (aliases, loading, references, registering), tracking (stores,
              the code's version).
scoring/      The hourly run. inbox (the input folder), export (one immutable version of a file),
              dialect (encoding, separator, compression), reader (fast and tolerant readers),
              scorer (one file to parquet), intake (one file's life: claim, score, record,
              archive or quarantine), summary (what a run did, per file and in one line).
monitoring/   The monitor run. checks (window, checks, decisions), drift (distances),
              no_change (no-change limits by window size), quality (ROC AUC and Brier with
              intervals), report (checks table, HTML report, Evidently snapshot), alerts
              (messages, cooldown), summary (the run's one line and artifact), history (SQL
              tables), workspace (Evidently UI).
storage/      Our database. database (engines, Alembic), migrations/, ledger (exactly-once
              claims), urls (store URLs, the local PostgreSQL server).
settings      Every HEART_* variable, one class per area (docs/settings.md).

The flows (``flows/``) wire these into Prefect; the local stack (``make up``) is ``ops/``.
"""
