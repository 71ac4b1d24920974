import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fpgagen.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "fpgagen.cli", *args], capture_output=True, text=True)


@pytest.mark.parametrize("command", ["train", "sample", "eval"])
def test_help(command):
    result = run_cli(command, "--help")
    assert result.returncode == 0 and "usage: fpgagen " + command in result.stdout


def test_sample_writes_a_grid(tmp_path):
    out = tmp_path / "grid.png"
    assert main(["sample", "digits8", "--n", "10", "--seed", "1", "--out", str(out)]) == 0
    grid = np.asarray(Image.open(out))
    # 10 tiles on a 4 x 3 grid; 8x8 digits scaled x7 with 1-pixel gaps
    assert grid.shape == (3 * 57 + 1, 4 * 57 + 1)
    assert grid.std() > 10


def test_eval_prints_and_writes_json(tmp_path, capsys):
    out = tmp_path / "q.json"
    assert main(["eval", "digits8", "--n", "100", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "uniform noise (reference)" in text and "real digits (reference)" in text
    q = json.loads(out.read_text())
    assert q["n"] == 100 and set(q) >= {"generated", "real", "noise"}


@pytest.mark.parametrize("args, message", [
    (["sample", "nope"], "MODEL 'nope' is not a preset name"),
    (["sample", "digits8", "--n", "0"], "argument --n: expected an integer in 1..100,000, got 0"),
    (["sample", "digits8", "--n", "abc"], "argument --n: expected an integer in 1..100,000, got 'abc'"),
    (["generate", "digits8", "--n", "100001"], "argument --n: expected an integer in 1..100,000, got 100,001"),
    (["eval", "digits8", "--n", "-5"], "argument --n: expected an integer in 1..100,000, got -5"),
    (["train", "mnist28", "--epochs", "0"], "argument --epochs: expected an integer in 1..10,000, got 0"),
    (["sample", "digits8", "--seed", "-1"], "argument --seed: expected an integer in 0..4,294,967,295, got -1"),
    (["compare", "digits8", "--repeats", "1000000"], "argument --repeats: expected an integer in 1..200"),
    (["sample", "digits8", "--n", "5000", "--out", "big.png"], "a PNG grid shows at most 4,096 images"),
    (["import", "vae.onnx", "--image-shape", "1,784", "--out", "m"],
     "argument --image-shape: expected C,H,W: three positive integers, e.g. 1,28,28; got '1,784'"),
    (["generate", "m", "--image-shape", "0,28,28"], "argument --image-shape: expected C,H,W: three positive integers"),
])
def test_bad_arguments(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr


def test_sample_refuses_non_png(tmp_path):
    result = run_cli("sample", "digits8", "--out", str(tmp_path / "grid.jpg"))
    assert result.returncode == 2 and "written as a .png grid or a .npy array" in result.stderr


def test_eval_more_samples_than_the_real_reference_has():
    result = run_cli("eval", "digits8", "--n", "5000")
    assert result.returncode == 2 and "at most 1438" in result.stderr


@pytest.mark.parametrize("args, message", [
    (["train", "digits8", "--out", "{tmp}/afile.txt/x"], "afile.txt is a file, not a folder"),
    (["compare", "digits8", "--out", "{tmp}/afile.txt"], "afile.txt is a file; a folder is written there"),
    (["quantize", "digits8", "--out", "{tmp}/afile.txt"], "afile.txt is a file; a folder is written there"),
    (["generate", "digits8", "--target", "rtlsim", "--out", "{tmp}/grid.jpg"], "written as a .png grid or a .npy"),
    (["sample", "digits8", "--out", "{tmp}"], "is a folder; a file is written there"),
    (["eval", "digits8", "--json", "{tmp}/afile.txt/q.json"], "--json .*afile.txt is a file, not a folder"),
    # where os.access says yes (root) but nothing can be created: the check writes a probe, naming the user's path
    (["train", "digits8", "--out", "/proc/nope/x.safetensors"], r"--out /proc/nope/x.safetensors: cannot write there"),
    (["generate", "digits8", "--target", "csim", "--out", "/proc/g.png"], r"--out /proc/g.png: cannot write there"),
])
def test_output_paths_are_checked_before_any_work(tmp_path, capsys, args, message):
    import time

    (tmp_path / "afile.txt").write_text("mine")
    t = time.monotonic()
    assert main([a.replace("{tmp}", str(tmp_path)) for a in args]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert time.monotonic() - t < 10  # refused up front, not after training or simulating
    assert (tmp_path / "afile.txt").read_text() == "mine"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders: the permission check cannot fail")
def test_a_read_only_folder_is_refused_before_any_work(tmp_path, capsys):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    assert main(["sample", "digits8", "--out", str(folder / "g.png")]) == 2
    assert "is not writable by this user" in capsys.readouterr().err


def test_ctrl_c_says_interrupted_and_writes_nothing_half(tmp_path):
    """Ctrl-C during training: one line, exit status 130 (the shell's for SIGINT), no traceback, no checkpoint."""
    import signal

    out = tmp_path / "x.safetensors"
    # SIGINT's default action in the child, as in a terminal: a pytest-xdist worker may ignore SIGINT, and an ignored
    # signal stays ignored across exec (Python then installs no KeyboardInterrupt: the run trained to its end)
    proc = subprocess.Popen([sys.executable, "-m", "fpgagen.cli", "train", "digits8", "--out", str(out)],
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = ""
    while "train digits8:" not in seen:  # the progress bar: training has started
        char = proc.stderr.read(1)
        assert char, f"the command ended before training: {seen}"
        seen += char
    proc.send_signal(signal.SIGINT)
    rest = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130
    assert "fpgagen train: interrupted" in rest and "Traceback" not in rest
    assert not out.exists()


def test_help_and_argument_parsing_do_not_import_torch():
    """Start-up: every subcommand's parser is built, and --help printed, without torch (a PYNQ board has none)."""
    code = ("import sys, contextlib, io\n"
            "from fpgagen.cli import build_parser\n"
            "parser = build_parser()\n"
            "for command in ['train', 'generate', 'convert', 'explore', 'compare']:\n"
            "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
            "        parser.parse_args([command, '--help'])\n"
            "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_catalog_names_every_preset_and_classifier():
    from fpgagen.models.catalog import CLASSIFIER_NAMES, PRESET_NAMES
    from fpgagen.models.classifier import CLASSIFIERS as DEFINED_CLASSIFIERS
    from fpgagen.models.presets import PRESETS

    assert sorted(PRESET_NAMES) == sorted(PRESETS) and sorted(CLASSIFIER_NAMES) == sorted(DEFINED_CLASSIFIERS)


def test_the_cache_command_lists_and_clears_what_no_one_is_using(tmp_path, monkeypatch, capsys):
    import fcntl

    monkeypatch.setenv("FPGAGEN_CACHE", str(tmp_path))
    for kind, key, record in (("csim", "aaa", {"preset": "digits8"}), ("rtlsim", "bbb", {"top": "fg_top_x"}),
                              ("rtlsim", "ccc", {"top": "fg_top_busy"})):
        (tmp_path / kind / key).mkdir(parents=True)
        (tmp_path / kind / key / "build.json").write_text(json.dumps(record))
        (tmp_path / kind / key / "lib.so").write_bytes(b"\0" * 2_000_000)
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert "3 entries, 6.0 MB" in out and "digits8" in out and "fg_top_x" in out

    assert main(["cache", "clear", "--kind", "csim"]) == 0
    assert "removed 1 entries, 2.0 MB" in capsys.readouterr().out
    assert not (tmp_path / "csim" / "aaa").exists() and (tmp_path / "rtlsim" / "bbb").exists()
    with open(tmp_path / "rtlsim" / "ccc.lock", "a") as lock:  # another process building or reading ccc
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert main(["cache", "clear"]) == 0
        out = capsys.readouterr().out
        assert "removed 1 entries, 2.0 MB" in out and "1 in use by another process kept" in out
        assert (tmp_path / "rtlsim" / "ccc" / "lib.so").exists() and not (tmp_path / "rtlsim" / "bbb").exists()
    assert main(["cache", "clear", "--older-than", "1"]) == 0  # ccc was built just now
    assert "removed 0 entries" in capsys.readouterr().out and (tmp_path / "rtlsim" / "ccc").exists()


def test_convert_refuses_to_overwrite_another_models_build(tmp_path, capsys):
    """Two models of one name (two imports of generator.onnx, say) would share build/<name>/: the second is refused
    before any work, naming the folder."""
    from fpgagen.models.presets import load_preset

    out = tmp_path / "build" / "digits8" / "pynq-z2"
    out.mkdir(parents=True)
    other = load_preset("mnist28").float_model()
    other.name = "digits8"  # the same name, another network
    other.save(out / "float_reference.npz")
    assert main(["convert", "digits8", "--board", "pynq-z2", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds the build of another model named 'digits8'" in err and not (out / "manifest.json").exists()
