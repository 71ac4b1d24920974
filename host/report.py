"""The report of a comparison: the terminal table, ``compare.json`` and the PNG plots.

:func:`format_table` renders the dict :func:`fpgagen.host.compare.compare` returns (schema ``fpgagen.compare/2``,
documented there) as text; :func:`write_report` writes it under a folder as ``compare.json`` and ``table.txt``, and
where matplotlib imports, ``throughput.png``, ``error_histogram.png`` and ``grid.png``. Nothing here measures:
it reads the result dict and the images it holds, so the numbers and the pictures cannot disagree. Imports only
numpy (and matplotlib for the plots, where present), so it runs on the board too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fpgagen.core.cache import replacing, write_atomic

GRID_N = 16  # latents in the image grid; slow targets still run at least this many


def _matplotlib_missing() -> str | None:
    """Why matplotlib cannot be imported here, or None when it can."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as e:
        return f"{type(e).__name__}: {e}"
    return None


def _label(name: str, row: dict) -> str:
    return f"{name} (virtual)" if row.get("virtual") else name


def _fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.1f}"


def _fmt_error(value: float) -> str:
    return f"{value:.4f}" if value == 0 or value >= 1e-3 else f"{value:.1e}"


@dataclass
class Table:
    """One table of the report: its title, columns (name, terminal width), rows of cells, lines printed under it."""

    title: str
    columns: list[tuple[str, int]]
    rows: list[list[str]]
    footnotes: list[str] = field(default_factory=list)


def headline(result: dict) -> str:
    """Where and how the comparison measured, in one line."""
    settings, env = result["settings"], result["environment"]
    threads = f"torch threads {env['torch_threads']}" if env["torch_version"] else "no torch"
    gpu = f", GPU {env['cuda_device']}" if env.get("cuda_device") else ""
    return (f"{result['preset']} on {env['cpu_count']} CPU cores ({env['machine']}, {threads}{gpu}); "
            f"median of >= {settings['repeats']} runs (fast targets repeat for >= {settings['min_measure_s']:g} s) "
            "after a warm-up")


def tables(result: dict) -> list[Table]:
    """The report's tables, cells formatted: measured speed, projected hardware speed (simulated hardware only),
    accuracy and quality. :func:`format_table` prints them; other renderers (a markdown page) take them too."""
    settings = result["settings"]
    batches, reference = settings["batches"], settings["reference"]
    ran = {k: v for k, v in result["targets"].items() if "skipped" not in v}
    name_w = max([15, *(len(_label(k, v)) for k, v in ran.items())])
    speed_rows = []
    for name, row in ran.items():
        tput = {e["batch"]: e for e in row["throughput"]}
        cells = [_fmt_rate(tput[b]["images_per_s"]) if "images_per_s" in tput.get(b, {}) else "not run"
                 for b in batches]
        speed_rows.append([_label(name, row), row["kind"], f"{row['latency']['median_s'] * 1e3:.3f}", *cells])
    result_tables = [Table("MEASURED on this machine (wall clock): latency at batch 1, throughput in images/s",
                           [("target", name_w), ("what", 28), ("latency ms", 10),
                            *((f"batch {b}", 10) for b in batches)], speed_rows)]

    hw = {k: v for k, v in ran.items() if "projected" in v}
    if hw:
        clock = settings["clock_hz"] / 1e6
        hw_rows = []
        for name, row in hw.items():
            p = row["projected"]
            for e in row["throughput"]:
                if "projected" not in e:
                    continue
                q = e["projected"]
                hw_rows.append([_label(name, row), str(e["batch"]), f"{q['cycles_per_image']:,.0f}",
                                f"{q['bound_cycles']:,d}", f"{q['efficiency']:.1%}", _fmt_rate(q["images_per_s"]),
                                _fmt_rate(p["bound_images_per_s"]), _fmt_rate(p["dsp_limit_images_per_s"])])
            lat = row["latency"].get("projected")
        board = settings.get("board", "pynq-z2")
        footnotes = []
        if lat:
            footnotes.append(f"projected latency at batch 1: {lat['cycles']:,d} cycles = {lat['s'] * 1e6:.1f} us")
        footnotes.append("bound: the slowest stage's analytical cycles/image; ceiling: every DSP one MAC per clock")
        result_tables.append(Table(
            f"PROJECTED {board} speed at {clock:g} MHz from cycles MEASURED in simulation (DMA stream beats "
            "included)",
            [("target", name_w), ("batch", 5), ("cycles/img", 11), ("bound", 9), ("efficiency", 10),
             ("proj. img/s", 11), ("bound img/s", 11), (f"{settings['dsps']}-DSP ceiling", 16)], hw_rows, footnotes))

    acc_rows = []
    for name, row in ran.items():
        acc, q = row.get("accuracy", {}), row["quality"]
        if name == reference:
            acc_cells = [str(q.get("n", settings["n_quality"])), "(ref)", "(ref)", "(ref)", ""]
        elif "skipped" in acc:
            acc_cells = ["-", "-", "-", "-", ""]
        else:
            exact = {True: "yes", False: "NO"}.get(acc.get("bit_exact_with_golden"), "")
            acc_cells = [str(acc["n"]), _fmt_error(acc["max_abs_error"]), _fmt_error(acc["mean_abs_error"]),
                         f"{acc['psnr_db']:.1f}", exact]
        q_cells = (["-", "-", "-"] if "skipped" in q
                   else [f"{q['frechet']:.2f}", f"{q['recognizability']:.3f}", f"{q['coverage']:.3f}"])
        acc_rows.append([_label(name, row), *acc_cells, *q_cells])
    result_tables.append(Table(
        f"ACCURACY against {reference} float (same latents; PSNR over the output range) and IMAGE QUALITY",
        [("target", name_w), ("n", 5), ("max|err|", 9), ("mean|err|", 9), ("PSNR dB", 8), ("=golden", 7),
         ("frechet", 8), ("recog.", 6), ("cover.", 6)], acc_rows))
    return result_tables


