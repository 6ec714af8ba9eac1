"""The score flow end to end: real files, a real temporary MLflow registry and ledger database."""

import csv
import gzip
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import pandas as pd
import psutil
import pytest
from prefect.artifacts import Artifact

from flows.score import score
from heart_batch.contract.columns import PREDICTION_SCHEMA
from heart_batch.model.explanations import LINEAR
from heart_batch.registry.champion import NoChampionError
from heart_batch.storage.ledger import Ledger
from tests.conftest import REPO_ROOT, SEED_DATA

pytestmark = [pytest.mark.integration]

# Flows called with return_state=True return a State, which pylint cannot infer.
# pylint: disable=no-member


def seed_rows(count: int, start: int = 0) -> pd.DataFrame:
    """``count`` seed patients as text, with a patient_id and without the label."""
    rows = pd.read_csv(SEED_DATA, dtype=str, keep_default_na=False)
    rows = rows.iloc[[(start + i) % len(rows) for i in range(count)]].drop(columns="output")
    return rows.reset_index(drop=True).assign(patient_id=[f"P{start + i}" for i in range(count)])


def write(frame: pd.DataFrame, path):
    frame.to_csv(path, index=False)
    return path


def data_rows(path) -> int:
    with open(path, newline="", encoding="utf-8") as stream:
        return sum(1 for _ in csv.reader(stream)) - 1


def outputs(folder, prefix: str) -> dict[str, pd.DataFrame]:
    return {path.name: pd.read_parquet(path) for path in sorted(folder.glob(f"{prefix}_*.parquet"))}


@pytest.fixture
def mixed_inbox(settings):
    """A good file, one with bad rows, garbage, a duplicate and a labelled file."""
    inbox = settings.input_dir
    inbox.mkdir()
    write(seed_rows(20), inbox / "good.csv")
    bad = seed_rows(10, start=40)
    bad.loc[2, "age"], bad.loc[5, "cp"], bad.loc[7, "chol"] = "300", "9", "n/a-ish"
    write(bad, inbox / "bad_rows.csv")
    (inbox / "garbage.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00binary")
    (inbox / "duplicate.csv").write_bytes((inbox / "good.csv").read_bytes())
    labelled = pd.read_csv(SEED_DATA, dtype=str).iloc[100:115]
    labelled.columns = [f" {name.upper()} " for name in labelled.columns]
    write(labelled, inbox / "labelled.csv")
    return {
        path.name: data_rows(path) for path in inbox.glob("*.csv") if path.name != "garbage.csv"
    }


def test_a_mixed_folder_gives_exactly_the_expected_outputs(
    prefect_server, champion, settings, mixed_inbox
):  # pylint: disable=unused-argument
    summary = score(settle_seconds=0)

    statuses = {outcome.source_name: outcome.status for outcome in summary.files}
    assert statuses == {
        "good.csv": "scored",
        "bad_rows.csv": "scored",
        "garbage.csv": "quarantined",
        "duplicate.csv": "duplicate",
        "labelled.csv": "scored",
    }
    predictions = outputs(settings.output_dir, "predictions")
    rejected = outputs(settings.output_dir / "_rejected", "rejected")
    assert len(predictions) == 3 and len(rejected) == 1
    for source in ("good.csv", "bad_rows.csv", "labelled.csv"):
        scored = next(f for f in predictions.values() if f["source_file"].iloc[0] == source)
        refused = [f for f in rejected.values() if f["source_file"].iloc[0] == source]
        assert len(scored) + sum(len(f) for f in refused) == mixed_inbox[source], source
        assert set(scored["model_version"]) == {champion}
    bad = next(iter(rejected.values()))
    assert bad["source_row"].tolist() == [3, 6, 8]
    assert bad["reason"].tolist() == [
        "age=300 outside 1 to 120 years",
        "cp=9 outside 0=asymptomatic, 1=atypical angina, 2=non-anginal pain, 3=typical angina",
        "chol='n/a-ish' is not a number",
    ]
    labelled = next(f for f in predictions.values() if f["source_file"].iloc[0] == "labelled.csv")
    assert labelled["output"].notna().all() and labelled["patient_id"].isna().all()
    everything = pd.read_parquet(settings.output_dir)
    assert len(everything) == sum(len(frame) for frame in predictions.values())
    assert list(everything.columns) == PREDICTION_SCHEMA.names
    assert everything["risk"].notna().all()

    inbox = settings.input_dir
    assert not list(inbox.glob("*.csv"))
    assert {p.name for p in (inbox / "processed").iterdir()} == set(mixed_inbox)
    report = json.loads((inbox / "quarantine" / "garbage.csv.error.json").read_text())
    assert report["problem"].startswith("not a text file: binary data")
    artifact = Artifact.get("scoring-run")
    summary = (
        "3 files scored with v1: 42 rows scored, 3 rejected; 1 file already scored (archived); "
        "1 file quarantined (input/quarantine/)"
    )
    assert f"**{summary}**" in artifact.data and artifact.description.startswith("v1: 3 files")

    modified = {name: path.stat().st_mtime_ns for name, path in _output_files(settings)}
    again = score(settle_seconds=0, return_state=True)
    assert not again.result().files
    assert again.message == f"Nothing to score in {settings.input_dir}"
    assert modified == {name: path.stat().st_mtime_ns for name, path in _output_files(settings)}


