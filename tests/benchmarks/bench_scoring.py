"""Scoring benchmark: throughput against the I/O floor and the model alone, every kind of model's
best trial scored like a champion, start-up, peak memory.

Run with `make bench` (needs a champion: `make train`). Prints figures and draws
docs/scoring_seconds.png; asserts nothing.

    python -m tests.benchmarks.bench_scoring [--rows 1000000] [--big-rows 5000000] [--workdir DIR]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zlib
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from matplotlib.figure import Figure

from heart_batch.contract.features import FEATURE_NAMES
from heart_batch.contract.validation import ValidatedRows, validate_rows
from heart_batch.model.explanations import compile_explainer
from heart_batch.model.pipeline import build_pipeline
from heart_batch.model.risk import numpy_preprocessing
from heart_batch.scoring.dialect import FileRejectedError, detect_dialect, open_text
from heart_batch.scoring.export import Export
from heart_batch.scoring.intake import load_scoring_model
from heart_batch.scoring.reader import fast_batches, tolerant_batches
from heart_batch.scoring.scorer import ScoringModel, score_file
from heart_batch.settings import ScoringSettings, Settings, quiet_tools
from heart_batch.training.data import load_training_data

HEAVY_MODULES = ("pandas", "sklearn", "mlflow", "pyarrow", "evidently")
REPEATS = 5
REASON_ROWS = 20_000
"""Rows whose reasons each kind of model gives in the per-kind figures (TreeSHAP is slow)."""
PLOT = Path("docs/scoring_seconds.png")


def make_input(path: Path, rows: int, seed_csv: Path) -> Path:
    """A CSV of ``rows`` patients sampled from the seed data, each with a patient_id."""
    if path.exists():
        return path
    seed = pd.read_csv(seed_csv)
    sample = seed.iloc[np.random.default_rng(0).integers(0, len(seed), rows)]
    sample = sample.reset_index(drop=True)
    sample.insert(0, "patient_id", [f"P{i:08d}" for i in range(rows)])
    pa_csv.write_csv(pa.Table.from_pandas(sample, preserve_index=False), path)
    return path


def with_broken_line(source: Path, target: Path) -> Path:
    """``source`` with one more line at its end that has a field too many."""
    if not target.exists():
        content = source.read_bytes()
        last_line = content.rstrip(b"\n").rsplit(b"\n", 1)[-1]
        target.write_bytes(content + last_line + b",surplus\n")
    return target


def with_huge_field(source: Path, target: Path, field_bytes: int = 10 << 20) -> Path:
    """``source`` with a notes column, one row's notes ``field_bytes`` long (a pasted letter),
    and one broken line at its end."""
    if not target.exists():
        lines = source.read_bytes().rstrip(b"\n").split(b"\n")
        middle = len(lines) // 2
        notes = [b",notes"] + [b","] * (len(lines) - 1)
        notes[middle] = b"," + b"x" * field_bytes
        body = b"\n".join(line + note for line, note in zip(lines, notes))
        target.write_bytes(body + b"\n" + lines[-1] + b",,surplus\n")
    return target


def gzip_bomb(target: Path, unpacked: int = 3 << 30) -> Path:
    """A header, then one line of ``unpacked`` bytes of digits, gzip-compressed (a few MB)."""
    if not target.exists():
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        piece = b"9" * (1 << 24)
        with target.open("wb") as stream:
            stream.write(compressor.compress(b"age,sex,cp,trtbps,chol,fbs,restecg,thalachh,"))
            stream.write(compressor.compress(b"exng,oldpeak,slp,caa,thall\n"))
            for _ in range(unpacked // len(piece)):
                stream.write(compressor.compress(piece))
            stream.write(compressor.flush())
    return target


def score_path(source: Path, file_id: str, output_dir: Path, model, options) -> object:
    """``score_file`` of a path, as intake calls it (the claim's hash taken before, untimed
    by the callers that time only the scoring)."""
    with Export(source) as export:
        return score_file(export, export.checksum(), file_id, output_dir, model, options)


def reader_seconds(batches) -> float:
    """Wall seconds to exhaust a reader's batches."""
    return timed(lambda: sum(batch.table.num_rows for batch in batches))


def timed(action) -> float:
    """Wall seconds of one call."""
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def floor_seconds(source: Path, target: Path, options: ScoringSettings) -> float:
    """Read the CSV with pyarrow and write it as parquet, streaming, no model."""

    def copy():
        reader = pa_csv.open_csv(
            source, read_options=pa_csv.ReadOptions(block_size=options.batch_bytes)
        )
        with pq.ParquetWriter(target, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)

    return timed(copy)


