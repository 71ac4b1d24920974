"""Design-space exploration: precision x folding x placement points of a generator on a board, measured, and their
Pareto front.

:func:`explore` sweeps data width, weight width, table size, the multiplier budget the reuse factors spend and the
placement policy, where weights that leave the ROMs may go (:func:`points`; each point folded and placed within the
board's BRAM, LUT and UltraRAM estimates and weight ports too, :meth:`fpgagen.overlays.boards.Board.folding_budget`;
the policies of :data:`fpgagen.core.folding.PLACEMENT_POLICIES` the board offers), measures every point
(:func:`measure_point`) and keeps the points no other point beats on all of quality, resources and speed
(:func:`pareto_front`). Each point is measured, not guessed:

- **quality**: the point's QuantizedModel on the golden model against the float model, on the same latents of the
  generator's distribution: PSNR over the output range and the largest error;
- **speed**: cycles per image from the RTL twin's analytical bound
  (:attr:`fpgagen.rtl.generate.GeneratedDesign.bound_cycles`: the slowest stage of the generated pipeline, or the
  DDR when the weights streamed per image need more cycles at its derated bandwidth) and images/s at the board's
  fabric clock;
- **resources**: the multipliers the reuse factors instantiate (one DSP slice each), the weight bits and where each
  off-ROM layer's weights live (``loaded``: UltraRAM; ``streamed``: DDR over a weight port), checked against the
  board (:func:`fpgagen.overlays.boards.board_fit`); a point that does not fit is kept and marked with the resource
  it overflows.

Measuring a point needs only the float model (numpy): quantization, golden and the RTL generator are torch-free.
The points run on Ray (``pip install fpgagen[explore]``) when it is importable -- a local instance on this machine's
cores, or a cluster with ``ray_address`` -- each point a task; without Ray they run one after the other, and the
exploration says so. Results are the same either way. Every measured point is appended to ``points.jsonl`` in the
output folder as it finishes, keyed by its configuration, so an interrupted exploration resumes from what it already
measured. The output folder also gets ``front.json`` (the front, every point's config), ``front.png`` (PSNR against
images/s) and ``chosen.json``, a quantization config file that ``quantize``, ``convert`` and ``generate --config``
take with ``--board`` (the point's placements are the board's folding at its policy): the fastest fitting point
whose PSNR holds the width rule's target and that, given the width rule's test (``judge``), meets it on the rule's
latents (for a digit generator, the Frechet distance too).

``--rtlsim`` and ``--synth`` run the RTL twin of the fitting front points, placed ones too: Verilator with the
harness's DMA and DDR model feeding the weight ports (every stall on weights counted), and yosys (loaded weights
in UltraRAM on UltraScale+). A batch of latents is not a dimension: the RTL kernels read a streamed layer's weights
once per image, so a batch costs each image the same DDR traffic.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from fpgagen.core.accuracy import errors
from fpgagen.core.cache import write_atomic
from fpgagen.core.float_model import FloatModel

PSNR_TARGET_DB = 35.0  # the width rule's target (fpgagen.models.widths)
QUALITY_LATENTS = 256
QUALITY_SEED = 0


@dataclass(frozen=True)
class Point:
    """One configuration of the design space: the quantization config fields it sets. ``placement`` is the
    folding's placement policy (:data:`fpgagen.core.folding.PLACEMENT_POLICIES`), ``kernel`` the kernel it is folded
    for (:data:`fpgagen.core.folding.KERNELS`: ``rtl`` packs two products per DSP slice and builds multipliers in
    LUTs, ``multipliers`` then budgets DSP slices); ``auto`` and ``hls``, the defaults, are left out of the key and
    the config, so the keys of points explored before those were dimensions still match."""

    data_width: int
    weight_width: int
    table_size: int
    multipliers: int
    placement: str = "auto"
    kernel: str = "hls"

    @property
    def key(self) -> str:
        return (f"d{self.data_width}-w{self.weight_width}-t{self.table_size}-m{self.multipliers}"
                + ("" if self.placement == "auto" else f"-{self.placement}")
                + ("" if self.kernel == "hls" else f"-{self.kernel}"))

    def config(self) -> dict:
        """The quantization config file of this point (:class:`fpgagen.core.quantize.QuantConfig`)."""
        config = asdict(self)
        if self.placement == "auto":
            del config["placement"]
        if self.kernel == "hls":
            del config["kernel"]
        return config


def grid_placements(board: str) -> tuple[str, ...]:
    """The placement policies worth exploring on ``board``: ``auto``, and where the board has both UltraRAM and
    weight ports, ``loaded`` and ``streamed`` alone too (where it has one of them, ``auto`` is that one). ``rom``
    (every weight in a ROM, what the hls4ml back end's board project builds) is left to the caller: every policy
    keeps the weights in ROMs when they fit, and where they do not, a ROM-only point does not fit either."""
    from fpgagen.overlays.boards import get_board

    offered = get_board(board).placement_policies
    return ("auto", "loaded", "streamed") if {"loaded", "streamed"} <= set(offered) else ("auto",)


def points(widths: tuple[int, int], board: str, quick: bool = False,
           placements: tuple[str, ...] | None = None, kernels: tuple[str, ...] = ("hls",)) -> list[Point]:
    """The grid around ``widths`` (the generator's default data and weight widths) for ``board``: data and weight
    widths from two bits below to two above (one either side when ``quick``), table sizes 256 and 1,024 (1,024 when
    ``quick``), multiplier budgets of a quarter, half, three quarters and all of the board's (half and all when
    ``quick``), the placement policies ``placements`` (default :func:`grid_placements`) and the ``kernels``
    (:data:`fpgagen.core.folding.KERNELS`; the multiplier budgets count DSP slices); each point's reuse
    factors and placements are then chosen within the board's BRAM, LUT and UltraRAM estimates and weight ports
    too. A policy the board cannot take is a ValueError naming the board."""
    from fpgagen.overlays.boards import get_board

    spec = get_board(board)
    placements = tuple(dict.fromkeys(placements or grid_placements(board)))
    for policy in placements:
        spec.folding_budget(policy)  # refused here, before anything is measured
    budget = spec.multiplier_budget
    span = 1 if quick else 2
    data = [d for d in range(widths[0] - span, widths[0] + span + 1) if 4 <= d <= 24]
    weight = [w for w in range(widths[1] - span, widths[1] + span + 1) if 3 <= w <= 16]
    tables = (1024,) if quick else (256, 1024)
    budgets = sorted({max(1, budget // 2), budget} if quick else
                     {max(1, budget // 4), max(1, budget // 2), max(1, 3 * budget // 4), budget})
    kernels = tuple(dict.fromkeys(kernels))
    return [Point(d, w, t, m, p, k) for k in kernels for d in data for w in weight for t in tables for m in budgets
            for p in placements]


def quantized(float_model: FloatModel, point: Point, board: str, distribution: str = "normal"):
    """The QuantizedModel of ``float_model`` at ``point``, folded and placed within ``board``'s estimates at the
    point's placement policy (:func:`fpgagen.core.quantize.quantize_float`,
    :meth:`fpgagen.overlays.boards.Board.folding_budget`): what ``quantize --config`` makes of the point's config
    with ``--board``."""
    from fpgagen.core.quantize import QuantConfig, calibrate, quantize_float
    from fpgagen.overlays.boards import get_board

    config = QuantConfig(**point.config())
    budget = get_board(board).folding_budget(point.placement)
    return quantize_float(float_model, calibrate(float_model, config.calibration_latents, distribution), config,
                          widths=(point.data_width, point.weight_width), budget=budget)


def float_reference(float_model: FloatModel, distribution: str = "normal", n: int = QUALITY_LATENTS):
    """The float model's images of the quality latents (:data:`QUALITY_SEED`), what every point is compared with."""
    from fpgagen.core.latents import latents

    return float_model.run(latents(n, float_model.latent_dim, QUALITY_SEED, distribution))


