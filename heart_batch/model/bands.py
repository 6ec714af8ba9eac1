"""Risk bands: low, intermediate and high, with cut-offs chosen on out-of-fold risks.

"Low" must miss few diseased patients: its cut-off is the highest that keeps the sensitivity of
"not low" at ``min_sensitivity`` or more. "High" must accuse few healthy ones: its cut-off is the
lowest that keeps the specificity of "high" at ``min_specificity`` or more. Both are chosen at
training time from the cross-validation's out-of-fold risks of the training rows (risks of patients
the model had not seen), and stored with the model version.
"""

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from heart_batch.contract.columns import RISK, RISK_BAND
from heart_batch.settings import TrainingSettings

BAND_NAMES = ("low", "intermediate", "high")
"""Band codes 0, 1, 2 in this order."""
CONFIDENCE = 0.95


@dataclass(frozen=True)
class BandTargets:
    """What the cut-offs must keep on the out-of-fold risks."""

    min_sensitivity: float
    min_specificity: float

    @classmethod
    def from_settings(cls, settings: TrainingSettings) -> "BandTargets":
        """The targets the HEART_BAND_* settings give."""
        return cls(settings.band_min_sensitivity, settings.band_min_specificity)


@dataclass(frozen=True)
class RiskBands:
    """Cut-offs and what they achieve on the rows they were chosen on.

    A risk below ``low_below`` is low; from ``high_from`` on it is high; intermediate in between.
    Intervals are Wilson 95 % intervals of the two proportions.
    """

    low_below: float
    high_from: float
    sensitivity: float
    """Diseased patients not called low, as a share of the diseased."""
    sensitivity_interval: tuple[float, float]
    specificity: float
    """Healthy patients not called high, as a share of the healthy."""
    specificity_interval: tuple[float, float]
    shares: tuple[float, float, float]
    """Share of the rows in each band."""
    targets: BandTargets
    rows: int

    def codes(self, risk: np.ndarray) -> np.ndarray:
        """Each risk's band code (0 low, 1 intermediate, 2 high)."""
        return band_codes(risk, self.low_below, self.high_from)

    def as_dict(self) -> dict:
        """A JSON-ready form (``from_dict`` reads it back)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, stored: dict) -> "RiskBands":
        """The bands ``as_dict`` stored."""
        return cls(
            **stored
            | {
                "sensitivity_interval": tuple(stored["sensitivity_interval"]),
                "specificity_interval": tuple(stored["specificity_interval"]),
                "shares": tuple(stored["shares"]),
                "targets": BandTargets(**stored["targets"]),
            }
        )

    def as_metrics(self) -> dict[str, float]:
        """Flat MLflow metrics, ``bands.*``."""
        return {
            "bands.low_below": self.low_below,
            "bands.high_from": self.high_from,
            "bands.sensitivity_not_low": self.sensitivity,
            "bands.sensitivity_not_low.ci_low": self.sensitivity_interval[0],
            "bands.sensitivity_not_low.ci_high": self.sensitivity_interval[1],
            "bands.specificity_high": self.specificity,
            "bands.specificity_high.ci_low": self.specificity_interval[0],
            "bands.specificity_high.ci_high": self.specificity_interval[1],
            **{f"bands.share.{name}": share for name, share in zip(BAND_NAMES, self.shares)},
        }

    def describe(self) -> str:
        """The cut-offs and their figures as a Markdown table."""
        sensitivity_low, sensitivity_high = self.sensitivity_interval
        specificity_low, specificity_high = self.specificity_interval
        return (
            "| band | risk | on the out-of-fold risks of the training rows |\n"
            "|---|---|---|\n"
            f"| low | below {self.low_below:.3f} | {self.shares[0]:.1%} of patients; "
            f'sensitivity of "not low" {self.sensitivity:.1%} [{sensitivity_low:.1%}, '
            f"{sensitivity_high:.1%}] (target >= {self.targets.min_sensitivity:.0%}) |\n"
            f"| intermediate | {self.low_below:.3f} to {self.high_from:.3f} | "
            f"{self.shares[1]:.1%} of patients |\n"
            f"| high | {self.high_from:.3f} or more | {self.shares[2]:.1%} of patients; "
            f"specificity {self.specificity:.1%} [{specificity_low:.1%}, "
            f"{specificity_high:.1%}] (target >= {self.targets.min_specificity:.0%}) |\n"
        )


def choose_bands(risk: np.ndarray, disease: np.ndarray, targets: BandTargets) -> RiskBands:
    """The cut-offs that meet ``targets`` on these risks, as wide a low and a high band as they
    allow. When the two would cross, the intermediate band is empty (high wins).

    Args:
        risk: Out-of-fold risks.
        disease: 1 for a diseased patient, 0 for a healthy one.
        targets: The sensitivity and specificity to keep.
    """
    risk, disease = np.asarray(risk, dtype=np.float64), np.asarray(disease).astype(bool)
    diseased, healthy = np.sort(risk[disease]), np.sort(risk[~disease])
    candidates = np.unique(np.concatenate([risk, [np.inf]]))
    # Sensitivity of "not low" at cut-off c: diseased with risk >= c; falls as c rises.
    sensitivity = 1 - np.searchsorted(diseased, candidates, side="left") / len(diseased)
    low_below = candidates[sensitivity >= targets.min_sensitivity].max()
    # Specificity of "high" at cut-off c: healthy with risk < c; rises with c.
    specificity = np.searchsorted(healthy, candidates, side="left") / len(healthy)
    high_from = candidates[specificity >= targets.min_specificity].min()
    low_below = min(low_below, high_from)
    codes = band_codes(risk, low_below, high_from)
    return RiskBands(
        low_below=float(low_below),
        high_from=float(high_from),
        sensitivity=float(np.mean(codes[disease] > 0)),
        sensitivity_interval=wilson_interval(int(np.sum(codes[disease] > 0)), len(diseased)),
        specificity=float(np.mean(codes[~disease] < 2)),
        specificity_interval=wilson_interval(int(np.sum(codes[~disease] < 2)), len(healthy)),
        shares=_three(np.bincount(codes, minlength=3) / len(risk)),
        targets=targets,
        rows=len(risk),
    )


def band_codes(risk: np.ndarray, low_below: float, high_from: float) -> np.ndarray:
    """Each risk's band code (0 low, 1 intermediate, 2 high)."""
    return (risk >= low_below).astype(np.int8) + (risk >= high_from)


def wilson_interval(successes: int, trials: int) -> tuple[float, float]:
    """The Wilson 95 % interval of a proportion."""
    interval = binomtest(successes, trials).proportion_ci(CONFIDENCE, method="wilson")
    return float(interval.low), float(interval.high)


def with_bands(frame: pd.DataFrame, bands: RiskBands | None) -> pd.DataFrame:
    """``frame`` with each ``risk``'s band code (``RISK_BAND``), when there are bands."""
    if bands is None:
        return frame
    return frame.assign(**{RISK_BAND: bands.codes(frame[RISK].to_numpy())})


def _three(shares: np.ndarray) -> tuple[float, float, float]:
    low, intermediate, high = (float(share) for share in shares)
    return low, intermediate, high
