"""`jaxopt-edu` as a new user meets it: bad values, missing files, unusable output folders, a full
disk, Ctrl-C. Each ends in one line on stderr naming the problem, a non-zero exit status and no
half-written file; a bug inside the library still shows its traceback."""

import errno
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import orbax.checkpoint as ocp
import pytest

from conftest import write_mnist_files
from jaxopt_edu import cli
from jaxopt_edu.config.errors import ConfigError
from jaxopt_edu.data import DataError, download
from jaxopt_edu.errors import InvalidArgumentError, OutputPathError, UserInputError, invalid_arguments
from jaxopt_edu.outputs import atomic_write, check_output_dir
from jaxopt_edu.training.checkpoint import CheckpointMismatchError, Checkpoints

CONFIG = """\
name: tiny
data: {name: mnist, validation: test_half}
model: {name: mlp, hidden_sizes: [8]}
training: {epochs: 1, batch_size: 16, progress: false, checkpoint_every: 1}
optimizer: {name: adam, learning_rate: 0.01}
"""
VARIANTS = "variants:\n  a: {}\n  b: {optimizer: {name: sgd, learning_rate: 0.1}}\n"
SWEEP = "sweep:\n  learning_rate: [0.01, 0.1]\n"


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """cwd = tmp: data/mnist with 48 + 16 tiny examples (no network), tiny.yaml, compare.yaml,
    sweep.yaml, empty.yaml, a folder `folder/` and a file `file`."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(download, "open_url", lambda *a, **k: (_ for _ in ()).throw(OSError("offline in tests")))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("JAXOPT_EDU_DATA", raising=False)
    monkeypatch.delenv("JAXOPT_EDU_TRACEBACK", raising=False)
    rng, arrays = np.random.default_rng(0), {}
    for prefix, count in (("train", 48), ("t10k", 16)):
        labels = rng.integers(0, 10, count).astype(np.uint8)
        arrays[f"{prefix}-images-idx3-ubyte.gz"] = rng.integers(0, 255, (count, 28, 28)).astype(np.uint8)
        arrays[f"{prefix}-labels-idx1-ubyte.gz"] = labels
    write_mnist_files(tmp_path / "data" / "mnist", arrays, monkeypatch)
    (tmp_path / "tiny.yaml").write_text(CONFIG)
    (tmp_path / "compare.yaml").write_text(CONFIG + VARIANTS)
    (tmp_path / "sweep.yaml").write_text(CONFIG + SWEEP)
    (tmp_path / "empty.yaml").write_text("")
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("keep me\n")
    return tmp_path


def run(capsys, argv) -> tuple:
    """(exit status, stderr) of `jaxopt-edu ARGV`, run in-process."""
    code = cli.main(argv)
    return code, capsys.readouterr().err


def assert_one_line(err: str, command: str, *fragments: str) -> None:
    assert err.count("\n") == 1 and err.startswith(f"jaxopt-edu {command}: "), err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)


def listing(root: Path) -> dict:
    """path -> bytes of every file under root (the data and cache excluded)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.relative_to(root).parts[0] not in ("data", "cache")}


DATA = ["--data-dir", "data"]