def model_seconds(source: Path, model: ScoringModel) -> tuple[float, float]:
    """The champion alone on the same rows, validated and in memory: its pipeline's predict_proba
    on a frame (once: it is slow), and the risk function scoring uses (``model.scorer``) on the
    feature matrix (the median of ``REPEATS``)."""
    rows = _validated_rows(source)
    pipeline = timed(lambda: model.pipeline.predict_proba(rows.features))
    return pipeline, statistics.median(
        timed(lambda: model.risk(rows.matrix)) for _ in range(REPEATS)
    )


def preprocessing_seconds(source: Path, model: ScoringModel) -> tuple[float, float]:
    """Imputation, scaling, one-hot encoding and indicators of the same rows: the pipeline's
    ColumnTransformer, and the identical matrix on numpy arrays (what nonlinear models get)."""
    rows = _validated_rows(source)
    preprocess = model.pipeline.named_steps["preprocess"]
    preprocessing = numpy_preprocessing(preprocess)
    return timed(lambda: preprocess.transform(rows.features)), statistics.median(
        timed(lambda: preprocessing(rows.matrix)) for _ in range(REPEATS)
    )


def _validated_rows(source: Path) -> ValidatedRows:
    return validate_rows(pd.read_csv(source, usecols=FEATURE_NAMES), len(FEATURE_NAMES))


def peak_rss_mb(source: Path, workdir: Path) -> float:
    """Peak RSS of a fresh process that loads the champion and scores ``source``."""
    return scored_in_a_fresh_process(source, workdir)["peak_rss_mb"]


def scored_in_a_fresh_process(source: Path, workdir: Path) -> dict:
    """Peak RSS, outcome and scoring seconds of a fresh process that loads the champion and
    scores ``source``."""
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "tests.benchmarks.bench_scoring",
            "--rss-of",
            str(source),
            "--workdir",
            str(workdir),
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.splitlines()[-1])


def startup_figures() -> dict[str, float]:
    """Seconds of each start-up cost, each in a fresh process."""
    probe = (
        "import time; t = time.perf_counter(); import heart_batch.scoring.intake as i; "
        "from heart_batch.settings import Settings; imported = time.perf_counter() - t; "
        "t = time.perf_counter(); i.load_scoring_model(Settings()); "
        "print(imported, time.perf_counter() - t)"
    )
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    imports, model_load = map(float, out.stdout.split()[-2:])
    return {"imports (heart_batch, pandas, sklearn, mlflow)": imports, "model load": model_load}


def idle_run() -> tuple[float, list[str]]:
    """A scoring flow run with an empty input folder: wall time and heavy modules it imported."""
    probe = (
        "import json, sys; from flows.score import score; score(); "
        f"print(json.dumps([m for m in {HEAVY_MODULES!r} if m in sys.modules]))"
    )
    with tempfile.TemporaryDirectory() as home:
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", probe],
            check=True,
            capture_output=True,
            text=True,
            env={**_environment(), "HEART_HOME": home},
        )
        seconds = time.perf_counter() - start
    return seconds, json.loads(out.stdout.strip().splitlines()[-1])


def _environment() -> dict[str, str]:
    """This environment with the MLflow store pinned (HEART_HOME changes in the child)."""
    return {**os.environ, "MLFLOW_TRACKING_URI": Settings().mlflow_tracking_uri}


def measure_rss(source: Path, workdir: Path) -> None:
    """Child process of ``peak_rss_mb``: score and print the peak RSS and the outcome as JSON."""
    settings = Settings()
    model = load_scoring_model(settings)
    start = time.perf_counter()
    try:
        scored = score_path(source, "rss", workdir / "rss", model, settings)
        outcome = f"{scored.counts.scored} scored, {scored.counts.rejected} rejected"
    except FileRejectedError as rejection:
        outcome = f"quarantined: {rejection.problem.problem}"
    seconds = time.perf_counter() - start
    print(
        json.dumps({"peak_rss_mb": _peak_rss_kb() / 1024, "outcome": outcome, "seconds": seconds})
    )


def _peak_rss_kb() -> int:
    """VmHWM of this process. Not ru_maxrss: Linux carries that over from the parent across exec."""
    status = Path("/proc/self/status").read_text(encoding="ascii")
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1])