def measure_point(float_model: FloatModel, point: Point, board: str, distribution: str = "normal",
                  n: int = QUALITY_LATENTS, reference=None) -> dict:
    """Quantize ``float_model`` at ``point`` and measure quality, cycles and resources (module docstring): the
    cycles are the bound of the point's generated RTL twin, DDR included (``bottleneck`` names its slowest stage,
    or ``ddr``), ``placements`` the layers whose weights are off the ROMs. A point the rules refuse (a budget below
    one multiplier per layer, a placement policy the board has no memory for) comes back with ``error``.
    ``reference``: :func:`float_reference` (made here when None). :func:`explore` makes it once, in its own
    process, so that every point is measured against the same float32 images on Ray too: BLAS's thread count (one
    in a Ray worker) changes their last bits."""
    from fpgagen.core import golden
    from fpgagen.core.latents import latents
    from fpgagen.overlays.boards import board_fit, get_board
    from fpgagen.rtl.generate import generate_rtl

    row: dict = {"key": point.key, "config": point.config()}
    started = time.perf_counter()
    try:
        model = quantized(float_model, point, board, distribution)
    except ValueError as e:
        return {**row, "error": str(e)}
    z = latents(n, float_model.latent_dim, QUALITY_SEED, distribution)
    if reference is None:
        reference = float_model.run(z)
    lo, hi = float_model.output_range
    quality = errors(golden.generate(model, z), reference, hi - lo)
    placements = {lr.name: lr.placement for lr in model.layers if lr.placement != "rom"}
    with tempfile.TemporaryDirectory(prefix="fpgagen-explore-") as folder:
        design = generate_rtl(model, folder)
    cycles, slowest = design.bound_cycles, design.bottleneck
    stages = [[s.name, s.cycles_per_image, s.multipliers] for s in design.stages if s.multipliers]
    spec = get_board(board)
    fit = board_fit(model, board)
    return {**row, "psnr_db": round(float(quality["psnr_db"]), 3), "max_abs_error": float(quality["max_abs_error"]),
            "cycles_per_image": int(cycles),
            "bottleneck": "ddr" if design.ddr_cycles > slowest.cycles_per_image else slowest.name,
            "stages": stages, "placements": placements, "ddr_cycles": design.ddr_cycles,
            "ddr_bytes_per_image": sum(ws.nbytes for ws in design.weight_streams if ws.placement == "streamed"),
            "images_per_s": spec.fabric_clock_mhz * 1e6 / cycles, "multipliers": model.multipliers,
            "dsp_slices": model.dsps, "lut_multipliers": sum(lr.mac.lut_multipliers for lr in model.layers if lr.mac),
            "weight_bits": model.weight_bits, "fits": not fit.problems, "fit_problems": list(fit.problems),
            "seconds": round(time.perf_counter() - started, 2)}