def _output_files(settings):
    return [(path.name, path) for path in settings.output_dir.iterdir()]


def test_without_a_champion_the_run_fails_at_once_and_touches_nothing(
    prefect_server, settings
):  # pylint: disable=unused-argument
    settings.input_dir.mkdir()
    write(seed_rows(5), settings.input_dir / "waiting.csv")
    state = score(settle_seconds=0, return_state=True)
    assert state.is_failed()
    with pytest.raises(NoChampionError, match="Run training first"):
        state.result()
    assert [p.name for p in settings.input_dir.iterdir()] == ["waiting.csv"]
    assert not settings.output_dir.exists()


def test_a_file_still_being_copied_is_left_for_a_later_run(
    prefect_server, champion, settings, caplog
):  # pylint: disable=unused-argument
    settings.input_dir.mkdir()
    write(seed_rows(5), settings.input_dir / "copying.csv")
    copied = settings.input_dir.joinpath("copying.csv").stat().st_mtime
    summary = score(settle_seconds=600)
    assert (summary.files, summary.settling) == ([], 1)
    assert (settings.input_dir / "copying.csv").exists()
    ready_at = datetime.fromtimestamp(copied + 600, timezone.utc)
    messages = [record.getMessage() for record in caplog.records]
    assert any(
        message.startswith("copying.csv: changed less than 600 s ago")
        and f"the first run after {ready_at:%H:%M:%S} UTC scores it" in message
        for message in messages
    )
    assert any("Nothing to score" in m and "1 file waiting to settle" in m for m in messages)
    assert not any("No new files" in message for message in messages)


def test_with_reasons_off_rows_are_scored_without_reasons(
    prefect_server, champion, settings, monkeypatch, caplog
):  # pylint: disable=unused-argument
    settings.input_dir.mkdir()
    write(seed_rows(20), settings.input_dir / "bulk.csv")
    monkeypatch.setenv("HEART_REASONS", "false")
    assert [outcome.status for outcome in score(settle_seconds=0).files] == ["scored"]
    write(seed_rows(20, start=20), settings.input_dir / "daily.csv")
    monkeypatch.delenv("HEART_REASONS")
    assert [outcome.status for outcome in score(settle_seconds=0).files] == ["scored"]

    bulk, daily = (
        next(
            f
            for f in outputs(settings.output_dir, "predictions").values()
            if f["source_file"].iloc[0] == source
        )
        for source in ("bulk.csv", "daily.csv")
    )
    assert bulk["reasons"].isna().all() and bulk["risk"].notna().all()
    assert daily["reasons"].map(len).sum() > len(daily)
    messages = [record.getMessage() for record in caplog.records]
    assert sum("reasons: off (HEART_REASONS=false))" in m for m in messages) == 1


