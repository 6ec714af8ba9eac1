"""The outputs folder reads as predictions only, and an older release's outputs move into place."""

from datetime import datetime, timezone

import duckdb
import pandas as pd
import pyarrow.dataset as ds
import pytest
from sqlalchemy import insert, select

from heart_batch.layout import pending_moves, upgrade_outputs
from heart_batch.ledger import SCORED_FILES, Ledger, ScoredCounts, new_claimant
from heart_batch.monitor_store import MONITORING_RUNS, MonitorStore

COUNTS = ScoredCounts(total=3, scored=2, rejected=1, imputed=0)


def predictions(path, rows: int) -> None:
    pd.DataFrame({"source_row": range(1, rows + 1), "risk": 0.5}).to_parquet(path)


@pytest.fixture
def old_release_outputs(settings):
    """What the release before this one left: rejections, reports and workspace beside the
    predictions, and our tables pointing at them."""
    out = settings.output_dir
    (out / "reports").mkdir(parents=True)
    (out / "evidently" / "project" / "snapshots").mkdir(parents=True)
    predictions(out / "predictions_a_1.parquet", 2)
    pd.DataFrame({"source_row": [3], "reason": ["age=300"]}).to_parquet(
        out / "rejected_a_1.parquet"
    )
    (out / "reports" / "monitoring_w1.html").write_text("<html></html>")
    (out / "evidently" / "project" / "snapshots" / "s1.json").write_text("{}")
    ledger = Ledger(settings.database_url)
    claimant = new_claimant()
    ledger.claim("a" * 64, "a_1", "a.csv", claimant)
    paths = (str(out / "predictions_a_1.parquet"), str(out / "rejected_a_1.parquet"))
    ledger.mark_scored("a" * 64, claimant, COUNTS, ("heart", "1"), paths)
    store = MonitorStore(settings.database_url)
    with store.engine.begin() as connection:
        connection.execute(
            insert(MONITORING_RUNS).values(
                created_at=datetime.now(timezone.utc),
                status="evaluated",
                files=1,
                rows_scored=2,
                rows_rejected=1,
                model_name="heart",
                model_version="1",
                report_path=str(out / "reports" / "monitoring_w1.html"),
            )
        )
    return settings


def stored_paths(settings) -> tuple[str, str]:
    engine = Ledger(settings.database_url).engine
    with engine.connect() as connection:
        rejected = connection.execute(select(SCORED_FILES.c.rejected_path)).scalar_one()
        report = connection.execute(select(MONITORING_RUNS.c.report_path)).scalar_one()
    return rejected, report


def test_the_old_layout_breaks_the_one_reading_command(old_release_outputs):
    with pytest.raises(Exception, match="Parquet|parquet"):
        pd.read_parquet(old_release_outputs.output_dir)


def test_upgrade_moves_everything_but_predictions_and_repoints_the_tables(old_release_outputs):
    settings = old_release_outputs
    out = settings.output_dir
    moved = upgrade_outputs(settings)
    assert len(moved) == 3
    assert sorted(p.name for p in out.iterdir()) == [
        "_evidently",
        "_rejected",
        "_reports",
        "predictions_a_1.parquet",
    ]
    assert (out / "_rejected" / "rejected_a_1.parquet").exists()
    assert (settings.reports_dir / "monitoring_w1.html").exists()
    assert (settings.evidently_workspace / "project" / "snapshots" / "s1.json").exists()
    assert stored_paths(settings) == (
        str(out / "_rejected" / "rejected_a_1.parquet"),
        str(settings.reports_dir / "monitoring_w1.html"),
    )
    assert not upgrade_outputs(settings) and not pending_moves(settings)


def test_after_the_upgrade_every_reader_gets_predictions_only(old_release_outputs):
    out = old_release_outputs.output_dir
    upgrade_outputs(old_release_outputs)
    predictions(out / "predictions_b_2.parquet", 3)
    assert len(pd.read_parquet(out)) == 5
    assert ds.dataset(out).to_table().num_rows == 5
    assert duckdb.sql(f"SELECT count(*) FROM '{out}/*.parquet'").fetchall() == [(5,)]
    assert "reason" not in pd.read_parquet(out).columns


def test_a_file_already_in_place_is_never_overwritten(old_release_outputs):
    out = old_release_outputs.output_dir
    (out / "_rejected").mkdir()
    (out / "_rejected" / "rejected_a_1.parquet").write_bytes(b"newer")
    (old_release_outputs.reports_dir / "monitoring_w2.html").parent.mkdir()
    (old_release_outputs.reports_dir / "monitoring_w2.html").write_text("newer")
    upgrade_outputs(old_release_outputs)
    assert (out / "_rejected" / "rejected_a_1.parquet").read_bytes() == b"newer"
    assert (out / "rejected_a_1.parquet").exists()
    assert sorted(p.name for p in old_release_outputs.reports_dir.iterdir()) == [
        "monitoring_w1.html",
        "monitoring_w2.html",
    ]
    assert not (out / "reports").exists()


def test_nothing_to_move_touches_no_database(settings):
    assert not upgrade_outputs(settings)
    assert not (settings.home / "heart.db").exists()
