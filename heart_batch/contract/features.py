"""The feature contract: the model's inputs and their valid domains, for training and scoring.

Codes follow the UCI Heart Disease (Cleveland) data in its Kaggle recoding; see the data card in
docs/data.md. The label and the output columns are in ``heart_batch.contract.columns``; the checks
of a row in ``heart_batch.contract.validation``.
"""

from dataclasses import dataclass, field
from typing import Literal


@dataclass(frozen=True)
class Feature:
    """One model input and its valid domain.

    Attributes:
        name: Column name in the CSV (matched case-insensitively, spaces trimmed).
        description: Meaning, for people.
        kind: ``numeric`` and ``ordinal`` are scaled as numbers, ``nominal`` is one-hot encoded.
        valid_range: Inclusive physiological range of a numeric feature.
        codes: Valid category codes and their meaning.
        missing_codes: Values that mean "not recorded" (dataset codes and impossible zeros); they
            become missing and are imputed.
        unit: Unit of a numeric feature.
        plain_name: What a clinician calls it, in the reasons of a prediction.
        direction: The established direction of its effect on coronary disease, where medicine
            has one (``DIRECTION_SOURCES``): ``up`` when a higher value raises the risk, ``down``
            when it lowers it. The model must respect it, and a value on the protective side of
            the reference population is never a reason for a higher risk.
    """

    name: str
    description: str
    kind: Literal["numeric", "ordinal", "nominal"]
    valid_range: tuple[float, float] | None = None
    codes: dict[int, str] = field(default_factory=dict)
    missing_codes: tuple[float, ...] = ()
    unit: str = ""
    plain_name: str = ""
    direction: Literal["up", "down"] | None = None

    def domain_text(self) -> str:
        """The valid domain in words, for rejection reasons and docs."""
        if self.codes:
            return ", ".join(f"{code}={meaning}" for code, meaning in self.codes.items())
        low, high = self.valid_range or (float("-inf"), float("inf"))
        return f"{low:g} to {high:g} {self.unit}".strip()

    def value_label(self, code: int | None = None) -> str:
        """A value in words for a reason: "chest pain: asymptomatic", or the feature and its unit
        for a number ("cholesterol (mg/dl)"), whose value goes beside it."""
        if code is not None:
            return f"{self.plain_name}: {self.codes[code]}"
        return f"{self.plain_name} ({self.unit})" if self.unit else self.plain_name


DIRECTION_SOURCES = (
    "Age, resting blood pressure and total cholesterol raise coronary risk: the Framingham "
    "general cardiovascular risk profile (D'Agostino et al., Circulation 2008;117:743-753) and "
    "the pre-test probability of obstructive coronary disease, which rises with age (Genders et "
    "al., BMJ 2011;342:d1760; ESC 2019 guidelines on chronic coronary syndromes, Knuuti et al., "
    "Eur Heart J 2020;41:407-477). Exercise ST depression raises it and a higher exercise "
    "capacity lowers it: the Duke treadmill score (Mark et al., N Engl J Med 1991;325:849-853) "
    "and the ACC/AHA exercise testing guideline (Gibbons et al., Circulation 2002;106:1883-1892), "
    "in which failing to reach the predicted maximum heart rate (chronotropic incompetence) is "
    "itself a marker of coronary disease. The other features are codes, or (the vessels coloured "
    "by fluoroscopy) part of the imaging that settles the outcome: they are left to the data."
)
"""Why each ``Feature.direction`` is what it is."""

FEATURES: tuple[Feature, ...] = (
    Feature(
        "age",
        "Age",
        "numeric",
        valid_range=(1, 120),
        unit="years",
        plain_name="age",
        direction="up",
    ),
    Feature("sex", "Sex", "nominal", codes={0: "female", 1: "male"}, plain_name="sex"),
    Feature(
        "cp",
        "Chest pain type",
        "nominal",
        codes={0: "asymptomatic", 1: "atypical angina", 2: "non-anginal pain", 3: "typical angina"},
        plain_name="chest pain",
    ),
    Feature(
        "trtbps",
        "Resting blood pressure (0 = not recorded)",
        "numeric",
        valid_range=(50, 250),
        missing_codes=(0,),
        unit="mm Hg",
        plain_name="resting blood pressure",
        direction="up",
    ),
    Feature(
        "chol",
        "Serum cholesterol (0 = not recorded)",
        "numeric",
        valid_range=(50, 700),
        missing_codes=(0,),
        unit="mg/dl",
        plain_name="cholesterol",
        direction="up",
    ),
    Feature(
        "fbs",
        "Fasting blood sugar > 120 mg/dl",
        "nominal",
        codes={0: "false", 1: "true"},
        plain_name="fasting blood sugar > 120 mg/dl",
    ),
    Feature(
        "restecg",
        "Resting ECG",
        "nominal",
        codes={0: "left-ventricular hypertrophy", 1: "normal", 2: "ST-T wave abnormality"},
        plain_name="resting ECG",
    ),
    Feature(
        "thalachh",
        "Maximum heart rate achieved",
        "numeric",
        valid_range=(50, 250),
        unit="bpm",
        plain_name="maximum heart rate",
        direction="down",
    ),
    Feature(
        "exng",
        "Exercise-induced angina",
        "nominal",
        codes={0: "no", 1: "yes"},
        plain_name="exercise-induced angina",
    ),
    Feature(
        "oldpeak",
        "ST depression induced by exercise relative to rest (negative = elevation)",
        "numeric",
        valid_range=(-5, 10),
        unit="mm",
        plain_name="ST depression on exercise",
        direction="up",
    ),
    Feature(
        "slp",
        "Slope of the peak exercise ST segment",
        "nominal",
        codes={0: "downsloping", 1: "flat", 2: "upsloping"},
        plain_name="peak exercise ST slope",
    ),
    Feature(
        "caa",
        "Major vessels coloured by fluoroscopy (4 = not recorded)",
        "ordinal",
        codes={0: "0 vessels", 1: "1 vessel", 2: "2 vessels", 3: "3 vessels"},
        missing_codes=(4,),
        plain_name="vessels coloured by fluoroscopy",
    ),
    Feature(
        "thall",
        "Thallium stress test (0 = not recorded)",
        "nominal",
        codes={1: "fixed defect", 2: "normal", 3: "reversible defect"},
        missing_codes=(0,),
        plain_name="thallium stress test",
    ),
)

FEATURE_NAMES: list[str] = [feature.name for feature in FEATURES]
FEATURES_BY_NAME: dict[str, Feature] = {feature.name: feature for feature in FEATURES}


def normalize_header(name: str) -> str:
    """Column name as matched against the contract: trimmed and lower-case."""
    return name.strip().lower()


def missing_columns(columns: list[str]) -> list[str]:
    """Contract features absent from ``columns`` (already normalised)."""
    present = set(columns)
    return [name for name in FEATURE_NAMES if name not in present]
