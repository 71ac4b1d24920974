"""Small parameter sets of every library module, for the lint and synthesis checks (memory files are
written to ``mem_dir``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fpgagen.core import golden
from fpgagen.core.fixed import FixedType
from fpgagen.rtl.memfiles import write_conv_transpose, write_dense, write_table


def small_configs(mem_dir: Path) -> list[tuple[str, str, dict]]:
    """``(id, module, parameters)`` for every module, some more than once."""
    mem_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)

    def dense_files(tag, n_in, n_out, p, pi=None):
        w, b = rng.integers(-128, 128, (n_out, n_in)), rng.integers(-128, 128, n_out)
        wf, bf = write_dense(mem_dir / f"{tag}_w.hex", mem_dir / f"{tag}_b.hex", w, b, p, 8, 8, pi)
        return {"WEIGHTS_FILE": str(wf), "BIAS_FILE": str(bf)}

    def conv_transpose_files(tag, c, o, k, pi, po):
        w, b = rng.integers(-128, 128, (c, o, k, k)), rng.integers(-128, 128, o)
        wf, bf = write_conv_transpose(mem_dir / f"{tag}_w.hex", mem_dir / f"{tag}_b.hex", w, b, pi, po, 8, 8)
        return {"WEIGHTS_FILE": str(wf), "BIAS_FILE": str(bf)}

    table_t = FixedType.parse("ap_fixed<10,2>")
    table = write_table(mem_dir / "tanh256.hex", golden.activation_table("tanh", 256, table_t), 10)
    dense_types = {"X_W": 8, "X_F": 4, "W_W": 8, "W_F": 6, "B_W": 8, "B_F": 4, "ACC_W": 24, "ACC_F": 10,
                   "OUT_W": 8, "OUT_F": 4, "ROUNDING": 2, "OVERFLOW": 1}
    return [
        ("requant", "fg_requant", {}),
        ("requant_rnd_sat_u", "fg_requant", {"IN_SIGNED": 0, "OUT_SIGNED": 0, "ROUNDING": 6, "OVERFLOW": 3}),
        ("requant_up", "fg_requant", {"IN_F": 2, "OUT_F": 5, "OVERFLOW": 2}),
        ("axis_reg", "fg_axis_reg", {"DATA_W": 8}),
        ("axis_fifo", "fg_axis_fifo", {"DATA_W": 8, "DEPTH": 16}),
        ("axis_fifo_d1", "fg_axis_fifo", {"DATA_W": 8, "DEPTH": 1}),
        ("dense_rf8", "fg_dense", {"N_IN": 8, "N_OUT": 4, "P": 4, **dense_types, **dense_files("d8", 8, 4, 4)}),
        ("dense_full", "fg_dense", {"N_IN": 4, "N_OUT": 3, "P": 12, **dense_types, **dense_files("d4", 4, 3, 12)}),
        ("dense_beats", "fg_dense", {"N_IN": 8, "N_OUT": 12, "P": 4, "OUT_LANES": 3, **dense_types,
                                     **dense_files("d8x12", 8, 12, 4)}),
        ("dense_beats_po", "fg_dense", {"N_IN": 4, "N_OUT": 8, "P": 8, "OUT_LANES": 4, **dense_types,
                                        **dense_files("d4x8", 4, 8, 8)}),
        # a free split: PI = 2 of min(P, N_IN) = 8, PO = 4 outputs, two packed pairs less one output in LUTs
        ("dense_pi_packed", "fg_dense", {"N_IN": 8, "N_OUT": 8, "P": 8, "PI": 2, **dense_types, "PACK": 1,
                                         "LUT_OUTS": 1, **dense_files("d8pi2", 8, 8, 8, 2)}),
        # weights written into a RAM after reset / streamed per vector: no WEIGHTS_FILE
        ("dense_loaded", "fg_dense", {"N_IN": 8, "N_OUT": 12, "P": 4, "OUT_LANES": 3, **dense_types,
                                      "WEIGHT_SOURCE": 1, "BIAS_FILE": dense_files("dl", 8, 12, 4)["BIAS_FILE"]}),
        ("dense_streamed", "fg_dense", {"N_IN": 4, "N_OUT": 8, "P": 8, "OUT_LANES": 4, **dense_types,
                                        "WEIGHT_SOURCE": 2, "BIAS_FILE": dense_files("ds", 4, 8, 8)["BIAS_FILE"]}),
        # the weight gearbox, beat-aligned words: R = 2 beats a word (56 zero bits), K = 3 words a beat (a pass
        # ending in a beat of 1), a word a beat, K = 1 (56 zero bits), K = 64, R = 4 (a multiple of the beat)
        ("weight_gearbox", "fg_weight_gearbox", {"IN_W": 64, "WORD_W": 72, "N_WORDS": 10}),
        ("weight_gearbox_narrow", "fg_weight_gearbox", {"IN_W": 128, "WORD_W": 40, "N_WORDS": 7}),
        ("weight_gearbox_equal", "fg_weight_gearbox", {"IN_W": 64, "WORD_W": 64, "N_WORDS": 1}),
        ("weight_gearbox_k1", "fg_weight_gearbox", {"IN_W": 128, "WORD_W": 72, "N_WORDS": 4}),
        ("weight_gearbox_bits", "fg_weight_gearbox", {"IN_W": 64, "WORD_W": 1, "N_WORDS": 100}),
        ("weight_gearbox_r4", "fg_weight_gearbox", {"IN_W": 64, "WORD_W": 256, "N_WORDS": 3}),
        # the weight memory of fg_dense and fg_conv_transpose2d: dense_rf8's ROM (8 words of 4 lanes), RAMs
        ("weight_mem", "fg_weight_mem", {"WORD_W": 32, "DEPTH": 8,
                                         "WEIGHTS_FILE": dense_files("wm", 8, 4, 4)["WEIGHTS_FILE"]}),
        ("weight_mem_loaded", "fg_weight_mem", {"WORD_W": 72, "DEPTH": 10, "WEIGHT_SOURCE": 1}),
        ("weight_mem_loaded_d1", "fg_weight_mem", {"WORD_W": 8, "DEPTH": 1, "WEIGHT_SOURCE": 1}),
        ("mac_array", "fg_mac_array", {"PI": 4, "PO": 2, **dense_types}),
        ("mac_array_u", "fg_mac_array", {"PI": 1, "PO": 1, **dense_types, "X_SIGNED": 0, "OUT_SIGNED": 0}),
        # outputs 0 and 1 share DSPs, output 2 has its own, 3 and 4 multiply in LUTs
        ("mac_array_packed", "fg_mac_array", {"PI": 2, "PO": 5, **dense_types, "PACK": 1, "LUT_OUTS": 2}),
        ("mac_sums", "fg_mac_sums", {"PI": 3, "PO": 2, "X_W": 9, "X_SIGNED": 0, "W_W": 7, "SUM_W": 20, "PACK": 1}),
        ("mac_sums_lut", "fg_mac_sums", {"PI": 1, "PO": 1, "X_W": 4, "W_W": 1, "SUM_W": 5, "LUT_OUTS": 1}),
        ("beat_reg", "fg_beat_reg", {"GROUPS": 3, "GROUP_W": 16}),
        ("beat_reg_g1", "fg_beat_reg", {"GROUPS": 1, "GROUP_W": 8}),
        ("window2d", "fg_window2d", {"H": 8, "W": 8, "C": 2, "K": 3, "PAD": 1, "X_W": 8}),
        ("window2d_k1", "fg_window2d", {"H": 4, "W": 4, "C": 2, "K": 1, "PAD": 0, "X_W": 8}),
        ("conv2d", "fg_conv2d", {"H": 8, "W": 8, "C_IN": 1, "C_OUT": 2, "K": 3, "PAD": 1, "P": 9, **dense_types,
                                 **dense_files("c9", 9, 2, 9)}),
        # weights written into a RAM after reset (fg_dense's LOADED): no WEIGHTS_FILE
        ("conv2d_loaded", "fg_conv2d", {"H": 6, "W": 5, "C_IN": 2, "C_OUT": 3, "K": 3, "PAD": 1, "P": 6,
                                        **dense_types, "WEIGHT_SOURCE": 1,
                                        "BIAS_FILE": dense_files("c18l", 18, 3, 6)["BIAS_FILE"]}),
        ("conv_transpose2d", "fg_conv_transpose2d", {"H": 4, "W": 4, "C_IN": 2, "C_OUT": 2, "K": 3, "STRIDE": 2,
                                                     "PAD": 1, "OUT_PAD": 1, "PI": 2, "PO": 1, **dense_types,
                                                     **conv_transpose_files("ct3", 2, 2, 3, 2, 1)}),
        ("conv_transpose2d_s1", "fg_conv_transpose2d", {"H": 3, "W": 5, "C_IN": 2, "C_OUT": 4, "K": 5, "STRIDE": 1,
                                                        "PAD": 2, "OUT_PAD": 0, "PI": 2, "PO": 4, **dense_types,
                                                        **conv_transpose_files("ct5", 2, 4, 5, 2, 4)}),
        ("conv_transpose2d_ragged", "fg_conv_transpose2d", {"H": 3, "W": 3, "C_IN": 2, "C_OUT": 5, "K": 3,
                                                            "STRIDE": 2, "PAD": 1, "OUT_PAD": 1, "PI": 2, "PO": 2,
                                                            **dense_types,
                                                            **conv_transpose_files("ct3r", 2, 5, 3, 2, 2)}),
        ("conv_transpose2d_loaded", "fg_conv_transpose2d", {"H": 3, "W": 4, "C_IN": 4, "C_OUT": 5, "K": 3,
                                                            "STRIDE": 2, "PAD": 1, "OUT_PAD": 1, "PI": 2, "PO": 2,
                                                            **dense_types, "WEIGHT_SOURCE": 1,
                                                            "BIAS_FILE": conv_transpose_files("ct3l", 4, 5, 3, 2, 2)[
                                                                "BIAS_FILE"]}),
        ("conv_transpose2d_ws", "fg_conv_transpose2d_ws", {"H": 3, "W": 4, "C_IN": 4, "C_OUT": 5, "K": 3, "STRIDE": 2,
                                                           "PAD": 1, "OUT_PAD": 1, "PI": 2, "PO": 2, **dense_types,
                                                           "BIAS_FILE": conv_transpose_files("ctws", 4, 5, 3, 2, 2)[
                                                               "BIAS_FILE"]}),
        ("conv_transpose2d_ws_1x1", "fg_conv_transpose2d_ws", {"H": 1, "W": 1, "C_IN": 2, "C_OUT": 1, "K": 5,
                                                               "STRIDE": 1, "PAD": 2, "OUT_PAD": 0, "PI": 1, "PO": 1,
                                                               **dense_types,
                                                               "BIAS_FILE": conv_transpose_files("ctws1", 2, 1, 5, 1,
                                                                                                 1)["BIAS_FILE"]}),
        ("upsample", "fg_upsample", {"H": 4, "W": 4, "C": 2, "X_W": 8, "FACTOR": 2}),
        ("repack_split", "fg_repack", {"LANE_W": 8, "N_IN": 16, "N_OUT": 4}),
        ("repack_gather", "fg_repack", {"LANE_W": 8, "N_IN": 1, "N_OUT": 4}),
        ("relu", "fg_relu", {"LANES": 2}),
        ("leaky_relu", "fg_leaky_relu", {"LANES": 2}),
        ("lut_act", "fg_lut_act", {"LANES": 1, "TABLE_SIZE": 256, "TABLE_W": 10, "TABLE_F": 8,
                                   "TABLE_FILE": str(table)}),
        ("f32_to_fixed", "fg_f32_to_fixed", {"ROUNDING": 6, "OVERFLOW": 1}),
        ("fixed_to_f32", "fg_fixed_to_f32", {}),
        ("axis_f32_in", "fg_axis_f32_in", {"LANES": 4}),
        ("axis_f32_out", "fg_axis_f32_out", {"LANES": 2}),
    ]