def notes(result: dict) -> list[str]:
    """What the tables' reader needs to know: capped targets, skipped quality and why, virtual boards."""
    ran = {k: v for k, v in result["targets"].items() if "skipped" not in v}
    lines = [f"{name}: {row['limits']['reason']}" for name, row in ran.items() if "limits" in row]
    same = [name for name, row in ran.items() if row.get("accuracy", {}).get("bit_exact_with_golden")
            and "skipped" in row["quality"]]
    if same and "skipped" not in ran.get("golden", {"quality": {"skipped": ""}})["quality"]:
        lines.append(f"{', '.join(same)}: quality not measured, but their images equal golden's on every latent "
                     "checked (=golden yes), so golden's quality applies")
    quality_skipped: dict[str, list[str]] = {}
    for name, row in ran.items():
        if "skipped" in row["quality"]:
            quality_skipped.setdefault(row["quality"]["skipped"], []).append(name)
    lines += [f"quality skipped for {', '.join(names)}: {why}" for why, names in quality_skipped.items()]
    lines += [f"{_label(name, row)}: {row['description']}" for name, row in ran.items() if row.get("virtual")]
    return lines


def skipped_targets(result: dict) -> dict[str, str]:
    """{target: why it could not run here}."""
    return {k: v["skipped"] for k, v in result["targets"].items() if "skipped" in v}


def format_table(result: dict) -> str:
    """The terminal report: measured speed, projected hardware speed, accuracy and quality, skipped targets."""
    lines = [headline(result)]

    def cell(text: str, column: tuple[str, int]) -> str:
        """Text columns (target, what) left-aligned, numbers right-aligned."""
        return f"{text:<{column[1]}s}" if column[0] in ("target", "what") else f"{text:>{column[1]}s}"

    for table in tables(result):
        lines.extend(["", table.title])
        header = " ".join(cell(name, column) for name, column in zip([n for n, _ in table.columns], table.columns,
                                                                      strict=True))
        lines.extend([header, "-" * len(header)])
        lines.extend(" ".join(cell(t, c) for t, c in zip(cells, table.columns, strict=True)).rstrip()
                     for cells in table.rows)
        lines.extend(f"  {line}" for line in table.footnotes)
    if notes(result):
        lines.extend(["", "notes:", *(f"  {line}" for line in notes(result))])
    skipped = skipped_targets(result)
    if skipped:
        lines.extend(["", "SKIPPED (cannot run here):", *(f"  {k}: {v}" for k, v in skipped.items())])
    return "\n".join(lines)


