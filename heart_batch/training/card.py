"""The model card of a registered version: what the model is for, what it learnt from, how well it
does overall, per subgroup and at other hospitals, with intervals, and where not to use it.

It follows the list of model cards (Mitchell et al., FAccT 2019) and of TRIPOD+AI (Collins et al.,
BMJ 2024;385:e078378). Every figure comes from risks of patients the model did not learn from:
the out-of-fold risks of the cross-validation for the training rows, the model's prediction for
other hospitals' rows (the out-of-fold risk again for the rows it did learn, when retraining added
them). The card is generated at training (``build_model_card``), written as Markdown with its
calibration plot beside it, and stored with the run that registered the version.
"""

from dataclasses import dataclass
from datetime import date

import numpy as np
from sklearn.pipeline import Pipeline

from heart_batch.contract.columns import OUT_OF_FOLD_RISK
from heart_batch.contract.features import DIRECTION_SOURCES, FEATURES
from heart_batch.contract.subgroups import SUBGROUPS
from heart_batch.contract.words import plural
from heart_batch.model.bands import RiskBands
from heart_batch.model.directed import constraints_text
from heart_batch.model.performance import RESAMPLES, Performance, measure_performance
from heart_batch.training.data import OtherHospitals, TrainingData, out_of_sample_risk

CARD_ARTIFACT = "model_card/model_card.md"
"""Where a training run keeps its model card, with its plot beside it."""
CALIBRATION_ARTIFACT = "model_card/calibration.png"


@dataclass(frozen=True)
class GroupFigures:
    """The performance of the risks of one group of patients."""

    name: str
    performance: Performance
    note: str = ""


@dataclass(frozen=True)
class ModelCard:
    """The figures and facts of one model's card (``markdown`` writes it)."""

    model_name: str
    run: tuple[str, str, str]
    """The training run's name, id and code version."""
    configuration: str
    constraints: str
    data: TrainingData
    overall: Performance
    subgroups: list[GroupFigures]
    hospitals: list[GroupFigures]
    bands: RiskBands
    trained_on: date

    def markdown(self, version: str, decision: str, image: str = "calibration.png") -> str:
        """The card of registered ``version``, with the plot ``image`` (a relative path)."""
        run_name, run_id, code_version = self.run
        return "\n".join(
            [
                f"# Model card: {self.model_name} v{version}",
                "",
                f"Trained on {self.trained_on.isoformat()} by run '{run_name}' (`{run_id}`), "
                f"code `{code_version}`. Configuration: {self.configuration}. "
                f"Promotion: {decision}.",
                "",
                *_intended_use(),
                *self._data_section(),
                *self._performance_section(image),
                *self._hospitals_section(),
                "## Risk bands",
                "",
                "`risk_band` in the predictions. The cut-offs were chosen on the out-of-fold "
                "risks of the training rows; 95 % Wilson intervals.",
                "",
                self.bands.describe(),
                *self._directions_section(),
                *_limitations(self.data, self.hospitals),
            ]
        )

    def _data_section(self) -> list[str]:
        data = self.data
        ages = data.features["age"]
        women = float((data.features["sex"] == 0).mean())
        sources = "\n".join(f"| `{name}` | {rows} |" for name, rows in data.sources.items())
        return [
            "## Training data",
            "",
            f"{len(data.features)} distinct labelled patients "
            f"({plural(data.dropped_duplicates, 'exact duplicate')} dropped, "
            f"{plural(data.rejected, 'row')} rejected by the feature contract), aged "
            f"{ages.min():.0f} to {ages.max():.0f} (median {ages.median():.0f}), {women:.0%} "
            f"women, {data.target.mean():.0%} with disease.",
            "",
            "| source | patients |",
            "|---|---|",
            sources,
            "",
            "The seed is the Cleveland Clinic part of the UCI *Heart Disease* study (Janosi, "
            "Steinbrunn, Pfisterer and Detrano, 1988; doi:10.24432/C52P4X), in its Kaggle "
            "recoding; the other sources are scored files whose rows carried their outcome. "
            f"Checksum of the distinct rows: `{data.rows_checksum[:16]}`.",
            "",
        ]

    def _performance_section(self, image: str) -> list[str]:
        groups = [GroupFigures("all patients", self.overall), *self.subgroups]
        return [
            "## Discrimination and calibration",
            "",
            "Out-of-fold risks of the repeated cross-validation (each patient's risk from models "
            "that did not learn from them, averaged over the repeats), with 95 % bootstrap "
            f"intervals ({RESAMPLES} resamples). Calibration-in-the-large is 0 and the slope is "
            "1 for risks that are right; a positive intercept means risks too low, a slope below "
            "1 risks too extreme. Ages are in years: 50 to 60 includes both.",
            "",
            *_performance_table(groups, "group"),
            "",
            f"![Calibration overall, by sex and by age group]({image})",
            "",
        ]

    def _hospitals_section(self) -> list[str]:
        if not self.hospitals:
            return ["## Other hospitals", "", "No other hospital's labelled rows are held.", ""]
        return [
            "## Other hospitals",
            "",
            "The same figures at each other hospital whose labelled rows the project holds "
            "(`data/heart_other_hospitals.csv`, rows the feature contract accepts). Their "
            "patients differ (more missing values, other case mix): these figures say how far "
            "the risks can be trusted there before local recalibration.",
            "",
            *_performance_table(self.hospitals, "hospital"),
            "",
        ]

    def _directions_section(self) -> list[str]:
        directed = [
            f"| {feature.plain_name} | {'raises' if feature.direction == 'up' else 'lowers'} "
            "the risk |"
            for feature in FEATURES
            if feature.direction
        ]
        return [
            "## Feature directions",
            "",
            "| a higher value of | must |",
            "|---|---|",
            *directed,
            "",
            f"How this model keeps them: {self.constraints}. No reason shown with a prediction "
            "cites a value on the protective side of the reference mean as raising the risk.",
            "",
            f"Sources: {DIRECTION_SOURCES}",
            "",
        ]