def simulate_point(float_model: FloatModel, point: Point, board: str, distribution: str = "normal") -> dict:
    """The point's RTL twin simulated (Verilator, cached build): steady-state cycles per image back to back, every
    image bit-exact with golden (:func:`fpgagen.host.virtual_board.rtlsim_backend.steady_state`); loaded layers get
    their pass after reset and streamed ones a pass per image through the harness's DMA and DDR model."""
    from fpgagen.host.virtual_board.rtlsim_backend import steady_state

    state = steady_state(quantized(float_model, point, board, distribution), images=4)
    return {"key": point.key, "rtlsim_cycles_per_image": state.cycles_per_image,
            "rtlsim_latency_cycles": state.latency_cycles}


def synthesize_point(float_model: FloatModel, point: Point, board: str, distribution: str = "normal") -> dict:
    """The point's RTL twin through yosys stage by stage (:func:`fpgagen.rtl.synth.synthesize_design`, cached by
    stage content: a stage another point already synthesized is not synthesized again; loaded weights in UltraRAM
    on a board with some): DSP, BRAM36, URAM288 (on such a board), LUT and FF against the board's, and what
    overflows."""
    from fpgagen.overlays.boards import get_board
    from fpgagen.rtl.generate import generate_rtl
    from fpgagen.rtl.synth import synthesize_design

    spec = get_board(board)
    with tempfile.TemporaryDirectory(prefix="fpgagen-explore-") as folder:
        synth = synthesize_design(generate_rtl(quantized(float_model, point, board, distribution), folder), spec)
    if synth["failed_stages"]:
        return {"key": point.key, "yosys_error": f"stages failed: {', '.join(synth['failed_stages'])}"}
    used = {k: synth["total"].get(k, 0)
            for k in (spec.dsp_primitive, "BRAM36", *(("URAM288",) if spec.uram else ()), "LUT", "FF")}
    over = [f"{k}: {v:,.0f} of {spec.budget[k]:,}" for k, v in used.items() if v > spec.budget[k]]
    return {"key": point.key, "yosys": used, "yosys_fits": not over, "yosys_problems": over}


def same_design(row: dict) -> str:
    """What identifies the design a measured point built: its config but the multiplier budget and the placement
    policy, where its weights went, its stages and what was measured of it. Two policies that placed the weights
    alike (every policy keeps the weights in ROMs when they fit), or two budgets the folding did not spend in full
    (a streamed layer bound by its port), built the same design."""
    config = {k: v for k, v in row["config"].items() if k not in ("multipliers", "placement")}
    return json.dumps([config, row.get("placements", {}), row["stages"],
                       *(row[k] for k in ("cycles_per_image", "multipliers", "weight_bits", "psnr_db")),
                       dsp_slices(row), row.get("lut_multipliers", 0)],
                      sort_keys=True)