def write_report(result: dict, images: dict[str, np.ndarray], out: Path) -> dict[str, str]:
    """Write compare.json and table.txt under ``out``, and where matplotlib imports throughput.png,
    error_histogram.png and grid.png (otherwise ``files_skipped`` says why)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    files = {"json": "compare.json", "table": "table.txt"}
    skipped: dict[str, str] = {}
    missing = _matplotlib_missing()
    if missing:
        for name in ("throughput", "error_histogram", "grid"):
            skipped[name] = f"needs matplotlib, not importable here ({missing})"
    else:
        import matplotlib

        matplotlib.use("Agg")
        plots = {"throughput": _plot_throughput, "error_histogram": _plot_errors, "grid": _plot_grid}
        for name, plot in plots.items():
            files[name] = f"{name}.png"
            with replacing(out / files[name]) as tmp:
                plot(result, images, tmp)
    result["files"], result["files_skipped"] = files, skipped
    write_atomic(out / files["table"], format_table(result) + "\n")
    public = {k: v for k, v in result.items() if not k.startswith("_")}
    write_atomic(out / files["json"], json.dumps(public, indent=2) + "\n")
    return files


def _plot_throughput(result: dict, images: dict, path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    batches, targets = result["settings"]["batches"], result["targets"]
    clock = result["settings"]["clock_hz"] / 1e6
    groups = []  # (label, {batch: images/s}, projected?)
    for name, row in targets.items():
        if "skipped" in row:
            groups.append((f"{name}\n(skipped)", {}, False))
            continue
        groups.append((f"{_label(name, row)}\n{row['kind'].replace(' (', chr(10) + '(')}",
                       {e["batch"]: e["images_per_s"] for e in row["throughput"] if "images_per_s" in e}, False))
        if "projected" in row:
            groups.append((f"{name} PROJECTED\nFPGA at {clock:g} MHz",
                           {e["batch"]: e["projected"]["images_per_s"] for e in row["throughput"]
                            if "projected" in e}, True))
    fig, ax = plt.subplots(figsize=(max(9.0, 1.5 * len(groups) + 1.5), 5.0))
    width = 0.8 / len(batches)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    values = [v for _, g, _ in groups for v in g.values()]
    floor = min(values) / 3 if values else 1.0
    for j, (label, rates, is_projected) in enumerate(groups):
        if not rates:
            ax.text(j + 0.4 - width / 2, floor * 1.2, "skipped" if "(skipped)" in label else "", ha="center",
                    fontsize=8, color="0.4", rotation=90, va="bottom")
        for i, b in enumerate(batches):
            x = j + i * width
            if b in rates:
                ax.bar(x, rates[b], width, color=colors[i % len(colors)], hatch="//" if is_projected else None,
                       edgecolor="k" if is_projected else None, linewidth=0.5)
            elif rates:
                ax.text(x, floor * 1.2, "not run", ha="center", va="bottom", rotation=90, fontsize=7, color="0.4")
    legend = [Patch(color=colors[i % len(colors)], label=f"batch {b}") for i, b in enumerate(batches)]
    legend.append(Patch(facecolor="w", edgecolor="k", label="measured wall clock here (plain)"))
    if any(is_projected for *_, is_projected in groups):
        legend.append(Patch(facecolor="w", edgecolor="k", hatch="//",
                            label=f"projected at {clock:g} MHz from simulated cycles (hatched)"))
    for name, row in targets.items():
        if "projected" in row:
            p = row["projected"]
            legend.append(ax.axhline(p["bound_images_per_s"], color="k", ls="--", lw=1,
                                     label=f"{name} bound at {clock:g} MHz ({p['bound_cycles']:,d} cycles/image)"))
            legend.append(ax.axhline(p["dsp_limit_images_per_s"], color="r", ls=":", lw=1.2,
                                     label=f"{p['dsps']}-DSP ceiling at {clock:g} MHz"))
    ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2, [g[0] for g in groups], fontsize=8)
    ax.set_xlim(-0.6, len(groups) - 0.2)
    ax.set_yscale("log")
    ax.set_ylim(bottom=floor)
    ax.set_ylabel("images / s (log scale)")
    env = result["environment"]
    threads = f"torch threads {env['torch_threads']}" if env["torch_version"] else "no torch"
    gpu = f", {env['cuda_device']}" if env.get("cuda_device") else ""
    versus = " vs projected FPGA" if any(is_projected for *_, is_projected in groups) else ""
    ax.set_title(f"{result['preset']}: throughput per target\nmeasured on {env['cpu_count']} CPU cores ({threads}"
                 f"{gpu}){versus}", fontsize=10)
    ax.legend(handles=legend, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(axis="y", which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _same_images(images: dict[str, np.ndarray], names: list[str]) -> list[list[str]]:
    """``names`` grouped by identical images (on their common latents)."""
    groups: list[list[str]] = []
    for name in names:
        for group in groups:
            other = images[group[0]]
            n = min(len(other), len(images[name]))
            if np.array_equal(other[:n], images[name][:n]):
                group.append(name)
                break
        else:
            groups.append([name])
    return groups


def _plot_errors(result: dict, images: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    reference = result["settings"]["reference"]
    ref = images.get(reference)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    others = [k for k in images if k != reference]
    for group in _same_images(images, others) if ref is not None else []:
        imgs = images[group[0]]
        err = (imgs.astype(np.float64) - ref[: len(imgs)]).ravel()
        names = " = ".join(_label(k, result["targets"][k]) + ("" if len(images[k]) == len(imgs) else
                                                                f" (n={len(images[k])})") for k in group)
        same = " (identical images)" if len(group) > 1 else ""
        ax.hist(err, bins=101, histtype="step", lw=1.5, log=True,
                label=f"{names}{same}: max |err| {np.abs(err).max():.2g}, n={len(imgs)}")
    lo, hi = result["output_range"]
    ax.set_xlabel(f"image - {reference} float, per pixel (output range [{lo:g}, {hi:g}])")
    ax.set_ylabel("pixels (log scale)")
    ax.set_title(f"{result['preset']}: error against the {reference} float reference, same latents", fontsize=10)
    if ref is None:
        ax.text(0.5, 0.5, f"the reference {reference} did not run", ha="center", transform=ax.transAxes)
    else:
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_grid(result: dict, images: dict, path: Path) -> None:
    import matplotlib.pyplot as plt

    lo, hi = result["output_range"]
    n = min([GRID_N, *(len(v) for v in images.values())])
    cols = int(np.ceil(np.sqrt(n)))
    fig, axes = plt.subplots(1, max(1, len(images)), figsize=(2.2 * max(1, len(images)), 2.8), squeeze=False)
    for ax, (name, imgs) in zip(axes[0], images.items(), strict=False):
        ax.imshow(_tile(imgs[:n], (lo, hi), cols), cmap="gray", vmin=0, vmax=255)
        row = result["targets"][name]
        acc = row.get("accuracy", {})
        under = "reference" if name == result["settings"]["reference"] else (
            f"PSNR {acc['psnr_db']:.1f} dB" if "psnr_db" in acc else "")
        ax.set_title(f"{_label(name, row)}\n{under}", fontsize=8)
        ax.axis("off")
    skipped = [k for k, v in result["targets"].items() if "skipped" in v]
    note = f"; skipped: {', '.join(skipped)}" if skipped else ""
    fig.suptitle(f"{result['preset']}: the same {n} latents (seed {result['seed']}) on each target{note}",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _tile(images: np.ndarray, output_range: tuple[float, float], cols: int, pad: int = 1) -> np.ndarray:
    """Images (N, 1, H, W) as one uint8 picture, ``pad`` grey pixels between tiles (numpy only)."""
    n, _, h, w = images.shape
    rows = -(-n // cols)
    lo, hi = output_range
    pixels = np.round(np.clip((images[:, 0] - lo) / (hi - lo), 0.0, 1.0) * 255).astype(np.uint8)
    grid = np.full((rows * (h + pad) + pad, cols * (w + pad) + pad), 96, np.uint8)
    for i, tile in enumerate(pixels):
        r, c = divmod(i, cols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + c * (w + pad): pad + c * (w + pad) + w] = tile
    return grid



__all__ = ["GRID_N", "Table", "format_table", "headline", "notes", "skipped_targets", "tables", "write_report"]
