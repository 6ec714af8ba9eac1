"""Monitoring benchmark: false alarms and detection of four alarm rules, by window size.

Run with `make bench-monitor` (needs the champion of `make train`). Windows are drawn from:

- no change: data/heart.csv itself (the champion's training population), with replacement;
- three subtle shifts of heart.csv: ages + 5 years; asymptomatic chest pain 15 points more
  common; cholesterol exported in mmol/L (divided by 38.67);
- each other hospital of data/heart_other_hospitals.csv: windows of 100 rows, and the whole file.

Each window goes through the feature contract and is scored by the champion, then judged by:

- calibrated: heart-batch's rule (``heart_batch.monitoring.checks.assess``, default settings);
- calibrated, fixed reference: the same rule with limits from windows resampled from the reference
  and compared with the reference as it is (ignoring the reference's own sampling error);
- fixed: the rule before calibration (distance floors alone, the reference's out-of-fold risk);
- evidently: Evidently's defaults (per-column K-S / chi-square / Z at 0.05 below 1000 reference
  rows, dataset drift at a drifted share of 0.5, over the 13 features and the risk), with
  Evidently's own stattest functions;
- nannyml-style: NannyML's threshold rule emulated on the same distances: per column, mean + 3
  standard deviations of the distance of reference chunks of the window's size (drawn with
  replacement, as the reference is smaller than most windows), alert on any column.

A rule that raises on a window (Evidently on a feature with no value) counts as no alarm and is
counted as a crash. Then the flow itself judges the other hospitals' file and a 100,000-row window
(calibration included, from a cold cache). Prints every figure and writes the plot
docs/monitoring_alarm_rates.png.

    python -m tests.benchmarks.bench_monitoring [--windows 200] [--rows 100000]
"""

import argparse
import functools
import os
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from evidently.legacy.calculations.stattests.registry import get_stattest
from evidently.legacy.core import ColumnType
from mlflow import MlflowClient
from sklearn.metrics import roc_auc_score
from sqlalchemy import create_engine, text

from heart_batch.contract.columns import LABEL, OUT_OF_FOLD_RISK, RISK
from heart_batch.contract.features import FEATURE_NAMES
from heart_batch.contract.validation import validate_rows
from heart_batch.model.bands import RiskBands, with_bands
from heart_batch.monitoring.checks import Window, assess
from heart_batch.monitoring.drift import METHODS, column_distance
from heart_batch.monitoring.no_change import CalibrationCache, calibration_size, simulate
from heart_batch.registry.champion import load_champion, load_champion_reference
from heart_batch.registry.tracking import connect
from heart_batch.settings import Settings, quiet_tools

SIZES = (50, 100, 200, 500, 2000)
SEED = Path("data/heart.csv")
OTHER_HOSPITALS = Path("data/heart_other_hospitals.csv")
PLOT = Path("docs/monitoring_alarm_rates.png")
MMOL_PER_MG = 1 / 38.67
SHIFT_POOL_ROWS = 20_000
RULES = ("calibrated", "calibrated, fixed reference", "fixed", "evidently", "nannyml-style")


@dataclass(frozen=True)
class Pool:
    """Input rows a scenario draws windows from, already validated and scored."""

    rows: pd.DataFrame
    """Features (NaN where missing), risk and label per input row; risk NaN where rejected."""

    def window(self, rng: np.random.Generator, size: int, replace: bool = True):
        """A window of ``size`` input rows: its scored rows and its number of rejected rows."""
        rows = self.rows.iloc[rng.choice(len(self.rows), size, replace=replace)]
        accepted = rows[RISK].notna()
        return rows[accepted].reset_index(drop=True), int((~accepted).sum())