def _performance_table(groups: list[GroupFigures], label: str) -> list[str]:
    lines = [
        f"| {label} | patients | with disease | ROC AUC | Brier | calibration-in-the-large | "
        "calibration slope | mean risk / observed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for group in groups:
        figures = group.performance
        cells = [
            group.name + (f" ({group.note})" if group.note else ""),
            str(figures.patients),
            str(figures.diseased),
            *[
                estimate.text() if estimate else "-"
                for estimate in (figures.roc_auc, figures.brier, figures.intercept, figures.slope)
            ],
            f"{figures.mean_risk:.1%} / {figures.observed_rate:.1%}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _intended_use() -> list[str]:
    return [
        "## Intended use",
        "",
        "- **What it estimates**: the probability that coronary angiography shows disease (at "
        "least one major vessel narrowed by 50 % or more) in an adult referred for the "
        "evaluation of suspected coronary artery disease, from 13 routine measurements "
        "(history, resting ECG, exercise test, fluoroscopy).",
        "- **For whom**: cardiologists and referral teams who prioritise patients for "
        "angiography, and the hospital data teams who run the scoring. It supports a clinician's "
        "judgement; it is not a diagnosis and does not replace the angiogram.",
        "- **The outcome**: the label `output` is the angiography result (`output` 0 = disease, "
        "1 = no disease, in the Kaggle recoding); `risk` is P(`output` = 0). It is "
        "cross-sectional: disease present at the time of the measurements, with no time "
        "horizon. It does not predict a future heart attack or death.",
        "",
    ]


def _limitations(data: TrainingData, hospitals: list[GroupFigures]) -> list[str]:
    women = int((data.features["sex"] == 0).sum())
    seed, *scored = data.sources.values()
    origin = (
        f"{seed} of its {len(data.features)} patients come from one hospital"
        if scored
        else f"all {seed} patients come from one hospital"
    )
    lines = [
        "## Limitations and where not to use it",
        "",
        f"- **Small and old data**: {origin} (Cleveland Clinic, 1981 to 1984)"
        f"{f', {sum(scored)} from scored files' if scored else ''}. Practice, tests and "
        "populations have changed since.",
        f"- **Few women**: {women} women; their intervals are wide, and the figures for women "
        "are less certain than for men.",
        "- **Referred patients only**: the prevalence of disease in referred patients is high. "
        "Do not use it to screen the general or asymptomatic population, in acute chest pain or "
        "suspected acute coronary syndrome, in children, or in patients with known coronary "
        "disease or earlier revascularisation.",
        "- **Fluoroscopy and thallium results are inputs**: the vessels coloured by fluoroscopy "
        "(`caa`) and the thallium scan (`thall`) are part of the imaging work-up. A risk without "
        "them is estimated from imputed values (listed as `imputed_features`) and is less "
        "reliable.",
        "- **Reasons describe the model, not the patient's biology**: a reason is what moved "
        "this model's risk from the reference population's, not a cause.",
    ]
    miscalibrated = [
        group.name
        for group in hospitals
        if group.performance.intercept is not None
        and not group.performance.intercept.low <= 0 <= group.performance.intercept.high
    ]
    if miscalibrated:
        lines.append(
            f"- **Other hospitals**: the risks are miscalibrated at {', '.join(miscalibrated)} "
            "(calibration-in-the-large away from 0 beyond its interval): recalibrate on local "
            "outcomes before using the risks there."
        )
    return [*lines, ""]


def build_model_card(
    identity: tuple[str, str, str, str, str],
    fitted: tuple[Pipeline, np.ndarray, RiskBands],
    data: TrainingData,
    hospitals: OtherHospitals | None,
    seed: int,
) -> ModelCard:
    """The card's figures: overall and per subgroup on the out-of-fold risks, per other hospital
    on out-of-sample risks.

    Args:
        identity: The registered model's name, the run's name, id and code version, and the
            model's configuration in words.
        fitted: The model fitted on every row, the out-of-fold risks and the risk bands.
        data: The training data.
        hospitals: Other hospitals' labelled rows, or None.
        seed: Seed of the bootstrap.
    """
    model_name, run_name, run_id, code_version, configuration = identity
    model, out_of_fold_risk, bands = fitted
    disease = data.target.to_numpy()
    subgroups = []
    for group in SUBGROUPS:
        members = group.members(data.features)
        if members.any():
            subgroups.append(
                GroupFigures(
                    group.name,
                    measure_performance(disease[members], out_of_fold_risk[members], seed=seed),
                )
            )
    return ModelCard(
        model_name=model_name,
        run=(run_name, run_id, code_version),
        configuration=configuration,
        constraints=constraints_text(model),
        data=data,
        overall=measure_performance(disease, out_of_fold_risk, seed=seed),
        subgroups=subgroups,
        hospitals=_hospital_figures(model, data, out_of_fold_risk, hospitals, seed),
        bands=bands,
        trained_on=date.today(),
    )


def _hospital_figures(model, data, out_of_fold_risk, hospitals, seed) -> list[GroupFigures]:
    if hospitals is None:
        return []
    risk, learnt = out_of_sample_risk(
        model,
        data.reference.assign(**{OUT_OF_FOLD_RISK: out_of_fold_risk}),
        hospitals.features,
        hospitals.disease,
    )
    figures = []
    for name in sorted(set(hospitals.hospital)):
        rows = hospitals.hospital == name
        note = f"{int(learnt[rows].sum())} learnt: out-of-fold" if learnt[rows].any() else ""
        figures.append(
            GroupFigures(
                name,
                measure_performance(hospitals.disease[rows], risk[rows], seed=seed),
                note,
            )
        )
    return figures