def main() -> None:
    """Run every measurement and print a report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=5_000_000)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "heart-bench")
    parser.add_argument("--rss-of", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    quiet_tools()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.rss_of:
        measure_rss(args.rss_of, args.workdir)
        return

    settings = Settings()
    options = settings
    model = load_scoring_model(settings)
    source = make_input(
        args.workdir / f"patients_{args.rows}.csv", args.rows, settings.training_data
    )
    big = make_input(
        args.workdir / f"patients_{args.big_rows}.csv", args.big_rows, settings.training_data
    )
    print(
        f"champion {model.name} v{model.version}; {options}; "
        f"input {source.stat().st_size / 1e6:.0f} MB"
    )

    full, floor = report_throughput(source, args.workdir, model, options, args.rows)
    metadata = pq.ParquetFile(args.workdir / "out" / "predictions_bench.parquet").metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    print(f"  output: {len(sizes)} row groups of at most {max(sizes):,} rows")
    report_broken_line(source, args.workdir, model, options, full)
    kinds = report_kinds(source, args.workdir, settings, options, floor)
    bars = {"floor (pyarrow CSV read + parquet write)": floor}
    plot_seconds(bars | {f"champion: {model.scorer}": full} | kinds, args.rows, PLOT)

    print("\nstart-up, each in a fresh process")
    for name, seconds in startup_figures().items():
        print(f"  {name:48s} {seconds:6.2f} s")
    idle_seconds, heavy = idle_run()
    print(
        f"  hourly run with no new file (Prefect flow, ephemeral API) {idle_seconds:6.2f} s; "
        f"heavy modules imported: {heavy or 'none'}"
    )

    small_rss, big_rss = peak_rss_mb(source, args.workdir), peak_rss_mb(big, args.workdir)
    print("\npeak RSS of a fresh process scoring one file (imports and model included)")
    print(f"  {args.rows:>10,} rows  {small_rss:7.0f} MB")
    print(
        f"  {args.big_rows:>10,} rows  {big_rss:7.0f} MB   ratio {big_rss / small_rss:.2f} "
        "(targets: < 1024 MB, <= 1.2)"
    )


def report_throughput(
    source: Path, workdir: Path, model, options, rows: int
) -> tuple[float, float]:
    """Print the floor, the model alone and the full path on ``source``; return the full path's
    seconds and the floor's.

    The floor and the full path are timed ``REPEATS`` times, alternating, and their medians
    compared, so that a moment of load on the machine does not decide the ratio.
    """
    plain = replace(model, explainer=None, bands=None)
    floors, fulls, plains = [], [], []
    for _ in range(REPEATS):
        floors.append(floor_seconds(source, workdir / "floor.parquet", options))
        fulls.append(timed(lambda: score_path(source, "bench", workdir / "out", model, options)))
        plains.append(timed(lambda: score_path(source, "plain", workdir / "out", plain, options)))
    floor, full, without = (statistics.median(times) for times in (floors, fulls, plains))
    pipeline_alone, alone = model_seconds(source, model)
    transform, numpy_transform = preprocessing_seconds(source, model)
    explained = reasons_seconds(source, model)
    print(f"\n{rows:,} rows, after start-up; scoring computes the risk by: {model.scorer}")
    print(f"  reasons by {model.explainer.method if model.explainer else 'nothing'}")
    print(f"  (medians of {REPEATS} runs; the floor and the two full paths alternating)")
    for label, seconds in (
        ("floor (pyarrow CSV read + parquet write)", floor),
        ("preprocessing, the pipeline's ColumnTransformer", transform),
        ("preprocessing, the same matrix on numpy arrays", numpy_transform),
        ("model alone, the pipeline's predict_proba", pipeline_alone),
        ("model alone, as scoring computes it", alone),
        ("reasons alone (contributions and top three)", explained),
        ("full path without reasons and bands", without),
        ("full scoring path", full),
    ):
        print(f"  {label:48s} {seconds:7.2f} s  {rows / seconds:12,.0f} rows/s")
    print(f"  {'ratio full / floor':48s} {full / floor:7.2f}   (target <= 3)")
    print(f"  {'ratio full / (floor + model alone)':48s} {full / (floor + alone):7.2f}")
    print(f"  {'reasons and bands cost':48s} {full / without - 1:+7.1%}   (target <= +10 %)")
    return full, floor


def reasons_seconds(source: Path, model: ScoringModel) -> float:
    """Seconds of the reasons of every row of ``source`` in one matrix (median of
    ``REPEATS``); 0 without an explainer."""
    if model.explainer is None:
        return 0.0
    rows = _validated_rows(source)

    def explain():
        model.explainer.reasons(rows.matrix)

    return statistics.median(timed(explain) for _ in range(REPEATS))


def best_trial_per_kind(settings: Settings) -> dict[str, tuple[dict, float]]:
    """Per kind of model (family, and kernel for SVMs), the params and CV ROC AUC of its best
    trial in the tracking store's search runs."""
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    runs = mlflow.search_runs(
        experiment_names=[settings.experiment_name],
        filter_string="attributes.run_name LIKE 'trial-%'",
        order_by=["metrics.cv_roc_auc DESC"],
    )
    best: dict[str, tuple[dict, float]] = {}
    for _, run in runs.iterrows():
        params = {
            key.removeprefix("params."): _param_value(value)
            for key, value in run.items()
            if key.startswith("params.") and isinstance(value, str)
        }
        kind = params["family"] + (f" ({params['kernel']})" if "kernel" in params else "")
        best.setdefault(kind, (params, run["metrics.cv_roc_auc"]))
    return best