def score_pool(raw: pd.DataFrame, champion, settings: Settings) -> Pool:
    """Validate and score every row once; windows are then drawn from the result."""
    raw = raw.reset_index(drop=True)
    checked = validate_rows(raw, max_missing=settings.max_missing_features)
    rows = pd.DataFrame(np.nan, index=raw.index, columns=[*FEATURE_NAMES, RISK, LABEL])
    rows.loc[checked.accepted, FEATURE_NAMES] = checked.features.to_numpy()
    rows.loc[checked.accepted, LABEL] = checked.labels.to_numpy()
    if checked.accepted.any():
        rows.loc[checked.accepted, RISK] = champion.model.predict_proba(checked.features)[:, 1]
    return Pool(rows)


def shifted_pools(seed_rows: pd.DataFrame, champion, settings, rng) -> dict[str, Pool]:
    """The three subtle shifts, each applied to a large resample of heart.csv."""
    numbers = seed_rows.apply(pd.to_numeric, errors="coerce")
    base = numbers.iloc[rng.integers(0, len(numbers), SHIFT_POOL_ROWS)].reset_index(drop=True)
    older = base.assign(age=base["age"] + 5)
    asymptomatic_share = (base["cp"] == 0).mean()
    moved = (base["cp"] != 0) & (rng.random(len(base)) < 0.15 / (1 - asymptomatic_share))
    more_asymptomatic = base.assign(cp=base["cp"].mask(moved, 0))
    mmol = base.assign(chol=(base["chol"] * MMOL_PER_MG).round(2))
    return {
        "ages + 5 years": score_pool(older, champion, settings),
        "asymptomatic chest pain + 15 points": score_pool(more_asymptomatic, champion, settings),
        "cholesterol in mmol/L": score_pool(mmol, champion, settings),
    }