def dsp_slices(row: dict) -> int:
    """A measured point's DSP slices (a point measured before the RTL kernel: one per multiplier)."""
    return row.get("dsp_slices", row["multipliers"])


def pareto_front(rows: list[dict]) -> list[dict]:
    """The measured points no other point matches or beats on PSNR (higher), images/s (higher), DSP slices, LUT
    multipliers and weight bits (fewer), better on at least one; a design that several points built
    (:func:`same_design`) once, as its first point in grid order (the smallest budget, ``auto`` before the other
    policies); in order of images/s."""
    ok, seen = [], set()
    for r in rows:
        if "error" not in r and same_design(r) not in seen:
            seen.add(same_design(r))
            ok.append(r)

    def score(r: dict) -> tuple:  # each the more the better
        return (r["psnr_db"], r["images_per_s"], -dsp_slices(r), -r.get("lut_multipliers", 0), -r["weight_bits"])

    def beats(a: dict, b: dict) -> bool:
        sa, sb = score(a), score(b)
        return all(x >= y for x, y in zip(sa, sb, strict=True)) and sa != sb

    front = [r for r in ok if not any(beats(o, r) for o in ok if o is not r)]
    return sorted(front, key=lambda r: (-r["images_per_s"], r["key"]))


def choose(front: list[dict], psnr_db: float = PSNR_TARGET_DB,
           accept: Callable[[dict], bool] | None = None) -> dict | None:
    """The fastest point of the front that fits the board (by yosys too, where it was run), holds ``psnr_db`` and
    passes ``accept`` (asked in this order, so only as often as needed); ties: fewer DSP slices, LUT multipliers,
    weight bits, then data bits (None when no point does)."""
    good = sorted((r for r in front if r["fits"] and r.get("yosys_fits", True) and r["psnr_db"] >= psnr_db),
                  key=lambda r: (-r["images_per_s"], dsp_slices(r), r.get("lut_multipliers", 0), r["weight_bits"],
                                 r["config"]["data_width"], r["key"]))
    return next((r for r in good if accept is None or accept(r)), None)


