"""Risk bands away from Cleveland: the champion's cut-offs on the labelled rows of other hospitals.

For each hospital of data/heart_other_hospitals.csv, the sensitivity of "not low" (diseased
patients the low band does not miss) and the specificity of "high" (healthy patients it does not
accuse), with Wilson 95 % intervals, next to the figures the cut-offs were chosen for (the
champion's out-of-fold risks of its training rows). Every row the contract accepts is scored with
the champion as scoring does (at most HEART_MAX_MISSING_FEATURES imputed features).
"""

import numpy as np
import pandas as pd

from heart_batch.contract.validation import validate_rows
from heart_batch.model.bands import wilson_interval
from heart_batch.scoring.intake import load_scoring_model
from heart_batch.settings import PROJECT_ROOT, Settings, quiet_tools

OTHER_HOSPITALS = PROJECT_ROOT / "data" / "heart_other_hospitals.csv"


def proportion(successes: int, trials: int) -> str:
    """A share with its Wilson 95 % interval, as text."""
    if trials == 0:
        return "no rows"
    low, high = wilson_interval(successes, trials)
    return f"{successes / trials:6.1%} [{low:.1%}, {high:.1%}] of {trials}"


def main() -> None:
    """Print one line per hospital, after the reference's."""
    quiet_tools()
    settings = Settings()
    model = load_scoring_model(settings)
    bands = model.bands
    if bands is None:
        raise SystemExit("The champion has no risk bands (no reference data): retrain first.")
    raw = pd.read_csv(OTHER_HOSPITALS, dtype=str, keep_default_na=False)
    print(
        f"champion {model.name} v{model.version}: low below {bands.low_below:.3f}, "
        f"high from {bands.high_from:.3f}"
    )
    print(f"{'rows':28s} {'sensitivity of not low':36s} {'specificity of high':36s} scored")
    print(
        f"{'reference (out-of-fold)':28s} {bands.sensitivity:6.1%} "
        f"[{bands.sensitivity_interval[0]:.1%}, {bands.sensitivity_interval[1]:.1%}]"
        f"{'':17s} {bands.specificity:6.1%} "
        f"[{bands.specificity_interval[0]:.1%}, {bands.specificity_interval[1]:.1%}]"
        f"{'':17s} {bands.rows}"
    )
    for hospital, rows in raw.groupby("hospital"):
        validated = validate_rows(rows.reset_index(drop=True), settings.max_missing_features)
        codes = bands.codes(model.risk(validated.matrix))
        disease = np.asarray(validated.labels) == 0
        print(
            f"{hospital:28s} {proportion(int(np.sum(codes[disease] > 0)), int(disease.sum())):36s} "
            f"{proportion(int(np.sum(codes[~disease] < 2)), int((~disease).sum())):36s} "
            f"{len(codes)} of {len(rows)}"
        )


if __name__ == "__main__":
    main()