class Rules:
    """The four alarm rules, each a function of (scored rows, rejected rows) -> alarm."""

    def __init__(
        self,
        reference: pd.DataFrame,
        model: tuple[str, str],
        settings: Settings,
        bands: RiskBands | None,
    ):
        """``reference`` with its band codes when there are ``bands`` (the calibrated rules then
        judge the band shares too)."""
        reference = with_bands(reference, bands)
        self.reference, self.bands = reference, bands
        self.thresholds = settings
        self.no_change = CalibrationCache(None).source(
            model, reference, self.thresholds.monitor_replicates, settings.seed
        )
        self.fixed_reference_no_change = functools.cache(
            lambda rows: simulate(
                reference,
                rows,
                self.thresholds.monitor_replicates,
                settings.seed,
                resample_reference=False,
            )
        )
        self.nannyml_limits: dict[int, dict[str, float]] = {}

    def judge(self, name: str, current: pd.DataFrame, rejected: int) -> bool:
        """Whether rule ``name`` raises an alarm on the window."""
        rule: Callable[[pd.DataFrame, int], bool] = {
            "calibrated": self.calibrated,
            "calibrated, fixed reference": self.calibrated_fixed_reference,
            "fixed": self.fixed,
            "evidently": self.evidently,
            "nannyml-style": self.nannyml_style,
        }[name]
        return rule(current, rejected)

    def calibrated(self, current: pd.DataFrame, rejected: int) -> bool:
        """heart-batch's rule."""
        return self._assess(current, rejected, self.no_change)

    def calibrated_fixed_reference(self, current: pd.DataFrame, rejected: int) -> bool:
        """heart-batch's rule with limits that ignore the reference's sampling error."""
        return self._assess(current, rejected, self.fixed_reference_no_change)

    def _assess(self, current: pd.DataFrame, rejected: int, no_change) -> bool:
        now = datetime.now(timezone.utc)
        window = Window(None, now, [{"rows_scored": len(current), "rows_rejected": rejected}])
        current = with_bands(current, self.bands)
        return bool(assess(self.reference, current, window, self.thresholds, no_change).violations)

    def fixed(self, current: pd.DataFrame, rejected: int) -> bool:
        """The rule before calibration: floors alone, risk against the out-of-fold risk."""
        limits = self.thresholds
        if rejected / (len(current) + rejected) > limits.max_rejected_share:
            return True
        if current.empty:
            return False
        drifted = [
            column_distance(self.reference[name], current[name], METHODS[name])
            >= 0.1  # Evidently's threshold for both distances
            for name in FEATURE_NAMES
        ]
        risk_drift = column_distance(self.reference[OUT_OF_FOLD_RISK], current[RISK], "wasserstein")
        alarms = [
            np.mean(drifted) > limits.max_drift_share,
            risk_drift > limits.max_risk_drift,
            current[FEATURE_NAMES].isna().to_numpy().mean() > limits.max_missing_share,
        ]
        labelled = current.dropna(subset=[LABEL])
        if len(labelled) >= limits.min_labelled_rows and labelled[LABEL].nunique() == 2:
            disease, risk = (labelled[LABEL] == 0).astype(int), labelled[RISK]
            alarms.append(roc_auc_score(disease, risk) < limits.min_roc_auc)
            alarms.append(float(np.mean((risk - disease) ** 2)) > limits.max_brier)
        return any(alarms)

    def evidently(self, current: pd.DataFrame, _rejected: int) -> bool:
        """Evidently's defaults: dataset drift when half the columns drift at their own test."""
        if current.empty:
            return False
        drifted = []
        for name in [*FEATURE_NAMES, RISK]:
            kind = (
                ColumnType.Categorical if METHODS[name] == "jensenshannon" else ColumnType.Numerical
            )
            reference, window = self.reference[name].dropna(), current[name].dropna()
            if window.empty:
                raise ValueError(f"An empty column '{name}' was provided for drift calculation")
            test = get_stattest(reference, window, kind, None)
            drifted.append(test(reference, window, kind, None).drifted)
        return bool(np.mean(drifted) >= 0.5)

    def nannyml_style(self, current: pd.DataFrame, _rejected: int) -> bool:
        """Per column, mean + 3 sd of the distance of reference chunks of the window's size."""
        if current.empty:
            return False
        limits = self._nannyml_limits(len(current))
        return any(
            current[name].notna().any()
            and column_distance(self.reference[name], current[name], METHODS[name]) > limit
            for name, limit in limits.items()
        )

    def _nannyml_limits(self, size: int) -> dict[str, float]:
        if size not in self.nannyml_limits:
            rng = np.random.default_rng(size)
            chunks = [
                self.reference.iloc[rng.integers(0, len(self.reference), size)] for _ in range(100)
            ]
            self.nannyml_limits[size] = {}
            for name in [*FEATURE_NAMES, RISK]:
                values = [
                    column_distance(self.reference[name], c[name], METHODS[name]) for c in chunks
                ]
                self.nannyml_limits[size][name] = float(np.mean(values) + 3 * np.std(values))
        return self.nannyml_limits[size]


def count_alarms(rules: Rules, pool: Pool, size: int, windows: int, replace=True, seed=0):
    """Windows each rule alarms on, and windows it crashes on, among ``windows`` of ``size``."""
    rng = np.random.default_rng([seed, size])
    alarms, crashes = Counter(), Counter()
    for _ in range(windows):
        current, rejected = pool.window(rng, size, replace)
        for name in RULES:
            try:
                alarms[name] += rules.judge(name, current, rejected)
            except ValueError:
                crashes[name] += 1
    return alarms, crashes


def alarm_rates(rules: Rules, pool: Pool, sizes, windows: int, replace=True) -> dict:
    """Share of windows each rule alarms on, per size; and crashes per rule."""
    rates, crashes = defaultdict(dict), Counter()
    for size in sizes:
        alarms, crashed = count_alarms(rules, pool, size, windows, replace)
        crashes += crashed
        for name in RULES:
            rates[name][size] = alarms[name] / windows
    return {"rates": dict(rates), "crashes": dict(crashes)}


