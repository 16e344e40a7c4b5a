"""`jaxopt-edu compare`: a config's optimizer variants on the same data and initialisation.

    variants:
      sgd:          {optimizer: {name: sgd, learning_rate: 1.0e-4}}
      momentum_0.9: {optimizer: {name: sgd, learning_rate: 1.0e-4, momentum: 0.9}}
      adam:         {optimizer: {name: adam, learning_rate: 1.0e-3}, training.batch_size: 1024}

Each variant is the config with its overrides applied (only optimizer,
training and swa may change), checked once when the config was validated.
The data set is loaded once, every variant's model and optimizer are built
before the first one trains (a bad value anywhere stops the comparison
before any training), and every variant starts from the same initial weights
(same model, same seed). OUT gets:

    comparison.md    the table (also printed)
    comparison.json  the table's rows and each variant's history
    curves.png       train loss, validation loss and accuracy, learning rate: all variants overlaid
    <label>/         each variant's metrics.json, plots and checkpoints (`jaxopt-edu train` output)

Each file is written whole or not at all (an interrupted comparison leaves the
previous complete table). With `only`, just those variants run; the other
variants' rows already in OUT/comparison.json stay in the table and the curves.

`chained: true` runs the variants in the order listed, each starting from the
previous variant's final weights (its last weights, not an SWA average: the
model a notebook's next cell continues), the optimizer state fresh, as the
cells of a notebook continue one model. A variant's checkpoints record the
chain before it, so a rerun resumes every finished variant and continues the
chain. `only` is refused for a chained comparison (a variant needs all the
ones before it).
"""

import re
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence, Union

from jaxopt_edu.config.errors import ConfigError
from jaxopt_edu.config.schema import variant_configs
from jaxopt_edu.outputs import write_text_atomic
from jaxopt_edu.plots import plot_comparison
from jaxopt_edu.runs.build import build_variants, load_data
from jaxopt_edu.runs.train import run_config, train
from jaxopt_edu.training.metrics import read_json, write_json_atomic

COLUMNS = ("variant", "optimizer", "batch", "epochs", "final train loss", "best val loss",
           "val accuracy", "test accuracy", "s/epoch")


class Comparison(NamedTuple):
    rows: list  # one dict per variant
    table: str  # markdown
    histories: dict  # label -> history


def describe_optimizer(spec: Any) -> str:
    """A short text for the table: "sgd(lr=0.0001, momentum=0.9)"."""
    if isinstance(spec, str):
        return spec
    if spec.get("name") == "chain":
        return "chain(" + ", ".join(describe_optimizer(part) for part in spec.get("transforms", [])) + ")"
    arguments = []
    for key, value in spec.items():
        if key == "name":
            continue
        if isinstance(value, dict):
            value = describe_optimizer(value)
        key = "lr" if key == "learning_rate" else key
        arguments.append(f"{key}={value:g}" if isinstance(value, float) else f"{key}={value}")
    return f"{spec['name']}({', '.join(arguments)})"


def _format(value: Optional[float], digits: str) -> str:
    return "–" if value is None else format(value, digits)


def markdown_table(rows: Sequence[dict]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = (
            row["variant"], row["optimizer"] + (" + SWA" if row.get("swa") else ""), str(row["batch_size"]),
            str(row["epochs"]), _format(row["final_train_loss"], ".4g"), _format(row["best_validation_loss"], ".4g"),
            _format(row["validation_accuracy"], ".2%"), _format(row["test_accuracy"], ".2%"),
            _format(row["seconds_per_epoch"], ".2f"),
        )
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def _folder(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", label) or "variant"


def _read_previous(path: Path) -> tuple:
    if not path.is_file():
        return {}, {}
    data = read_json(path)
    return {row["variant"]: row for row in data.get("rows", [])}, data.get("histories", {})


def _row(label: str, variant: dict, result: Any) -> dict:
    history = result.history
    validation_losses = [row["validation_loss"] for row in history if row["validation_loss"] is not None]
    return {
        "variant": label,
        "optimizer": describe_optimizer(variant["optimizer"]),
        "swa": variant["swa"],
        "batch_size": variant["training"]["batch_size"],
        "epochs": len(history),
        "final_train_loss": history[-1]["train_loss"],
        "best_validation_loss": min(validation_losses) if validation_losses else None,
        "validation_accuracy": result.validation_accuracy,
        "test_accuracy": result.test_accuracy,
        "seconds_per_epoch": result.metrics["seconds_per_epoch"],
    }


def run_comparison(config: dict, out: Union[str, Path], data_dir: Optional[Union[str, Path]] = None,
                   only: Optional[Sequence[str]] = None, splits: Any = None, progress: Optional[bool] = None) -> Comparison:
    """Trains every variant (same data, same initial weights); writes OUT/comparison.md/.json and curves.png."""
    if config.get("chained") and only:
        raise ConfigError("--only", "a chained comparison runs every variant in order (each starts from "
                          "the previous one's final weights); run it whole: finished variants resume")
    variants = variant_configs(config, only)
    out = Path(out)
    if splits is None:
        splits = load_data(config, data_dir)  # variants cannot change data or seed: one load serves all
    parts = build_variants(config, variants, splits.num_classes, int(splits.train.labels.shape[0]))
    rows, histories = [], {}
    order = list(config.get("variants") or {config["name"]: {}})
    if only:  # keep the rows of the other variants already in OUT
        previous_rows, previous_histories = _read_previous(out / "comparison.json")
        for label in order:
            if label not in variants and label in previous_rows:
                rows.append(previous_rows[label])
                histories[label] = previous_histories[label]
    previous = None  # chained: (the chain so far, the last variant's final variables)
    for label, variant in variants.items():
        start = {} if previous is None else {"initial_variables": previous[1], "starts_from": previous[0]}
        result = train(variant, splits, out_dir=out / _folder(label), progress=progress, parts=parts[label], **start)
        if config.get("chained"):
            chain_so_far = (previous[0] if previous else []) + [{"variant": label, "epochs": variant["training"]["epochs"],
                                                                  "run": run_config(variant)}]
            previous = (chain_so_far, result.state.variables)
        histories[label] = result.history
        rows = [row for row in rows if row["variant"] != label] + [_row(label, variant, result)]
        rows.sort(key=lambda row: order.index(row["variant"]))
        write_text_atomic(out / "comparison.md", markdown_table(rows) + "\n")
        write_json_atomic(out / "comparison.json", {"config": config, "rows": rows, "histories": histories})
    plot_comparison(histories, out / "curves.png")
    return Comparison(rows, markdown_table(rows), histories)