BAD_INPUT = [
    # train: values, types, sizes, files
    (["train", "tiny.yaml", "--set", "learning_rate=-1"] + DATA, "learning_rate must be in [0, inf]"),
    (["train", "tiny.yaml", "--set", "learning_rate=abc"] + DATA, "optimizer.learning_rate: expected a number"),
    (["train", "tiny.yaml", "--set", "epochs=0"] + DATA, "training.epochs: must be >= 1, got 0"),
    (["train", "tiny.yaml", "--set", "epochs=abc"] + DATA, "training.epochs: expected an integer, got 'abc'"),
    (["train", "tiny.yaml", "--set", "epochs=2.5"] + DATA, "training.epochs: expected an integer"),
    (["train", "tiny.yaml", "--set", "batch_size=0"] + DATA, "training.batch_size: must be >= 1, got 0"),
    (["train", "tiny.yaml", "--set", "batch_size=100000"] + DATA, "100000 is larger than the 48 training examples"),
    (["train", "tiny.yaml", "--set", "model.hidden_sizes=[100000000000]"] + DATA,
     "Out of memory allocating 313600000000000 bytes: make the run smaller"),
    (["train", "tiny.yaml", "--set", "epochs"] + DATA, "--set: expected KEY=VALUE, got 'epochs'"),
    (["train", "tiny.yaml", "--set", "optimizer.name=adamm"] + DATA, "did you mean 'adam'?"),
    (["train", "missing.yaml"] + DATA, "no config file at missing.yaml"),
    (["train", "empty.yaml"] + DATA, "empty.yaml is empty"),
    (["train", "folder"] + DATA, "no config file at folder"),
    (["train", "tiny.yaml", "--set", "data.download=false", "--data-dir", "nowhere"], "MNIST files missing in nowhere"),
    (["train"], "the following arguments are required: config"),
    # check, compare, sweep
    (["check", "tiny.yaml", "--set", "optimizer.b1=2.0"], "b1 must be in [0, 1)"),
    (["check", "file"], "file must hold a mapping"),
    (["compare", "compare.yaml", "--only", "c"] + DATA, "no variant 'c' (variants: a, b)"),
    (["sweep", "tiny.yaml"] + DATA, "sweep: missing"),
    (["sweep", "sweep.yaml", "--set", "sweep.learning_rate=[-1, 0.1]"] + DATA, "learning_rate must be in [0, inf]"),
    (["sweep", "sweep.yaml", "--set", "sweep.learning_rate=[0.1, -1]"] + DATA, "sweep.learning_rate: adam: learning_rate must be in [0, inf]"),
    (["sweep", "sweep.yaml", "--set", "sweep.learning_rate=[]"] + DATA, "sweep.learning_rate: a swept hyperparameter"),
    (["sweep", "sweep.yaml", "--set", "sweep.learning_rate={logspace: [-3, -1, 0]}"] + DATA,
     "logspace: N must be an integer >= 1, got 0"),
    # race
    (["race", "--optimizers", "adamm"], "unknown optimizer 'adamm' (did you mean 'adam'?"),
    (["race", "--start", "1", "2"], "quartic takes a 1-D point, got 2 value(s)"),
    (["race", "--function", "rosenbrock", "--start", "1"], "rosenbrock takes a 2-D point, got 1 value(s)"),
    (["race", "--start", "1e308"], "a start point must be finite in float32"),
    (["race", "--max-iters", "0"], "max_iters must be an integer >= 1, got 0"),
    (["race", "--max-iters", "100000000000"], "max_iters must be <= 1000000"),
    (["race", "--max-iters", "abc"], "argument --max-iters: invalid int value: 'abc'"),
    (["race", "--learning-rates", "-1"], "learning_rates must be finite positive numbers"),
    (["race", "--learning-rates", "nan"], "learning_rates must be finite positive numbers"),
    (["race", "--learning-rates", "1e300"], "learning_rates must be finite positive numbers in float32"),
    (["race", "--learning-rates", "1e-50"], "learning_rates must be finite positive numbers in float32"),
    # plot-schedule
    (["plot-schedule", "cosine_decay", "--steps", "0"], "--steps: must be in [2, "),
    (["plot-schedule", "cosine_decay", "--steps", "1000000000000"], "--steps: must be in [2, "),
    (["plot-schedule", "torch.StepLR", "--set", "base_lr=0.1", "--set", "step_size=1", "--steps-per-epoch", "-1"],
     "--steps-per-epoch: must be >= 1"),
    (["plot-schedule", "cosine_decay", "--set", "init_value=0.1"], "decay_steps: missing"),
    (["plot-schedule", "cosine_decay", "--set", "init_value"], "takes KEY=VALUE, got 'init_value'"),
    (["plot-schedule", "cosine_decy"], "did you mean 'cosine_decay'?"),
    (["plot-schedule", "missing.yaml"], "no config file at missing.yaml"),
    (["plot-schedule", "empty.yaml"], "empty.yaml is empty"),
    (["plot-schedule", "tiny.yaml", "--key", "nope"], "tiny.yaml has no schedule at nope"),
]


@pytest.mark.parametrize("argv, fragment", BAD_INPUT, ids=[" ".join(a[:4]) for a, _ in BAD_INPUT])
def test_bad_input_is_one_line_and_writes_nothing(workdir, capsys, argv, fragment):
    before = listing(workdir)
    has_out = argv[0] in ("train", "compare", "sweep", "race", "plot-schedule") and len(argv) > 1
    code, err = run(capsys, argv + (["--out", "out"] if has_out else []))
    assert code == 2
    assert_one_line(err, argv[0], fragment)
    assert listing(workdir) == before  # no file written, in out/ or anywhere