def redrawn_reference_rates(
    reference, bands, settings: Settings, references: int, windows: int
) -> dict:
    """No change when the reference is itself a sample of the population, as in production.

    The reference rows stand for the population; each rule is calibrated against a reference
    re-drawn from them (same size, with replacement), and judges windows drawn from the population.
    """
    population = Pool(reference[[*FEATURE_NAMES, RISK, LABEL]])
    rng = np.random.default_rng(1)
    alarms = {size: Counter() for size in SIZES}
    for number in range(references):
        redrawn = reference.iloc[rng.integers(0, len(reference), len(reference))]
        rules = Rules(redrawn.reset_index(drop=True), ("redrawn", str(number)), settings, bands)
        for size in SIZES:
            found, crashed = count_alarms(rules, population, size, windows, seed=number)
            alarms[size] += found + crashed
    total = references * windows
    return {
        "rates": {name: {size: alarms[size][name] / total for size in SIZES} for name in RULES},
        "crashes": {},
    }


def print_rates(title: str, result: dict, sizes) -> None:
    """One table: rules down, window sizes across."""
    print(f"\n{title}")
    print(
        "  rule                        " + "".join(f"{size:>9,}" for size in sizes) + "   crashed"
    )
    for name in RULES:
        rates = "".join(f"{result['rates'][name][size]:9.1%}" for size in sizes)
        print(f"  {name:27s} {rates}   {result['crashes'].get(name, 0)}")


