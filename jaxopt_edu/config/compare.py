"""`jaxopt-edu compare`: a config's optimizer variants on the same data and initialisation.

    variants:
      sgd:          {optimizer: {name: sgd, learning_rate: 1.0e-4}}
      momentum_0.9: {optimizer: {name: sgd, learning_rate: 1.0e-4, momentum: 0.9}}
      adam:         {optimizer: {name: adam, learning_rate: 1.0e-3}, training.batch_size: 1024}

Each variant is the config with its overrides applied (only optimizer,
training and swa may change). The data set is loaded once and every variant
starts from the same initial weights (same model, same seed). OUT gets:

    comparison.md    the table (also printed)
    comparison.json  the table's rows and each variant's history
    curves.png       train loss, validation loss and accuracy, learning rate: all variants overlaid
    <label>/         each variant's metrics.json, plots and checkpoints (`jaxopt-edu train` output)

With `only`, just those variants run; the other variants' rows already in
OUT/comparison.json stay in the table and the curves.
"""

import json
import re
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence, Union

from jaxopt_edu.config.builders import load_data, train
from jaxopt_edu.config.errors import ConfigError
from jaxopt_edu.config.schema import apply_variant, validate

COLUMNS = ("variant", "optimizer", "batch", "epochs", "final train loss", "best val loss",
           "val accuracy", "test accuracy", "s/epoch")


class Comparison(NamedTuple):
    rows: list  # one dict per variant
    table: str  # markdown
    histories: dict  # label -> history


def variant_configs(config: dict, only: Optional[Sequence[str]] = None) -> dict:
    """label -> validated config of each variant (the config itself when it has none)."""
    variants = config.get("variants") or {config["name"]: {}}
    if only:
        unknown = [label for label in only if label not in variants]
        if unknown:
            raise ConfigError("--only", f"no variant {unknown[0]!r} (variants: {', '.join(variants)})")
        variants = {label: variants[label] for label in only}
    result = {}
    for label, overrides in variants.items():
        variant = validate(apply_variant(config, label, overrides))
        variant["name"] = f"{config['name']}/{label}"
        result[label] = variant
    return result


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


def plot_curves(histories: dict, path: Union[str, Path]) -> Path:
    """Overlaid per-epoch curves of every variant: train/validation loss, accuracy, learning rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(12, 8))
    panels = (
        (axes[0, 0], "train_loss", "train loss (epoch mean)", True),
        (axes[0, 1], "validation_loss", "validation loss", True),
        (axes[1, 0], "validation_accuracy", "validation accuracy", False),
        (axes[1, 1], "learning_rate", "learning rate", True),
    )
    for axis, key, title, log in panels:
        drawn = False
        for label, history in histories.items():
            points = [(row["epoch"], row[key]) for row in history if row.get(key) is not None]
            if points:
                epochs, values = zip(*points)
                drawn = drawn or any(v > 0 for v in values)
                axis.plot(epochs, values, label=label, marker="." if len(points) < 30 else None)
        if log and drawn:
            axis.set_yscale("log")
        axis.set_title(title)
        axis.set_xlabel("epoch")
        axis.grid(True, alpha=0.3)
    axes[0, 0].legend(fontsize="small")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def _read_previous(path: Path) -> tuple:
    if not path.is_file():
        return {}, {}
    data = json.loads(path.read_text())
    return {row["variant"]: row for row in data.get("rows", [])}, data.get("histories", {})


def run_comparison(config: dict, out: Union[str, Path], data_dir: Optional[Union[str, Path]] = None,
                   only: Optional[Sequence[str]] = None, splits: Any = None, progress: Optional[bool] = None) -> Comparison:
    """Trains every variant (same data, same initial weights); writes OUT/comparison.md/.json and curves.png."""
    variants = variant_configs(config, only)
    out = Path(out)
    if splits is None:
        splits = load_data(config, data_dir)  # variants cannot change data or seed: one load serves all
    rows, histories = [], {}
    order = list(config.get("variants") or {config["name"]: {}})
    if only:  # keep the rows of the other variants already in OUT
        previous = _read_previous(out / "comparison.json")
        for label in order:
            if label not in variants and label in previous[0]:
                rows.append(previous[0][label])
                histories[label] = previous[1][label]
    for label, variant in variants.items():
        result = train(variant, splits, out_dir=out / _folder(label), progress=progress)
        history = result.history
        histories[label] = history
        validation_losses = [row["validation_loss"] for row in history if row["validation_loss"] is not None]
        rows = [row for row in rows if row["variant"] != label]
        rows.append({
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
        })
        rows.sort(key=lambda row: order.index(row["variant"]))
        table = markdown_table(rows)
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.md").write_text(table + "\n")
        (out / "comparison.json").write_text(
            json.dumps({"config": config, "rows": rows, "histories": histories}, indent=2, default=repr) + "\n")
    plot_curves(histories, out / "curves.png")
    return Comparison(rows, markdown_table(rows), histories)
