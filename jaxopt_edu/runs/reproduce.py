"""`jaxopt-edu reproduce NOTEBOOK`: a course notebook's experiments on its own setups, our numbers
beside the ones it printed.

    jaxopt-edu reproduce 004 --seeds 0 1 --out runs/reproduce
    jaxopt-edu reproduce 002 --epochs 1 --out /tmp/smoke        # a short smoke run

Each experiment is one config in `configs/notebooks/` named `<notebook>_<cell>_<what>.yaml`,
with a `reference` (the notebook, the cell, and what it printed: `final_train_loss`,
`test_accuracy`, `train_losses` per epoch; a variant of a chained config has its own). For each
seed the experiment runs as `jaxopt-edu compare` runs it, into `OUT/seed_<s>/<experiment>/`
(so a rerun resumes from the checkpoints and finished runs cost nothing), and OUT gets

    reproduce.json   a list, one object per (experiment, metric): experiment, cell, metric,
                     notebook_value, our_value (mean over the seeds), our_values (each seed),
                     seed_spread (max − min over the seeds), relative_difference
                     ((ours − notebook) / |notebook|), epochs (ours), notebook_epochs, comparable
    reproduce.md     the table (also printed)
    curves/<experiment>.png   each seed's train loss per epoch with the notebook's printed values

A final value is compared only at the notebook's own number of epochs (`comparable`: false after
a shortened `--epochs` run; the relative difference is then null); per-epoch losses are compared
over the epochs both have. Everything is written atomically.
"""

import copy
import json
import math
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence, Union

from jaxopt_edu.config.errors import ConfigError
from jaxopt_edu.outputs import write_text_atomic
from jaxopt_edu.training.metrics import write_json_atomic

DEFAULT_CONFIGS = Path("configs/notebooks")
METRICS = ("final_train_loss", "test_accuracy", "train_losses")
COLUMNS = ("experiment", "cell", "metric", "notebook", "ours (mean of seeds)", "seeds", "seed spread",
           "relative difference", "epochs")


class Reproduction(NamedTuple):
    rows: list  # what reproduce.json holds
    table: str  # markdown


def notebook_configs(notebook: str, configs_dir: Union[str, Path] = DEFAULT_CONFIGS,
                     only: Optional[Sequence[str]] = None) -> dict:
    """experiment name -> config path for `notebook` ("004", or a config's whole stem), in name
    order; `only` keeps those experiments (their stems, or the stem without the notebook prefix)."""
    folder = Path(configs_dir)
    if not folder.is_dir():
        raise ConfigError("--configs", f"no folder {folder} (the notebook configs live in configs/notebooks; "
                          "run from the repository root or pass --configs DIR)")
    paths = {path.stem: path for path in sorted(folder.glob(f"{notebook}_*.yaml"))}
    if not paths:
        known = sorted({path.stem.split("_", 1)[0] for path in folder.glob("*_*.yaml")})
        raise ConfigError("NOTEBOOK", f"no configs for notebook {notebook!r} in {folder} "
                          f"(notebooks with configs: {', '.join(known) or 'none'})")
    if only:
        chosen = {}
        for name in only:
            stem = name if name in paths else f"{notebook}_{name}"
            if stem not in paths:
                raise ConfigError("--only", f"no experiment {name!r} for notebook {notebook} "
                                  f"(experiments: {', '.join(paths)})")
            chosen[stem] = paths[stem]
        paths = chosen
    return paths


def with_epochs(config: dict, epochs: int) -> dict:
    """`config` (validated) trained for `epochs` epochs in every variant; an SWA start past the
    end moves to the last epoch, so that a short run still averages."""
    config = copy.deepcopy(config)
    sections = [config] + [variant for variant in (config["variants"] or {}).values()]
    for section in sections:
        if "training" in section:
            section["training"]["epochs"] = epochs
        if section.get("swa"):
            section["swa"]["start_epoch"] = min(section["swa"]["start_epoch"], epochs)
    return config


def _relative(ours: float, notebook: float) -> Optional[float]:
    return None if notebook == 0 else (ours - notebook) / abs(notebook)


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def metric_rows(experiment: str, reference: dict, runs: Sequence[dict], notebook_epochs: int) -> list:
    """The rows of one experiment (or chained variant): `runs` one per seed, each
    {"seed", "history", "test_accuracy"}; one row per metric the reference holds."""
    rows = []
    epochs = min(len(run["history"]) for run in runs)
    for metric in METRICS:
        printed = reference.get(metric)
        if printed is None:
            continue
        row = {"experiment": experiment, "cell": reference["cell"], "notebook": reference["notebook"],
               "metric": metric, "notebook_value": printed, "epochs": epochs,
               "notebook_epochs": notebook_epochs, "seeds": [run["seed"] for run in runs]}
        if metric == "train_losses":
            shared = min(epochs, len(printed))
            per_seed = [[record["train_loss"] for record in run["history"][:shared]] for run in runs]
            ours = [_mean(column) for column in zip(*per_seed)]
            row.update(our_values=per_seed, our_value=ours,
                       seed_spread=[max(column) - min(column) for column in zip(*per_seed)],
                       relative_difference=[_relative(o, p) for o, p in zip(ours, printed)],
                       comparable=shared > 0, epochs_compared=shared)
        else:
            per_seed = [run["history"][-1]["train_loss"] if metric == "final_train_loss" else run["test_accuracy"]
                        for run in runs]
            comparable = epochs == notebook_epochs and None not in per_seed
            ours = _mean(per_seed) if None not in per_seed else None
            row.update(our_values=per_seed, our_value=ours,
                       seed_spread=max(per_seed) - min(per_seed) if ours is not None else None,
                       relative_difference=_relative(ours, printed) if comparable else None,
                       comparable=comparable)
        rows.append(row)
    return rows