def plot(results: dict[str, dict], path: Path) -> None:
    """Alarm rate against window size, one panel per scenario, one line per rule."""
    # pylint: disable=import-outside-toplevel
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = 3
    rows = -(-len(results) // columns)
    figure, axes = plt.subplots(rows, columns, figsize=(13, 3.8 * rows), sharey=True)
    axes = axes.ravel()
    for axis in axes[len(results) :]:
        axis.set_visible(False)
    for axis, (title, result) in zip(axes, results.items()):
        for name in RULES:
            rates = result["rates"][name]
            axis.plot(list(rates), list(rates.values()), marker="o", label=name)
        axis.set_xscale("log")
        axis.set_xticks(SIZES, [str(size) for size in SIZES])
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("window size (rows)")
        axis.grid(alpha=0.3)
    for axis in axes[::columns]:
        axis.set_ylabel("share of windows alarmed")
    for axis in (axes[0], axes[len(results) - 1]):  # the two no-change panels: the 1 % budget
        axis.axhline(0.01, color="grey", linestyle=":", linewidth=1)
    axes[0].legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def champion_reference_and_bands(client: MlflowClient, settings: Settings):
    """The champion's reference rows (with their band codes) and its risk bands."""
    found = load_champion_reference(client, settings.model_name)
    return found.reference, found.bands


def compare_rules(settings: Settings, windows: int) -> None:
    """Alarm rates of the four rules on no-change, shifted and other hospitals' windows."""
    connect(settings)
    client = MlflowClient()
    champion = load_champion(client, settings.model_name)
    reference, bands = champion_reference_and_bands(client, settings)
    rules = Rules(reference, (champion.name, champion.version), settings, bands)
    print(f"Champion {champion.name} v{champion.version}; reference of {len(reference)} rows")
    print(
        f"False-alarm budget {settings.false_alarm_rate:g} per window; {windows} windows per size"
    )
    seed_rows = pd.read_csv(SEED, dtype=str, keep_default_na=False)
    rng = np.random.default_rng(0)
    scenarios = {"no change (heart.csv)": score_pool(seed_rows, champion, settings)}
    scenarios |= shifted_pools(seed_rows, champion, settings, rng)
    results = {}
    for title, pool in scenarios.items():
        start = time.perf_counter()
        results[title] = alarm_rates(rules, pool, SIZES, windows)
        print_rates(f"{title} ({time.perf_counter() - start:.0f} s)", results[title], SIZES)
    other = pd.read_csv(OTHER_HOSPITALS, dtype=str, keep_default_na=False)
    for hospital, rows in other.groupby("hospital"):
        pool = score_pool(rows.drop(columns="hospital"), champion, settings)
        result = alarm_rates(rules, pool, (100,), windows, replace=False)
        whole = alarm_rates(rules, pool, (len(rows),), 1, replace=False)
        for name in RULES:
            result["rates"][name] |= whole["rates"][name]
        result["crashes"] = dict(Counter(result["crashes"]) + Counter(whole["crashes"]))
        title = f"{hospital}: {windows} windows of 100 rows, then the whole file"
        print_rates(title, result, (100, len(rows)))
    title = "no change, reference re-drawn (production)"
    results[title] = redrawn_reference_rates(reference, bands, settings, 10, max(windows // 10, 5))
    print_rates(f"{title}: 10 references x {max(windows // 10, 5)} windows", results[title], SIZES)
    plot(results, PLOT)
    print(f"\nplot: {PLOT}")


LATEST_CHECKS = """
    select metric, value, floor, no_change_limit, threshold, interval_low, interval_high, kind,
           violated
    from monitoring_metrics where run_id = (select max(id) from monitoring_runs)
"""


def run_flow_windows(settings: Settings, rows: int) -> None:
    """The monitor flow itself on the other hospitals' file and on a large window."""
    home = Path(tempfile.mkdtemp(prefix="heart-monitor-"))
    os.environ |= {
        "HEART_HOME": str(home),
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "HEART_TRAINING_DATA": str(settings.training_data),
        "HEART_SETTLE_SECONDS": "0",
        "HEART_ALERT_TO": "",
        "HEART_TRAIN_DEPLOYMENT": "",
    }
    # The environment above must be set before the flows are imported.
    # pylint: disable=import-outside-toplevel
    from flows.monitor import monitor
    from flows.score import score

    local = Settings()
    seed_rows = pd.read_csv(SEED, dtype=str, keep_default_na=False)
    frames = [
        (
            "616 rows from Hungary, Switzerland, VA Long Beach",
            pd.read_csv(OTHER_HOSPITALS, dtype=str),
        ),
        (
            f"{rows:,} rows sampled from heart.csv (cold calibration cache)",
            seed_rows.iloc[np.random.default_rng(2).integers(0, len(seed_rows), rows)],
        ),
    ]
    for number, (title, frame) in enumerate(frames):
        local.input_dir.mkdir(parents=True, exist_ok=True)
        frame.to_csv(local.input_dir / f"window_{number}.csv", index=False)
        score()
        start = time.perf_counter()
        outcome = monitor()
        seconds = time.perf_counter() - start
        print(f"\nflow: {title}: {outcome.status}, {outcome.window_rows:,} rows, {seconds:.1f} s")
        print(f"  calibrated for {calibration_size(outcome.window_rows):,} rows")
        with create_engine(local.database_url).connect() as connection:
            for row in connection.execute(text(LATEST_CHECKS)).mappings():
                print("  " + _check_line(row))


def _check_line(row) -> str:
    sign = "<=" if row["kind"] == "max" else ">="
    if row["interval_low"] is not None:
        limit = (
            f"interval [{row['interval_low']:.3f}, {row['interval_high']:.3f}] vs {row['floor']:g}"
        )
    else:
        limit = f"floor {row['floor']:.3g}, no change {sign} {row['no_change_limit']:.3g}"
    verdict = "VIOLATED" if row["violated"] else "ok"
    return f"{row['metric']:24s} {row['value']:8.4f}  {limit:45s} {verdict}"


def main() -> None:
    """Compare the rules, then run the flow."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=200, help="windows per size and scenario")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the large window")
    args = parser.parse_args()
    quiet_tools()
    settings = Settings()
    compare_rules(settings, args.windows)
    run_flow_windows(settings, args.rows)


if __name__ == "__main__":
    main()