def run_in_subprocess(prefect_api_url, settings, extra_env=None) -> subprocess.Popen:
    """A scoring flow run in its own process, reporting to the test's Prefect server."""
    script = (
        "import json; from flows.score import score; summary = score(settle_seconds=0); "
        "print(json.dumps([[o.source_name, o.status] for o in summary.files]))"
    )
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_api_url,
        "HEART_HOME": str(settings.home),
        **(extra_env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


@pytest.mark.slow
def test_a_run_killed_mid_file_is_finished_by_the_next_run(
    prefect_server, champion, settings
):  # pylint: disable=unused-argument
    settings.input_dir.mkdir()
    rows = 300_000
    source = write(seed_rows(rows), settings.input_dir / "big.csv")
    victim = run_in_subprocess(prefect_server, settings, {"HEART_BATCH_BYTES": "65536"})
    deadline = time.monotonic() + 120
    partial = []
    while time.monotonic() < deadline and not partial:
        partial = [
            p for p in settings.output_dir.glob(".predictions_*.tmp") if p.stat().st_size > 50_000
        ]
        time.sleep(0.01)
    assert partial, "the run never started writing"
    victim.send_signal(signal.SIGKILL)
    victim.wait()

    assert not list(settings.output_dir.glob("predictions_*.parquet"))
    assert source.exists()
    summary = score(settle_seconds=0)
    assert [o.status for o in summary.files] == ["scored"]
    (predictions,) = outputs(settings.output_dir, "predictions").values()
    assert len(predictions) == rows and predictions["source_row"].is_unique
    assert not list(settings.output_dir.glob(".*.tmp"))
    records = (
        Ledger(settings.database_url)
        .engine.connect()
        .exec_driver_sql("select status, rows_scored from scored_files")
        .all()
    )
    assert records == [("scored", rows)]


@pytest.mark.slow
def test_two_concurrent_runs_score_each_file_once(
    prefect_server, champion, settings
):  # pylint: disable=unused-argument
    settings.input_dir.mkdir()
    names = {f"file_{i}.csv" for i in range(8)}
    for i, name in enumerate(sorted(names)):
        write(seed_rows(20_000, start=i), settings.input_dir / name)
    runs = [run_in_subprocess(prefect_server, settings) for _ in range(2)]
    results = [json.loads(run.communicate(timeout=300)[0].strip().splitlines()[-1]) for run in runs]

    scored_by = [{name for name, status in result if status == "scored"} for result in results]
    assert scored_by[0].isdisjoint(scored_by[1])
    assert scored_by[0] | scored_by[1] == names
    predictions = outputs(settings.output_dir, "predictions")
    assert len(predictions) == 8 and all(len(frame) == 20_000 for frame in predictions.values())
    assert {p.name for p in (settings.input_dir / "processed").iterdir()} == names


def as_text(frame: pd.DataFrame, separator: str = ",", decimal: str = ".", newline="\n") -> str:
    """A frame written as a hospital system would: header, separator, decimal mark, newlines."""
    lines = [separator.join(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append(separator.join(str(value).replace(".", decimal) for value in row))
    return newline.join(lines) + newline


@pytest.fixture
def hospital_exports(settings) -> dict[str, int]:
    """Every kind of export seen in the wild, and the data rows each holds."""
    inbox = settings.input_dir
    inbox.mkdir()
    files = {
        "european.csv": as_text(seed_rows(30), ";", ","),
        "ward 7 – äöü.tsv": as_text(seed_rows(20, start=30), "\t", ","),
        "lab.csv": as_text(seed_rows(10, start=50), "|"),
        "windows.csv": "\ufeff" + as_text(seed_rows(10, start=60), newline="\r\n"),
        "padded.csv": as_text(seed_rows(10, start=70).map(lambda value: f" {value} ")),
        "codes_as_floats.csv": as_text(seed_rows(10, start=80).assign(cp="1.0", sex="0.0")),
        "no_final_newline.csv": as_text(seed_rows(5, start=90)).rstrip("\n"),
    }
    blank_lines = as_text(seed_rows(6, start=100)).replace("\n", "\n\n", 3)
    files["blank_lines.csv"] = blank_lines
    quoted = seed_rows(4, start=110).assign(patient_id=lambda f: '"' + f["patient_id"] + '\nbis"')
    files["quoted_newlines.csv"] = as_text(quoted)
    one_broken = as_text(seed_rows(100, start=120)).splitlines()
    one_broken[41] += ",surplus"
    files["one_broken_line.csv"] = "\n".join(one_broken) + "\n"
    for name, text in files.items():
        (inbox / name).write_text(text, encoding="utf-8")
    (inbox / "archive.csv.gz").write_bytes(gzip.compress(as_text(seed_rows(25, 130)).encode()))
    (inbox / "notes.txt").write_text("call the lab on Monday\n")
    return {
        "european.csv": 30,
        "ward 7 – äöü.tsv": 20,
        "lab.csv": 10,
        "windows.csv": 10,
        "padded.csv": 10,
        "codes_as_floats.csv": 10,
        "no_final_newline.csv": 5,
        "blank_lines.csv": 6,
        "quoted_newlines.csv": 4,
        "one_broken_line.csv": 100,
        "archive.csv.gz": 25,
    }


def test_exports_as_hospitals_write_them_lose_no_row(
    prefect_server, champion, settings, hospital_exports, caplog
):  # pylint: disable=unused-argument
    summary = score(settle_seconds=0)
    outcomes = {outcome.source_name: outcome for outcome in summary.files}
    assert {name: o.status for name, o in outcomes.items()} == dict.fromkeys(
        hospital_exports, "scored"
    )
    predictions = pd.read_parquet(settings.output_dir)
    rejected = pd.read_parquet(settings.output_dir / "_rejected")
    for name, rows in hospital_exports.items():
        scored_rows = predictions.loc[predictions["source_file"] == name, "source_row"]
        refused_rows = rejected.loc[rejected["source_file"] == name, "source_row"]
        assert sorted([*scored_rows, *refused_rows]) == list(range(1, rows + 1)), name
        assert outcomes[name].counts.total == rows
    assert list(rejected["reason"]) == ["line 42: 15 fields, expected 14"]
    assert rejected["raw_line"].iloc[0].endswith(",surplus")
    european = predictions[predictions["source_file"] == "european.csv"]
    assert european["oldpeak"].max() > 1 and (european["oldpeak"] % 1 > 0).any()
    quoted = predictions[predictions["source_file"] == "quoted_newlines.csv"]
    assert quoted["patient_id"].str.endswith("\nbis").all()

    assert (settings.input_dir / "notes.txt").read_text() == "call the lab on Monday\n"
    messages = [record.getMessage() for record in caplog.records]
    assert sum("notes.txt: not scored: unsupported type" in m for m in messages) == 1
    assert summary.unsupported == ["notes.txt"]
    assert "| notes.txt | not scored: unsupported type |" in Artifact.get("scoring-run").data
    assert any("european.csv [separated by ';', decimal comma]: 30 rows" in m for m in messages)
    assert any("(1 broken line(s))" in m for m in messages)
    assert sum(m.startswith("Scoring ") and f"reasons: {LINEAR})" in m for m in messages) == 1


def test_a_fixed_file_comes_back_from_quarantine(
    prefect_server, champion, settings
):  # pylint: disable=unused-argument
    settings.input_dir.mkdir()
    lines = as_text(seed_rows(10)).splitlines()
    broken = [lines[0], *[line + ",surplus" for line in lines[1:7]], *lines[7:]]
    (settings.input_dir / "ward.csv").write_text("\n".join(broken) + "\n")
    assert [o.status for o in score(settle_seconds=0).files] == ["quarantined"]
    quarantined = settings.input_dir / "quarantine" / "ward.csv"
    report = json.loads(quarantined.with_name("ward.csv.error.json").read_text())
    assert report["problem"].startswith("too many broken lines: 6 of 10 rows")
    assert "first broken lines: line 2: 15 fields, expected 14" in report["detail"]

    # The person repairs the quarantined copy and drops it into the input folder again.
    fixed = quarantined.read_text().replace(",surplus", "")
    quarantined.unlink()
    (settings.input_dir / "ward.csv").write_text(fixed)
    summary = score(settle_seconds=0)
    assert [(o.status, o.counts.scored) for o in summary.files] == [("scored", 10)]
    ledger = Ledger(settings.database_url).engine.connect()
    statuses = ledger.exec_driver_sql("select status from scored_files order by status").all()
    assert statuses == [("quarantined",), ("scored",)]
    assert (settings.input_dir / "quarantine" / "ward.csv.error.json").exists()


def test_a_run_killed_with_kill_9_leaves_no_temporary_prefect_server(settings, tmp_path):
    """Without PREFECT_API_URL the flow starts Prefect's temporary server as a child; a kill -9
    of the flow would orphan it, so it is stopped once the flow process is gone."""
    settings.input_dir.mkdir()
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith("PREFECT_")
    } | {"PREFECT_HOME": str(tmp_path / "prefect"), "HEART_SETTLE_SECONDS": "0"}
    run = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "flows.score"], cwd=REPO_ROOT, env=environment
    )
    try:
        server = _wait_for_child(run.pid, "uvicorn", timeout=120)
        os.kill(run.pid, signal.SIGKILL)
        run.wait()
        assert _gone(server, timeout=20), "the temporary Prefect server outlived its flow"
    finally:
        run.kill()


