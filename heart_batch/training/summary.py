"""What a training run did: its MLflow run name, the version's description, one line for the run
and the ``training-result`` artifact."""

from dataclasses import dataclass

from heart_batch.training.promotion import decision_table
from heart_batch.training.run import Candidate, Incumbent


@dataclass(frozen=True)
class TrainingOutcome:
    """What a training run produced."""

    version: str
    alias: str
    reason: str
    run_id: str


def run_name(trigger: str, scheduled: bool) -> str:
    """The parent MLflow run's name: why it ran (monitoring's window, the nightly schedule, or a
    person)."""
    if trigger:
        window = trigger.split(":", 1)[0].removeprefix("monitoring window ")
        return f"triggered by window {window}"
    return "nightly" if scheduled else "by hand"


def figures(candidate: Candidate) -> str:
    """The challenger's cross-validated figures in a few words."""
    scores = candidate.scores
    return f"CV ROC AUC {scores.roc_auc:.4f} ± {scores.roc_auc_std:.4f}, Brier {scores.brier:.4f}"


def version_description(candidate: Candidate, rows: int, name: str, card_link: str) -> str:
    """The registered version's description in the MLflow UI: the decision, its reason, the
    figures and where its model card is (``card_link``)."""
    decision = candidate.decision
    return (
        f"{decision.alias}: {decision.reason}\n\n{candidate.configuration}; {figures(candidate)}; "
        f"trained on {rows} rows (run '{name}', `{candidate.run_id}`).\n\nModel card (intended "
        f"use, figures per subgroup and hospital with intervals, limitations): {card_link}. The "
        "figures of every contender are in the run's promotion/contenders.md, the risk bands in "
        "bands/bands.md."
    )


def one_line(outcome: TrainingOutcome, candidate: Candidate, rows: int) -> str:
    """The run's outcome in one line: the final state message and the last log line."""
    return (
        f"Version {outcome.version} is {outcome.alias}: {outcome.reason} "
        f"({figures(candidate)}; {rows} rows)"
    )


def training_markdown(
    name: str,
    candidate: Candidate,
    incumbent: Incumbent | None,
    outcome: TrainingOutcome,
    card_link: str,
) -> str:
    """The ``training-result`` artifact; ``card_link`` says where the version's model card is."""
    scores = candidate.scores
    lines = [
        f"# Training of `{name}`",
        "",
        f"**Version {outcome.version} → `{outcome.alias}`**: {outcome.reason}",
        "",
        f"Challenger: {candidate.configuration}. {figures(candidate)}, accuracy "
        f"{scores.accuracy:.3f}.",
        "",
        f"Chosen among {candidate.trials} trials by the one-standard-error rule: "
        f"{candidate.selection.describe()}.",
        "",
        f"Incumbent: {f'v{incumbent.version}' if incumbent else 'none'}. "
        "Every contender judged by its out-of-sample risk of every current row:",
        "",
        decision_table(candidate.contenders),
        "",
        "Risk bands of this version (`risk_band` in the predictions), chosen on its out-of-fold "
        "risks, with 95 % intervals:",
        "",
        candidate.bands.describe(),
        f"Model card of v{outcome.version}: {card_link}",
        "",
        f"MLflow run `{outcome.run_id}`",
    ]
    return "\n".join(lines)
