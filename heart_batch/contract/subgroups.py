"""The patient subgroups whose figures are reported, watched and compared on their own.

Sex and three age groups, as TRIPOD+AI asks results to be broken down: a model that is fine on
average can be miscalibrated for women, or for the over-60s. The model card reports every figure
per subgroup, monitoring judges each subgroup's calibration and risk distribution, and the
promotion gate refuses a challenger that is worse for one of them.
"""

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Subgroup:
    """Patients whose ``feature`` lies between ``low`` and ``high``.

    ``closed`` says which bounds belong to the subgroup, as for a ``pandas.Interval``.
    """

    name: str
    feature: str
    low: float
    high: float
    closed: Literal["both", "neither", "left", "right"] = "both"

    def members(self, rows: pd.DataFrame) -> np.ndarray:
        """True for each row in the subgroup (a missing value belongs to none)."""
        values = rows[self.feature].to_numpy(dtype=np.float64)
        above = values >= self.low if self.closed in ("both", "left") else values > self.low
        below = values <= self.high if self.closed in ("both", "right") else values < self.high
        return above & below

    @property
    def key(self) -> str:
        """The name in metric names and checks: ``under_50``."""
        return self.name.replace(" ", "_")


SUBGROUPS: tuple[Subgroup, ...] = (
    Subgroup("women", "sex", 0, 0),
    Subgroup("men", "sex", 1, 1),
    Subgroup("under 50", "age", -np.inf, 50, closed="neither"),
    Subgroup("50 to 60", "age", 50, 60),
    Subgroup("over 60", "age", 60, np.inf, closed="neither"),
)
"""Women and men (``sex`` 0 and 1), and ages under 50, 50 to 60 (both included) and over 60."""
