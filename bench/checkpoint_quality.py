"""Quality of the shipped checkpoints: ``fpgagen eval`` on every preset, written to docs/results.md.

    .venv/bin/python bench/checkpoint_quality.py [PRESET ...]

Each preset's shipped checkpoint generates as many images as there are held-out digits (seed 0); the metric
classifier scores them (recognizability, coverage, Frechet distance) beside real held-out digits and uniform noise
at the same count. Evaluation is deterministic, so the figures must equal those training recorded in the
checkpoint's ``.metrics.json``: a preset whose figures differ, or whose evaluation fails, is left out of
docs/results.md's section ``checkpoint_quality`` and the bench exits 1. Training time and the metric classifiers'
test accuracy are not re-measured: they are read from the ``.metrics.json`` files ``make checkpoints`` wrote.
"""

from __future__ import annotations

import json
import math
import sys

from results_doc import command, exit_status, machine, markdown_table, write_section

from fpgagen.models.checkpoint import default_checkpoint, metrics_path
from fpgagen.models.presets import load_preset
from fpgagen.models.train import evaluate

PRESETS = ["digits8", "mnist28", "vae28", "dcgan28"]
CLASSIFIERS = {"digits8": "classifier8", "mnist28": "classifier28"}


def recorded(name: str) -> dict:
    """The ``.metrics.json`` training wrote beside checkpoint ``name``."""
    return json.loads(metrics_path(default_checkpoint(name)).read_text())


def measure(preset: str) -> dict:
    """Quality of ``preset``'s shipped checkpoint, checked against what training recorded."""
    generator = load_preset(preset)
    spec = generator.spec
    quality = evaluate(generator)
    metrics = recorded(preset)
    for group in ("generated", "real", "noise"):
        for key, value in quality[group].items():
            was = metrics["quality"][group][key]
            if not math.isclose(value, was, rel_tol=1e-6, abs_tol=1e-9):
                raise RuntimeError(f"{group} {key} is {value:.6g}, training recorded {was:.6g}")
    return {"preset": preset, "dataset": spec.dataset, "quality": quality, "metrics": metrics}


def section(rows: list[dict]) -> str:
    """docs/results.md's table of ``rows`` from :func:`measure`."""
    table = []
    for r in rows:
        q, m = r["quality"], r["metrics"]
        g, real, noise = q["generated"], q["real"], q["noise"]
        table.append([f"`{r['preset']}`", q["n"], f"{g['recognizability']:.3f}", f"{g['coverage']:.3f}",
                      f"{g['frechet']:.1f}", f"{real['recognizability']:.3f} / {real['frechet']:.1f}",
                      f"{noise['recognizability']:.3f} / {noise['frechet']:.1f}",
                      f"{m['train_seconds']:.0f} s ({m['torch_threads']} threads)"])
    judges = []
    for dataset, name in CLASSIFIERS.items():
        c = recorded(name)
        judges.append(f"`{name}` {100 * c['test_accuracy']:.1f}% on {c['test_images']:,d} held-out {dataset} digits")
    return ("n = every held-out digit, seed 0. Recognizability: share of samples the classifier gives one digit "
            "with probability > 0.9; coverage: entropy of the predicted digits over log 10; Frechet distance: "
            "between Gaussian fits of the classifier's 64 penultimate features of samples and held-out digits "
            "(lower is better). Training time is as `make checkpoints` recorded it in the checkpoint's "
            "`.metrics.json`, not re-measured. The judging classifiers' test accuracy, likewise recorded: "
            f"{'; '.join(judges)}.\n\n"
            + markdown_table(["preset", "n", "recognizability", "coverage", "Frechet distance",
                              "real digits: recog. / FD", "noise: recog. / FD", "training time"], table))


def main(argv: list[str] | None = None) -> int:
    presets = (sys.argv[1:] if argv is None else argv) or PRESETS
    measured = machine()
    rows, failed = [], {}
    for preset in presets:
        try:
            rows.append(measure(preset))
        except Exception as e:  # noqa: BLE001 -- reported, the bench exits non-zero; the other presets still run
            failed[preset] = f"{type(e).__name__}: {e}"
            continue
        g = rows[-1]["quality"]["generated"]
        print(f"{preset:8s} recognizability {g['recognizability']:.3f} coverage {g['coverage']:.3f} "
              f"Frechet {g['frechet']:.2f}", flush=True)
    if rows:
        write_section("checkpoint_quality", "Quality of the shipped checkpoints",
                      command([__file__, *(presets if presets != PRESETS else [])]), measured, section(rows))
    return exit_status(failed)


if __name__ == "__main__":
    sys.exit(main())