@contextmanager
def _engine(float_model: FloatModel, use_ray: bool, address: str | None):
    """``run(fn, points, args, report)``: ``report(fn(float_model, point, *args))`` for every point, one after the
    other or as Ray tasks (long ones -- a Verilator build -- run in parallel on a cluster), reported as each
    finishes. Ray starts once for the whole exploration, and stops after it if it was started here."""
    if not use_ray:
        def run_serial(fn, todo: list[Point], args: tuple, report: Callable[[dict], None]) -> None:
            for point in todo:
                report(fn(float_model, point, *args))

        yield run_serial
        return
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        if address:
            _check_reachable(address)
            try:
                ray.init(address=address, log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise RuntimeError(f"cannot reach the Ray cluster at {address} ({type(e).__name__}: "
                                   f"{str(e).splitlines()[0] if str(e) else ''})") from None
        else:
            ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    try:
        model_ref = ray.put(float_model)

        def run_ray(fn, todo: list[Point], args: tuple, report: Callable[[dict], None]) -> None:
            task = ray.remote(fn)
            pending = [task.remote(model_ref, point, *args) for point in todo]
            while pending:
                done, pending = ray.wait(pending, num_returns=1)
                report(ray.get(done[0]))

        yield run_ray
    finally:
        if started_here:
            ray.shutdown()


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """RuntimeError unless something listens at a Ray ``host:port`` (or ``ray://host:port``) address: Ray itself
    retries an unreachable one for minutes before it gives up. ``auto`` (a cluster this machine belongs to) is left
    to Ray."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if address == "auto" or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise RuntimeError(f"cannot reach the Ray cluster at {address} ({e.strerror or e}): nothing measured") \
            from None


def ray_missing() -> str | None:
    """Why Ray cannot be imported here, or None."""
    try:
        import ray  # noqa: F401
    except ImportError as e:
        return f"{type(e).__name__}: {e}"
    return None


def explore(float_model: FloatModel, board: str, out: Path, grid: list[Point], distribution: str = "normal",
            engine: str = "auto", ray_address: str | None = None, rtlsim: bool = False, synth: bool = False,
            judge: Callable[[object], dict] | None = None, progress: Callable[[str], None] = print) -> dict:
    """Measure ``grid`` for ``float_model`` on ``board`` into ``out`` (resuming from its ``points.jsonl``); write
    the front, its plot and the chosen config; return ``{"engine", "points", "front", "chosen", "out", "files",
    ...}`` (``files`` relative to ``out``).

    ``engine``: ``"ray"`` (Ray required), ``"serial"``, or ``"auto"`` (Ray when importable, else serial, said so).
    ``rtlsim``: simulate the RTL twin of every fitting point on the front, weights off the ROMs included
    (:func:`simulate_point`), and record its measured cycles beside the bound. ``synth``: estimate the resources
    of every fitting front point with yosys (:func:`synthesize_point`; minutes per new stage, cached by stage
    content). ``judge``: the width rule's test of a QuantizedModel (:func:`fpgagen.models.widths.judge`: PSNR and,
    for a digit generator, the Frechet distance on the rule's latents), asked of the candidates for the chosen
    point in order until one meets it; its row is kept in ``points.jsonl`` under ``width_rule``.
    """
    if ray_address and engine == "serial":
        raise ValueError(f"--ray-address {ray_address} names a Ray cluster, but --engine serial runs here: drop one")
    out = Path(out)
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    try:
        return _explore(float_model, board, out, grid, distribution, engine, ray_address, rtlsim, synth, judge,
                        progress)
    except BaseException:
        if created and not any(out.iterdir()):  # nothing measured (Ray unreachable, say): no empty folder left
            out.rmdir()
        raise


def _explore(float_model: FloatModel, board: str, out: Path, grid: list[Point], distribution: str, engine: str,
             ray_address: str | None, rtlsim: bool, synth: bool, judge, progress) -> dict:
    log = out / "points.jsonl"
    identity = {"model": float_model.digest(), "board": board, "distribution": distribution,
                "n": QUALITY_LATENTS, "seed": QUALITY_SEED}
    tag = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    done: dict[str, dict] = {}
    if log.is_file():
        for line in log.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by an interrupted run: measured again
            if row.get("tag") == tag and not (row.get("placements") and "ddr_cycles" not in row):
                done[row["key"]] = row  # (a placed point measured before its bound counted the DDR: again)
    todo = [p for p in grid if p.key not in done]
    missing = ray_missing()
    if engine == "ray" and missing:
        raise RuntimeError(f"the Ray engine needs ray ({missing}): pip install 'fpgagen[explore]'")
    use_ray = engine == "ray" or (engine == "auto" and missing is None)
    progress(f"{float_model.name} on {board}: {len(grid)} points, {len(done)} already measured in {log}; "
             + (f"{len(todo)} on Ray" + (f" at {ray_address}" if ray_address else " (a local instance)") if use_ray
                else f"{len(todo)} one after the other"
                + (f" (Ray is not installed: {missing})" if engine == "auto" and missing else "")))
    started = time.perf_counter()
    measured = []

    def report(row: dict) -> None:
        row = {**row, "tag": tag}
        with open(log, "a") as f:  # one line per point as it finishes: an interrupted run resumes from here
            f.write(json.dumps(row) + "\n")
        measured.append(row)
        what = (f"error: {row['error']}" if "error" in row else
                f"PSNR {row['psnr_db']:.1f} dB, {row['cycles_per_image']:,} cycles/image ({row['bottleneck']}), "
                f"{row['multipliers']} multipliers ({dsp_slices(row)} DSP), weights {placed(row)}"
                + ("" if row["fits"] else " (does not fit)"))
        progress(f"  [{len(done) + len(measured)}/{len(grid)}] {row['key']}: {what}")

    with _engine(float_model, use_ray, ray_address) as run:
        if todo:
            run(measure_point, todo, (board, distribution, QUALITY_LATENTS,
                                      float_reference(float_model, distribution)), report)
        by_key = {**done, **{r["key"]: r for r in measured}}
        rows = [by_key[p.key] for p in grid]
        front = pareto_front(rows)
        for wanted, fn, args, what in ((rtlsim, simulate_point, (board, distribution), "simulating the RTL twin of"),
                                       (synth, synthesize_point, (board, distribution), "yosys on the RTL twin of")):
            if not wanted:
                continue
            extra: dict[str, dict] = {}
            fitting = [Point(**r["config"]) for r in front if r["fits"]]
            progress(f"{what} {len(fitting)} front points")
            run(fn, fitting, args, lambda s, extra=extra: extra.update({s["key"]: s}))
            front = [{**r, **extra.get(r["key"], {})} for r in front]

    def accept(row: dict) -> bool:
        if judge is None:
            return True
        if "width_rule" not in row:
            progress(f"judging {row['key']} by the width rule's targets")
            row["width_rule"] = judge(quantized(float_model, Point(**row["config"]), board, distribution))
            with open(log, "a") as f:
                f.write(json.dumps({**row, "tag": tag}) + "\n")
        return bool(row["width_rule"]["meets_targets"])

    chosen = choose(front, accept=accept)
    files = {"points": log.name, "front": "front.json"}
    write_atomic(out / "front.json", json.dumps({"model": float_model.name, "board": board, **identity,
                                                 "front": front, "chosen": chosen, "points": rows}, indent=1) + "\n")
    if chosen is not None:
        chosen_for = {"model": float_model.name, "digest": float_model.digest(), "board": board}
        write_atomic(out / "chosen.json", json.dumps({**chosen["config"], "chosen_for": chosen_for}, indent=1) + "\n")
        files["chosen"] = "chosen.json"
    if _plot(rows, front, chosen, out / "front.png", f"{float_model.name} on {board}"):
        files["plot"] = "front.png"
    return {"engine": "ray" if use_ray else "serial", "points": rows, "front": front, "chosen": chosen, "out": out,
            "files": files, "measured_now": len(measured), "seconds": time.perf_counter() - started}


def _plot(rows: list[dict], front: list[dict], chosen: dict | None, path: Path, title: str) -> bool:
    """PSNR against images/s, marker size by multipliers, the front joined; False without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    from fpgagen.core.cache import replacing

    ok = [r for r in rows if "error" not in r]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for fits, colour, label in ((True, "tab:blue", "fits the board"), (False, "tab:red", "does not fit")):
        pts = [r for r in ok if r["fits"] == fits]
        if pts:
            ax.scatter([r["images_per_s"] for r in pts], [r["psnr_db"] for r in pts], c=colour, alpha=0.5,
                       s=[10 + 60 * r["multipliers"] / max(1, max(p["multipliers"] for p in ok)) for r in pts],
                       label=label)
    ax.plot([r["images_per_s"] for r in front], [r["psnr_db"] for r in front], "k-", lw=0.8, label="Pareto front")
    if chosen:
        ax.scatter([chosen["images_per_s"]], [chosen["psnr_db"]], marker="*", s=200, c="gold", edgecolors="k",
                   label=f"chosen {chosen['key']}")
    ax.axhline(PSNR_TARGET_DB, color="grey", ls=":", lw=0.8)
    ax.set_xlabel("images/s at the fabric clock (analytical bound)")
    ax.set_ylabel("PSNR against float, dB")
    ax.set_title(f"{title}: {len(ok)} points (marker size: multipliers)", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with replacing(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return True


def placed(row: dict) -> str:
    """Where a measured point's weights live, in words: ``all in ROM``, or each off-ROM layer and its place."""
    off = row.get("placements") or {}
    return ", ".join(f"{name} {where}" for name, where in off.items()) if off else "all in ROM"


def format_front(result: dict) -> str:
    """The front as a table."""
    lines = [f"{'point':37s} {'PSNR dB':>8s} {'max|err|':>9s} {'cycles/img':>11s} {'RTL sim':>9s} {'img/s':>9s} "
             f"{'mult':>6s} {'DSP':>6s} {'LUT x':>6s} {'Mbit':>6s} fits; weights"]
    for r in result["front"]:
        simulated = f"{r['rtlsim_cycles_per_image']:9,.0f}" if "rtlsim_cycles_per_image" in r else f"{'-':>9s}"
        lines.append(f"{r['key']:37s} {r['psnr_db']:8.1f} {r['max_abs_error']:9.4f} {r['cycles_per_image']:11,d} "
                     f"{simulated} {r['images_per_s']:9,.0f} {r['multipliers']:6d} {dsp_slices(r):6d} "
                     f"{r.get('lut_multipliers', 0):6d} {r['weight_bits'] / 1e6:6.2f} "
                     + ("yes" if r["fits"] else "no: " + "; ".join(p.split(":")[0] for p in r["fit_problems"]))
                     + f"; {placed(r)}"
                     + (f"; yosys {', '.join(f'{k} {v:,.0f}' for k, v in r['yosys'].items())}"
                        + ("" if r["yosys_fits"] else f" over: {'; '.join(r['yosys_problems'])}")
                        if "yosys" in r else ""))
    return "\n".join(lines)
