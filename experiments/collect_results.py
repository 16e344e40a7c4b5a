"""Prints the tables of experiments/RESULTS.md from the runs' metrics, beside the notebooks' figures.

    python experiments/collect_results.py [RUNS_DIR]      (default runs/)

Reads what `bash experiments/run_mnist.sh` and `bash experiments/run_cifar10.sh`
wrote (metrics.json of each run, comparison.json of each comparison); a run
not (yet) there is shown as "pending".
"""

import json
import sys
from pathlib import Path

# The notebooks' figures, as the issue quotes them (None: the notebook's number is not quoted).
MNIST_NOTEBOOK = {
    "sgd": ("test accuracy 11.6%", "200 epochs, batch 4096, lr 1e-4"),
    "momentum_0.9": ("test accuracy 25.5%", "200 epochs, batch 4096, lr 1e-4"),
    "momentum_0.99": ("test accuracy 88.3%", "200 epochs, batch 4096, lr 1e-4"),
    "nesterov_0.99": (None, "ours: momentum 0.99, batch 4096, lr 1e-4"),
    "momentum_0.99_steplr": (None, "ours: momentum 0.99, batch 4096, lr 1e-3 halved every 20 epochs"),
    "adagrad": ("final train loss 0.169", "200 epochs, batch 1024, lr 1e-3"),
    "rmsprop": ("final train loss 1.7e-4", "200 epochs, batch 1024, lr 1e-3"),
    "adam": ("final train loss 1.2e-4", "200 epochs, batch 1024, lr 1e-3"),
}
LONG_NOTEBOOK = {
    "momentum_0.99": ("test accuracy 97.15%", "4000 epochs, batch 8192, lr 1e-4"),
    "momentum_0.99_wd_1e-3": ("test accuracy 97.21%", "4000 epochs, batch 8192, lr 1e-4"),
}
CIFAR_NOTEBOOK = {
    "sgd_momentum_0.9": "full data: mean epoch loss 1.777 → 0.844",
}


def _read(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def _percent(value):
    return "–" if value is None else f"{100 * value:.2f}%"


def _loss(value):
    return "–" if value is None else f"{value:#.3g}"


def _trend(history, every):
    """Test-free trend: validation accuracy at a few epochs."""
    points = [row for row in history if row["epoch"] % every == 0 or row["epoch"] == 1]
    return ", ".join(f"{row['epoch']}: {_percent(row['validation_accuracy'])}" for row in points)


def comparison_table(runs: Path, name: str, notebook: dict, every: int, file: str = "comparison.json") -> str:
    data = _read(runs / name / file)
    rows = {row["variant"]: row for row in (data or {}).get("rows", [])}
    histories = (data or {}).get("histories", {})
    lines = [
        "| variant | notebook | ours: epochs | final train loss | test accuracy | val. accuracy by epoch | s/epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, (figure, setting) in notebook.items():
        row = rows.get(label)
        if row is None:
            lines.append(f"| {label} | {figure or 'not quoted'} ({setting}) | pending | | | | |")
            continue
        lines.append(
            f"| {label} | {figure or 'not quoted'} ({setting}) | {row['epochs']} | {_loss(row['final_train_loss'])} | "
            f"{_percent(row['test_accuracy'])} | {_trend(histories.get(label, []), every)} | "
            f"{row['seconds_per_epoch']:.2f} |"
        )
    return "\n".join(lines)


def cifar_table(runs: Path, name: str) -> str:
    data = _read(runs / name / "comparison.json")
    if data is not None:
        done = {row["variant"] for row in data["rows"]}
        data["rows"] += [{"variant": label, "pending": True} for label in data["config"]["variants"] if label not in done]
    if data is None:
        return "(pending)"
    lines = [
        "| variant | optimizer | notebook | mean epoch loss: epoch 1 → last | test accuracy | s/epoch |",
        "|---|---|---|---|---|---|",
    ]
    for row in data["rows"]:
        if row.get("pending"):
            lines.append(f"| {row['variant']} | pending | | | | |")
            continue
        history = data["histories"][row["variant"]]
        losses = f"{history[0]['train_loss']:.3f} → {history[-1]['train_loss']:.3f}"
        lines.append(
            f"| {row['variant']} | {row['optimizer']}{' + SWA' if row.get('swa') else ''} | "
            f"{CIFAR_NOTEBOOK.get(row['variant'], 'not quoted')} | {losses} | {_percent(row['test_accuracy'])} | "
            f"{row['seconds_per_epoch']:.1f} |"
        )
    return "\n".join(lines)


DONE_WHEN = {"mnist_mlp_adam_5": "≥ 95%", "mnist_mlp_adam_20": "≥ 97.5%", "cifar10_lenet_sgd": "≥ 60%"}


def train_row(runs: Path, name: str) -> str:
    metrics = _read(runs / name / "metrics.json")
    if metrics is None or metrics.get("test_accuracy") is None:
        done = len(metrics["history"]) if metrics else 0
        return f"| {name} | {DONE_WHEN.get(name, '')} | pending ({done} epochs done) | | | |"
    history = metrics["history"]
    losses = f"{history[0]['train_loss']:.3f} → {history[-1]['train_loss']:.3f}"
    return (f"| {name} | {DONE_WHEN.get(name, '')} | {len(history)} | {losses} | {_percent(metrics['test_accuracy'])} | "
            f"{metrics['seconds_per_epoch']:.2f} |")


def main(runs: Path) -> None:
    print("## Done-when checks\n")
    print("| run | target | epochs | mean epoch loss: first → last | test accuracy | s/epoch |")
    print("|---|---|---|---|---|---|")
    for name in ("mnist_mlp_adam_5", "mnist_mlp_adam_20", "cifar10_lenet_sgd"):
        print(train_row(runs, name))
    print("\n## MNIST optimizer comparison, 200 epochs\n")
    print(comparison_table(runs, "mnist_mlp_optimizers", MNIST_NOTEBOOK, every=50))
    print("\n## MNIST optimizer comparison, 50 epochs\n")
    print(comparison_table(runs, "mnist_mlp_optimizers", MNIST_NOTEBOOK, every=10, file="comparison_50.json"))
    print("\n## MNIST optimizer comparison, 200 epochs, torch initialisation\n")
    torch_init = {k: v for k, v in MNIST_NOTEBOOK.items() if "steplr" not in k and "nesterov" not in k}
    print(comparison_table(runs, "mnist_mlp_optimizers_torch_init", torch_init, every=50))
    print("\n## MNIST long momentum runs\n")
    print(comparison_table(runs, "mnist_mlp_momentum_long", LONG_NOTEBOOK, every=100))
    print("\n## CIFAR-10 LeNet, 5,000-image subset, 10 epochs\n")
    print(cifar_table(runs, "cifar10_lenet_optimizers_5k_10"))
    print("\n## CIFAR-10 LeNet, 5,000-image subset, 5 epochs\n")
    print(cifar_table(runs, "cifar10_lenet_optimizers_5k"))
    full = _read(runs / "cifar10_lenet_sgd" / "metrics.json")
    if full:
        print("\nFull-data SGD run, mean epoch loss per epoch: "
              + ", ".join(f"{row['train_loss']:.3f}" for row in full["history"]))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs"))