def _param_value(text: str):
    try:
        return float(text)
    except ValueError:
        return text


def report_kinds(
    source: Path, workdir: Path, settings: Settings, options, floor: float
) -> dict[str, float]:
    """Each kind's best trial, fitted on the training data and scored as a champion would be
    (without reasons), and its reasons alone on ``REASON_ROWS`` rows; return each kind's
    full-path seconds."""
    data = load_training_data(settings.training_data)
    sample = _validated_rows(source).matrix[:REASON_ROWS]
    print("\nthe best trial of each kind, fitted on the training data and scored like a champion")
    seconds = {}
    for kind, (params, roc_auc) in sorted(best_trial_per_kind(settings).items()):
        pipeline = build_pipeline(params, settings.seed).fit(data.features, data.target)
        model = ScoringModel(kind, "bench", pipeline)
        full = timed(lambda m=model: score_path(source, "kind", workdir / "kinds", m, options))
        explainer = compile_explainer(pipeline, data.reference)
        explained = timed(lambda e=explainer: e.reasons(sample))
        print(
            f"  {kind:30s} ROC AUC {roc_auc:.4f}  full path {full:6.2f} s  "
            f"{full / floor:5.1f}x the floor   scored by {model.scorer}\n"
            f"  {'':30s} reasons {len(sample) / explained:10,.0f} rows/s by {explainer.method}"
        )
        seconds[f"{kind} (ROC AUC {roc_auc:.4f})"] = full
    return seconds


def plot_seconds(bars: dict[str, float], rows: int, path: Path) -> None:
    """A horizontal bar per way of handling the rows, with its seconds."""
    figure = Figure(figsize=(9, 0.45 * len(bars) + 1.2))
    axes = figure.add_subplot()
    labels, seconds = list(bars), list(bars.values())
    axes.barh(labels, seconds, color=["grey", *["tab:blue"] * (len(bars) - 1)])
    axes.invert_yaxis()
    for position, value in enumerate(seconds):
        axes.text(value, position, f" {value:.2f} s", va="center", fontsize=8)
    axes.set_xscale("log")
    axes.set_xlim(right=max(seconds) * 2)
    axes.set_xlabel(f"seconds to score {rows:,} rows (log scale)")
    axes.set_title("make bench: the full scoring path per kind of model")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    print(f"  plot: {path}")


def report_broken_line(source: Path, workdir: Path, model, options, clean_seconds: float) -> None:
    """The same file with one broken line at its end (the fast reader gives up at the end and
    the tolerant reader reads it all again), then with a 10 MiB field as well, and a gzip bomb:
    time and peak memory of each."""
    broken = with_broken_line(source, workdir / "patients_broken_line.csv")
    with Export(source) as export:
        dialect = detect_dialect(export)
        fast = reader_seconds(
            fast_batches(open_text(export, "utf-8", 1 << 40).stream, dialect, options.batch_bytes)
        )
        tolerant = reader_seconds(
            tolerant_batches(open_text(export, "utf-8", 1 << 40).stream, dialect, 64 << 20)
        )
    full = timed(lambda: score_path(broken, "broken", workdir / "out", model, options))
    print("\nthe same rows with one broken line at the end (the worst case: read twice)")
    print(f"  fast reader alone, clean file              {fast:7.2f} s")
    print(
        f"  tolerant reader alone                      {tolerant:7.2f} s   ({tolerant / fast:.1f}x)"
    )
    print(
        f"  full scoring path                          {full:7.2f} s   "
        f"({full / clean_seconds:.2f}x the clean file)"
    )
    print("\nhostile files, each scored in a fresh process (imports and model included)")
    for label, path in (
        ("clean file", source),
        ("one broken line and one 10 MiB field", with_huge_field(source, workdir / "huge.csv")),
        ("gzip bomb: 3 MB packed, 3 GiB of one line", gzip_bomb(workdir / "bomb.csv.gz")),
    ):
        figures = scored_in_a_fresh_process(path, workdir)
        print(
            f"  {label:42s} {figures['seconds']:7.2f} s  peak RSS "
            f"{figures['peak_rss_mb']:6.0f} MB  {figures['outcome']}"
        )


if __name__ == "__main__":
    main()