def test_usage_errors_are_one_line(capsys):
    assert run(capsys, []) == (2, "jaxopt-edu: the following arguments are required: COMMAND (see jaxopt-edu --help)\n")
    code, err = run(capsys, ["bogus"])
    assert code == 2 and err.count("\n") == 1 and "invalid choice: 'bogus'" in err


WRITERS = {
    "train": ["train", "tiny.yaml"] + DATA,
    "compare": ["compare", "compare.yaml"] + DATA,
    "sweep": ["sweep", "sweep.yaml"] + DATA,
    "race": ["race", "--max-iters", "10"],
    "plot-schedule": ["plot-schedule", "constant", "--set", "value=0.1", "--steps", "10"],
}


def _no_permission(*args, dir=None, **kwargs):
    raise PermissionError(errno.EACCES, "Permission denied", dir)


@pytest.mark.parametrize("fault", ["a file", "under a file", "no permission"])
@pytest.mark.parametrize("command", sorted(WRITERS))
def test_an_unusable_output_folder_is_refused_before_any_work(workdir, capsys, monkeypatch, command, fault):
    out = {"a file": "file", "under a file": "file/run", "no permission": "locked/run"}[fault]
    expected = {"a file": "cannot write into file: it is a file, not a folder",
                "under a file": "cannot create file/run: file is a file, not a folder",
                "no permission": "cannot write locked/run: no permission to write there"}[fault]
    if fault == "no permission":  # root writes everywhere: the folder refuses every new file
        monkeypatch.setattr(tempfile, "mkstemp", _no_permission)
    before = listing(workdir)
    code, err = run(capsys, WRITERS[command] + ["--out", out])
    assert code == 2
    assert_one_line(err, command, expected, "--out")
    assert listing(workdir) == before and not (workdir / "locked").exists()


def test_the_default_output_folder_is_checked_too(workdir, capsys):
    (workdir / "runs").write_text("not a folder\n")
    code, err = run(capsys, ["train", "tiny.yaml"] + DATA)
    assert code == 2
    assert_one_line(err, "train", "cannot write into runs: it is a file, not a folder")


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("command, written", [("train", "out/metrics.json"), ("race", "out/race.json"),
                                              ("plot-schedule", "out/schedule.png")])
def test_a_full_disk_names_the_file_and_leaves_no_half_file(workdir, capsys, monkeypatch, command, written):
    monkeypatch.setattr(os, "replace", _disk_full)  # every whole-file write ends in os.replace
    code, err = run(capsys, WRITERS[command] + ["--out", "out"])
    assert code == 2
    assert_one_line(err, command, f"cannot write {written}: no space left on the device")
    assert not (workdir / written).exists()
    assert not [p for p in (workdir / "out").rglob("*") if ".tmp" in p.name or "orbax-checkpoint-tmp" in p.name]


def test_a_full_disk_while_checkpointing_is_one_line_and_leaves_no_temporary_checkpoint(workdir, capsys,
                                                                                        monkeypatch):
    def full(self, step, *args, **kwargs):  # what tensorstore raises on ENOSPC
        (Path(self.directory) / f"{step}.orbax-checkpoint-tmp").mkdir()
        raise ValueError(f'RESOURCE_EXHAUSTED: Error writing local file "{self.directory}/{step}.orbax-checkpoint-tmp/'
                         f'manifest.ocdbt": Failed to write 115 bytes: No space left on device [os_error_code=\'28\']')

    monkeypatch.setattr(ocp.CheckpointManager, "save", full)
    code, err = run(capsys, WRITERS["train"] + ["--out", "out"])
    assert code == 2
    assert_one_line(err, "train", f"cannot write {workdir / 'out' / 'checkpoints' / '1'}: no space left")
    assert [p.name for p in (workdir / "out" / "checkpoints").iterdir()] == []
    assert not (workdir / "out" / "metrics.json").exists()