def _wait_for_child(pid: int, name: str, timeout: float):
    parent = psutil.Process(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in parent.children(recursive=True):
            if name in " ".join(child.cmdline()):
                return child
        time.sleep(0.2)
    raise AssertionError(f"no {name} child within {timeout} s")


def _gone(process, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.2)
    return False


def hostile_folder(inbox) -> dict[str, int]:
    """What a hostile but realistic hospital network drops; returns each scorable file's data
    rows (repeated headers are not rows)."""
    inbox.mkdir(parents=True, exist_ok=True)
    header = ",".join(FEATURES_AND_ID)

    def rows(count: int, start: int, notes: str = "") -> list[str]:
        seed = seed_rows(count, start).drop(columns="patient_id")
        return [
            ",".join([*values, f"H{start + i}", notes])
            for i, values in enumerate(seed.itertuples(index=False))
        ]

    files = {
        "letter.csv": [
            f"{header},notes",
            *rows(100, 0, "x" * (200 << 10)),
            "1,2,3",
            *rows(99, 100),
        ],
        "same_header.csv": [
            f"{header},notes",
            *rows(20, 0),
            f"{header},notes".upper(),
            *rows(20, 20),
        ],
        "mac.csv": [f"{header},notes", *rows(30, 0), "63,1", *rows(29, 30)],
        "markers.csv": [
            f"{header},notes",
            *[_with_chol(line, marker) for line, marker in zip(rows(10, 0), MARKERS)],
        ],
        "excel.csv": ["sep=;", f"{header};notes".replace(",", ";")]
        + [line.replace(",", ";") for line in rows(12, 0)],
    }
    swapped = (
        header.replace("chol", "CHOLX").replace("thalachh", "chol").replace("CHOLX", "thalachh")
    )
    files["cat.csv"] = [f"{header},notes", *rows(15, 0), f"{swapped},notes"] + [
        _swap_chol_thalachh(line) for line in rows(15, 15)
    ]
    endings = {"mac.csv": "\r"}
    for name, lines in files.items():
        (inbox / name).write_bytes((endings.get(name, "\n").join(lines) + "\n").encode())
    unicode_lines = [f"{header},notes", *rows(8, 0, "Zürich")]
    (inbox / "unicode.csv").write_bytes(("\r\n".join(unicode_lines) + "\r\n").encode("utf-16"))
    (inbox / "windows.csv").write_bytes(
        ("\n".join([f"{header},notes", *rows(9, 0, "Genève")]) + "\n").encode("cp1252")
    )
    long_name = "w" * 226 + ".csv"
    (inbox / long_name).write_text("\n".join([f"{header},notes", *rows(5, 0)]) + "\n")
    whole = gzip.compress(("\n".join([f"{header},notes", *rows(2000, 0)]) + "\n").encode())
    (inbox / "cut.csv.gz").write_bytes(whole[: len(whole) // 2])
    secret = inbox.parent / "environ"
    secret.write_text("HEART_SMTP_PASSWORD=hunter2\n")
    (inbox / "other_unit.csv").symlink_to(secret)
    (inbox / "ward7.csv").mkdir()
    return {
        "letter.csv": 200, "same_header.csv": 40, "mac.csv": 60, "markers.csv": 10,
        "excel.csv": 12, "cat.csv": 30, "unicode.csv": 8, "windows.csv": 9, long_name: 5,
    }  # fmt: skip


FEATURES_AND_ID = [*pd.read_csv(SEED_DATA, nrows=0).columns.drop("output"), "patient_id"]


MARKERS = ["-", ".", "n/a", "NA", "none", "#N/A", " None ", "?", "--", "N/A"]


def _with_chol(line: str, marker: str) -> str:
    values = line.split(",")
    values[FEATURES_AND_ID.index("chol")] = marker
    return ",".join(values)


def _swap_chol_thalachh(line: str) -> str:
    values = line.split(",")
    chol, thalachh = FEATURES_AND_ID.index("chol"), FEATURES_AND_ID.index("thalachh")
    values[chol], values[thalachh] = values[thalachh], values[chol]
    return ",".join(values)


def test_a_hostile_folder_loses_no_row_misreads_no_value_and_stops_no_file(
    prefect_server, champion, settings, caplog
):  # pylint: disable=unused-argument
    expected = hostile_folder(settings.input_dir)
    summary = score(settle_seconds=0)
    statuses = {outcome.source_name: outcome.status for outcome in summary.files}
    assert statuses == dict.fromkeys(expected, "scored") | {
        "cut.csv.gz": "quarantined",
        "other_unit.csv": "quarantined",
    }
    predictions = pd.read_parquet(settings.output_dir)
    rejected = pd.read_parquet(settings.output_dir / "_rejected")
    for name, rows in expected.items():
        scored_rows = predictions.loc[predictions["source_file"] == name, "source_row"]
        refused_rows = rejected.loc[rejected["source_file"] == name, "source_row"]
        numbers = sorted([*scored_rows, *refused_rows])
        assert len(numbers) == rows == len(set(numbers)), name  # each row once, none lost
    seed = seed_rows(30).drop(columns="patient_id").astype(float)
    cat = predictions[predictions["source_file"] == "cat.csv"].set_index("patient_id")
    for column in ("chol", "thalachh"):  # never a value in another column
        assert cat.loc[[f"H{i}" for i in range(30)], column].tolist() == seed[column].tolist()
    assert set(rejected["source_file"]) == {"letter.csv", "mac.csv"}
    assert not predictions.loc[predictions["source_file"] == "markers.csv", "chol"].notna().any()

    quarantine = settings.input_dir / "quarantine"
    reports = {path.name: path for path in quarantine.glob("*.error.json")}
    assert "cut off" in json.loads(reports["cut.csv.gz.error.json"].read_text())["problem"]
    assert all("hunter2" not in path.read_text() for path in reports.values())
    assert all(path.stat().st_mode & 0o777 == 0o640 for path in reports.values())
    assert (quarantine / "other_unit.csv").is_symlink()
    assert summary.not_files == ["ward7.csv (a directory)"]

    logged = "\n".join(record.getMessage() for record in caplog.records)
    logged += Artifact.get("scoring-run").data
    assert "ward7.csv (a directory): not scored: not a file" in logged
    assert "1 repeated header(s) skipped" in logged
    assert "UTF-16 text" in logged and "cp1252 (Windows Western) text" in logged
    assert not any(f"H{i}" in logged for i in range(200))  # no patient id in the log


HEAVY_MODULES = ("pandas", "sklearn", "mlflow", "pyarrow", "scipy", "evidently", "hyperopt")
EMPTY_RUN = f"""
import sys
from flows.score import score
summary = score()
assert summary.files == [] and summary.settling == 0, summary
print(sorted(name for name in {HEAVY_MODULES!r} if name in sys.modules))
"""


def test_the_hourly_run_that_finds_no_file_imports_no_heavy_module(settings, prefect_server):
    settings.input_dir.mkdir(parents=True)
    environment = {**os.environ, "PREFECT_API_URL": prefect_server}
    run = subprocess.run(
        [sys.executable, "-c", EMPTY_RUN],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    assert run.stdout.strip().splitlines()[-1] == "[]"