def _cell(value: Any, digits: str = ".4g") -> str:
    if value is None:
        return "–"
    if isinstance(value, list):
        return _cell(value[-1], digits) if value else "–"
    return format(value, digits)


def _worst(values: Any) -> Optional[float]:
    """The largest |relative difference| of a per-epoch row, signed."""
    values = [value for value in values if value is not None]
    return max(values, key=abs) if values else None


def markdown_table(rows: Sequence[dict]) -> str:
    """One line per row; a per-epoch row shows its last compared epoch and the worst difference."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        difference = row["relative_difference"]
        if row["metric"] == "train_losses":
            metric = f"train loss, epochs 1–{row['epochs_compared']}"
            shown = (f"{_cell(difference, '+.1%')} (last), {_cell(_worst(difference), '+.1%')} (worst)"
                     if difference else "–")
        else:
            metric = row["metric"].replace("_", " ")
            shown = _cell(difference, "+.1%") if row["comparable"] else "not comparable (fewer epochs)"
        seeds = ", ".join(_cell(values) for values in row["our_values"])
        cells = (row["experiment"], row["cell"], metric, _cell(row["notebook_value"]), _cell(row["our_value"]),
                 seeds, _cell(row["seed_spread"], ".2g"), shown, f"{row['epochs']} / {row['notebook_epochs']}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _seed_runs(comparisons: dict, label: str) -> list:
    """One {"seed", "history", "test_accuracy"} per seed for a variant label."""
    runs = []
    for seed, comparison in comparisons.items():
        row = next(row for row in comparison.rows if row["variant"] == label)
        runs.append({"seed": seed, "history": comparison.histories[label], "test_accuracy": row["test_accuracy"]})
    return runs


def _previous_rows(path: Path, keep_unless: set) -> list:
    """The rows of OUT/reproduce.json from earlier runs of other experiments (`--only` adds to them)."""
    if not path.is_file():
        return []
    from jaxopt_edu.training.metrics import read_json

    return [row for row in read_json(path) if row["experiment"].split("/")[0] not in keep_unless]


def run_reproduction(notebook: str, out: Union[str, Path], *, configs_dir: Union[str, Path] = DEFAULT_CONFIGS,
                     only: Optional[Sequence[str]] = None, epochs: Optional[int] = None,
                     seeds: Optional[Sequence[int]] = None, data_dir: Optional[Union[str, Path]] = None,
                     progress: Optional[bool] = None) -> Reproduction:
    """Runs a notebook's experiments (each seed) and writes OUT/reproduce.json, .md and curves/."""
    from jaxopt_edu.config import load_config
    from jaxopt_edu.config.schema import variant_configs
    from jaxopt_edu.plots import plot_reproduction
    from jaxopt_edu.runs.build import load_data
    from jaxopt_edu.runs.compare import run_comparison

    if epochs is not None and epochs < 1:
        raise ConfigError("--epochs", f"must be >= 1, got {epochs}")
    if seeds is not None and (not seeds or any(seed < 0 for seed in seeds)):
        raise ConfigError("--seeds", f"expected one or more seeds >= 0, got {list(seeds)}")
    paths = notebook_configs(notebook, configs_dir, only)
    configs = {name: load_config(path) for name, path in paths.items()}  # every config checked first
    for name, config in configs.items():
        variants = variant_configs(config)
        if not any(variant.get("reference") for variant in variants.values()):
            raise ConfigError(f"{paths[name]}: reference", "missing: a notebook config says what the notebook "
                              "printed (reference: {notebook, cell, final_train_loss | test_accuracy | train_losses})")
    out = Path(out)
    rows, loaded = _previous_rows(out / "reproduce.json", keep_unless=set(configs)), {}
    for name, config in configs.items():
        full = variant_configs(config)
        comparisons = {}
        for seed in (seeds if seeds is not None else [config["seed"]]):
            run = with_epochs(config, epochs) if epochs is not None else copy.deepcopy(config)
            run["seed"] = int(seed)
            data_key = json.dumps([run["data"], run["seed"]], sort_keys=True)
            if data_key not in loaded:
                loaded = {data_key: load_data(run, data_dir)}  # keep one data set in memory at a time
            comparisons[seed] = run_comparison(run, out / f"seed_{seed}" / name, splits=loaded[data_key],
                                               progress=progress)
        histories = {}
        for label, variant in full.items():
            seed_runs = _seed_runs(comparisons, label)
            histories[label] = seed_runs
            if variant.get("reference"):
                experiment = name if len(full) == 1 else f"{name}/{label}"
                rows += metric_rows(experiment, variant["reference"], seed_runs, variant["training"]["epochs"])
        plot_reproduction(histories, {label: variant.get("reference") for label, variant in full.items()},
                          out / "curves" / f"{name}.png", title=name)
        rows.sort(key=lambda row: row["experiment"])
        write_json_atomic(out / "reproduce.json", rows)
        write_text_atomic(out / "reproduce.md", markdown_table(rows) + "\n")
    return Reproduction(rows, markdown_table(rows))