def test_ctrl_c_exits_130_and_the_same_command_continues_the_run(workdir, capsys, monkeypatch):
    saved = {}

    def save_then_interrupt(self, epoch, tree, meta):
        original(self, epoch, tree, meta)
        saved.update(meta)
        raise KeyboardInterrupt

    original = Checkpoints.save
    monkeypatch.setattr(Checkpoints, "save", save_then_interrupt)
    argv = ["train", "tiny.yaml", "--set", "epochs=2"] + DATA + ["--out", "out"]
    code, err = run(capsys, argv)
    assert code == 130
    assert_one_line(err, "train", "interrupted (run the same command again to continue")
    assert not [p for p in (workdir / "out").rglob("*") if ".tmp" in p.name or "orbax-checkpoint-tmp" in p.name]

    monkeypatch.setattr(Checkpoints, "save", original)
    code, err = run(capsys, argv)
    assert code == 0, err
    history = json.loads((workdir / "out" / "metrics.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[0] == saved["history"][0]  # epoch 1 restored from its checkpoint, not trained again


def test_a_shorter_rerun_of_a_finished_run_is_refused(workdir, capsys):
    argv = ["train", "tiny.yaml"] + DATA + ["--out", "out"]
    assert run(capsys, argv + ["--set", "epochs=2"])[0] == 0
    before = listing(workdir)
    code, err = run(capsys, argv + ["--set", "epochs=1"])
    assert code == 2
    assert_one_line(err, "train", "already holds a run of 2 epochs; ask for epochs >= 2")
    code, err = run(capsys, argv + ["--set", "epochs=2", "--set", "batch_size=8"])
    assert code == 2
    assert_one_line(err, "train", "'batch_size' differs (saved: 16, now: 8)")
    assert listing(workdir) == before


@pytest.mark.parametrize("bug", [ValueError("a bug"), KeyError("a bug"), TypeError("a bug"),
                                 FileNotFoundError(errno.ENOENT, "No such file", "/elsewhere/x")])
def test_a_bug_in_the_library_keeps_its_traceback(workdir, monkeypatch, bug):
    def broken(*args, **kwargs):
        raise bug

    monkeypatch.setattr("jaxopt_edu.config.load_config", broken)
    with pytest.raises(type(bug)):
        cli.main(["check", "tiny.yaml"])
    monkeypatch.setattr("jaxopt_edu.lab.cli_commands.race", broken)
    with pytest.raises(type(bug)):
        cli.main(["race", "--out", "out"])


def test_too_little_memory_for_the_sizes_asked_is_one_line(workdir, capsys, monkeypatch):
    def huge(*args, **kwargs):
        raise MemoryError("Unable to allocate 4.66 TiB for an array")

    monkeypatch.setattr("jaxopt_edu.lab.cli_commands.race", huge)
    code, err = run(capsys, ["race", "--out", "out"])
    assert code == 2
    assert_one_line(err, "race", "Unable to allocate 4.66 TiB for an array: make the run smaller")


def test_jaxopt_edu_traceback_shows_the_user_error_itself(workdir, monkeypatch):
    monkeypatch.setenv("JAXOPT_EDU_TRACEBACK", "1")
    with pytest.raises(ConfigError, match="training.epochs: must be >= 1"):
        cli.main(["check", "tiny.yaml", "--set", "epochs=0"])


def test_the_error_hierarchy():
    for error in (ConfigError, DataError, CheckpointMismatchError, InvalidArgumentError, OutputPathError):
        assert issubclass(error, UserInputError)
    for error in (ConfigError, CheckpointMismatchError, InvalidArgumentError):
        assert issubclass(error, ValueError)  # `except ValueError` code keeps working
    assert issubclass(OutputPathError, OSError)
    assert not issubclass(UserInputError, (ValueError, OSError))

    with pytest.raises(InvalidArgumentError, match="^bad$"), invalid_arguments():
        raise ValueError("bad")
    with pytest.raises(KeyError), invalid_arguments():
        raise KeyError("not an argument check")


def test_check_output_dir_creates_nothing_and_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    assert check_output_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"
    assert list(tmp_path.iterdir()) == []

    target = tmp_path / "table.md"
    target.write_text("old\n")
    with pytest.raises(OutputPathError, match="cannot write .*table.md: no space left"):
        with atomic_write(target) as file:
            file.write("new, half")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["table.md"]
    with pytest.raises(RuntimeError), atomic_write(target) as file:  # any failure: the old file stays
        file.write("new, half")
        raise RuntimeError
    assert target.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["table.md"]
