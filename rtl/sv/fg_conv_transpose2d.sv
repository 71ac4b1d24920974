// Transposed 2-D convolution stage, torch ConvTranspose2d (stride 1 or 2, square K x K kernel, padding PAD,
// output_padding OUT_PAD -- negative: an end crop, Keras's 'same' --, dilation 1, groups 1): pixels of C_IN lanes in, pixels of C_OUT lanes out, both in
// raster order (channels last, lane 0 in the LSBs), frames back to back.
//
// Sub-pixel form, no zero insertion (fpgagen.hls.quantized_model.transposed_phases): along each axis, output
// index y has phase r = (y + PAD) mod STRIDE and q = (y + PAD) div STRIDE; it takes the taps t = r + m*STRIDE
// with input i = q - m, for m from max(0, q - (H - 1)) to min(M_r - 1, q), M_r = ceil((K - r) / STRIDE) the
// taps of the phase. Only those useful taps are multiplied: nothing by an inserted zero or by padding.
//
//   acc_o = (bias_o << (ACC_F - B_F)) + sum over useful (ty, tx) and c of x[iy][ix][c] * w[c][o][ty][tx]
//   y_o   = requant(acc_o)  to OUT_W/OUT_F/OUT_SIGNED with ROUNDING, OVERFLOW  (exact accumulator; fg_requant)
//
// PI * PO multipliers: PO outputs per cycle, each adding PI input channels' products (PI divides C_IN; PO need
// not divide C_OUT: the last of the NOG = ceil(C_OUT / PO) output groups is then partly idle, its ROM lanes zero,
// its surplus results dropped; fpgagen.core.transposed.tap_split). Per output pixel, per output group and per
// useful tap the stage spends C_IN / PI cycles, so a pixel takes RF = C_IN / PI * NOG cycles per useful tap; a
// pixel without any useful tap (bottom rows / right columns that output_padding adds) takes one cycle per output
// group and is its bias. Cycles per image: fpgagen.core.transposed.conv_transpose_cycles.
//
// Line buffer: a ring of NR = ceil(K / STRIDE) + floor(PAD / STRIDE) + 1 input rows. An output row reads at
// most ceil(K / STRIDE) consecutive input rows; the other slots take the rows that follow while it is computed,
// and while a frame's last output row is computed the floor(PAD / STRIDE) + 1 rows the next frame's first
// output row needs load, so frames follow each other without a bubble. s_axis_tready is high while a slot is
// free: a registered row count, independent of m_axis_tready.
//
// Pipeline: issue (walk output pixel -> output group -> tap row -> tap column -> input block, form the weight
// memory and line buffer addresses) -> execute (weight word, from fg_weight_mem, and input pixel read
// synchronously with the stall as read enable; PI x PO products (two outputs to a DSP with PACK, the last
// LUT_OUTS outputs in LUTs), accumulate and cast in fg_mac_array; into the
// output register, fg_beat_reg). An output beat is valid two cycles after the last issue cycle of its pixel.
// Weight word ((og * K + ty) * K + tx) * (C_IN / PI) + ib holds in lane po * PI + pi the weight
// w[ib * PI + pi][og * PO + po][ty][tx] (0 beyond C_OUT); the bias ROM is fg_dense's, NOG words of PO lanes
// (fpgagen.rtl.memfiles.write_conv_transpose).
//
// Where the weights live (WEIGHT_SOURCE; ROM and LOADED: fg_weight_mem). The weight memory holds
// NWords = NOG * K * K * C_IN / PI words of PI * PO lanes (the word order and lane layout above, the ROM file's).
// An output pixel reads the words of its useful taps, every pixel again, so the words must stay on chip; a layer
// whose weights do not fit streams them through fg_conv_transpose2d_ws instead (each word once per frame), not
// through this module. Weight words arrive on s_axis_w (one word per beat, no TLAST) in the ROM file's order
// (fpgagen.rtl.memfiles.conv_transpose_words; from DMA beats through fg_weight_gearbox):
//   0 ROM       $readmemh(WEIGHTS_FILE) initialises a ROM. s_axis_w_tready is 0 and the s_axis_w inputs are
//               unused.
//   1 LOADED    a RAM of NWords words (one write port, one synchronous read port: block RAM or UltraRAM, which
//               the bitstream cannot initialise) written once after reset: the first NWords beats on s_axis_w go
//               to addresses 0, 1, ...; then s_axis_w_tready stays 0 until the next reset. Input pixels may be
//               accepted into the line buffer while loading, but nothing issues until the last word is written;
//               from then on the timing is ROM's.
// The accumulator keeps ACC_W bits and wraps (see fg_mac_array).
// TLAST: the last output beat of a frame carries the OR of that frame's input TLASTs (as fg_window2d).

`default_nettype none

module fg_conv_transpose2d #(
  parameter int unsigned H             = 4,     // input rows
  parameter int unsigned W             = 4,     // input columns
  parameter int unsigned C_IN          = 1,     // input channels
  parameter int unsigned C_OUT         = 1,     // output channels
  parameter int unsigned K             = 3,     // kernel size (K x K)
  parameter int unsigned STRIDE        = 2,     // stride, 1 or 2
  parameter int unsigned PAD           = 1,     // torch padding, 0 .. K - 1
  parameter int          OUT_PAD       = 1,     // torch output_padding, PAD - K + 1 .. STRIDE - 1 (< 0: end crop)
  parameter int unsigned PI            = 1,     // input channels per output per cycle, divides C_IN
  parameter int unsigned PO            = 1,     // outputs per cycle, 1 .. C_OUT (PI * PO multipliers)
  parameter int unsigned X_W           = 8,     // input width
  parameter int          X_F           = 4,     // input fraction bits
  parameter bit          X_SIGNED      = 1'b1,  // input signed (else unsigned)
  parameter int unsigned W_W           = 8,     // weight width (signed)
  parameter int          W_F           = 4,     // weight fraction bits
  parameter int unsigned B_W           = 8,     // bias width (signed)
  parameter int          B_F           = 4,     // bias fraction bits
  parameter int unsigned ACC_W         = 24,    // accumulator width (signed)
  parameter int          ACC_F         = 8,     // accumulator fraction bits
  parameter int unsigned OUT_W         = 8,     // result width
  parameter int          OUT_F         = 4,     // result fraction bits
  parameter bit          OUT_SIGNED    = 1'b1,  // result signed (else unsigned)
  parameter int unsigned ROUNDING      = 0,     // result rounding code (fg_requant)
  parameter int unsigned OVERFLOW      = 0,     // result overflow code (fg_requant)
  parameter bit          PACK          = 1'b0,  // outputs 2k and 2k + 1 on DSPs share a multiplier (fg_mac_sums)
  parameter int unsigned LUT_OUTS      = 0,     // the last LUT_OUTS of the PO outputs multiply in LUTs (fg_mac_sums)
  parameter int unsigned WEIGHT_SOURCE = 0,     // where the weights live: 0 ROM, 1 LOADED (above)
  parameter string       WEIGHTS_FILE  = "",    // $readmemh file: NOG*K*K*C_IN/PI words of PI*PO weights (ROM only)
  parameter string       BIAS_FILE     = ""     // $readmemh file: NOG words of PO biases
) (
  input  logic                   clk_i,
  input  logic                   rst_ni,

  input  logic [PI*PO*W_W-1:0]   s_axis_w_tdata,   // one weight word (PI*PO lanes of W_W bits) per beat
  input  logic                   s_axis_w_tvalid,
  output logic                   s_axis_w_tready,

  input  logic [C_IN*X_W-1:0]    s_axis_tdata,
  input  logic                   s_axis_tlast,
  input  logic                   s_axis_tvalid,
  output logic                   s_axis_tready,

  output logic [C_OUT*OUT_W-1:0] m_axis_tdata,
  output logic                   m_axis_tlast,
  output logic                   m_axis_tvalid,
  input  logic                   m_axis_tready
);

  function automatic int unsigned bits(int unsigned n);  // width of a counter over 0 .. n - 1
    return (n > 1) ? $clog2(n) : 1;
  endfunction

  localparam int OhI = int'((H - 1) * STRIDE + K) + OUT_PAD - 2 * int'(PAD);  // output rows
  localparam int OwI = int'((W - 1) * STRIDE + K) + OUT_PAD - 2 * int'(PAD);  // output columns
  localparam int unsigned OH = (OhI > 0) ? OhI : 1;
  localparam int unsigned OW = (OwI > 0) ? OwI : 1;
  localparam int unsigned S = (STRIDE > 0) ? STRIDE : 1;
  localparam int unsigned R0 = PAD % S;  // phase of output index 0
  localparam int unsigned Q0 = PAD / S;  // q of output index 0
  localparam int unsigned QMaxY = (OH - 1 + PAD) / S;
  localparam int unsigned QMaxX = (OW - 1 + PAD) / S;
  localparam int unsigned MMax = (K + S - 1) / S;  // taps of phase 0, the largest
  localparam int unsigned M1 = (K + S - 2) / S;  // taps of phase 1 (STRIDE 2)
  localparam int unsigned NR = MMax + Q0 + 1;  // line buffer rows
  localparam int unsigned P = PI * PO;  // multipliers
  localparam int unsigned NIB = (PI > 0) ? C_IN / PI : 1;  // input blocks (cycles) per tap
  localparam int unsigned NOG = (PO > 0) ? (C_OUT + PO - 1) / PO : 1;  // output groups per pixel, the last ragged
  localparam int unsigned NWords = NOG * K * K * NIB;  // weight ROM depth
  localparam int unsigned YW = bits(OH);
  localparam int unsigned XW = bits(OW);
  localparam int unsigned QYW = bits(QMaxY + 1);
  localparam int unsigned QXW = bits(QMaxX + 1);
  localparam int unsigned TapW = bits(MMax);
  localparam int unsigned IbW = bits(NIB);
  localparam int unsigned OgW = bits(NOG);
  localparam int unsigned RowW = bits(H);
  localparam int unsigned ColW = bits(W);
  localparam int unsigned SlotW = bits(NR);
  localparam int unsigned HeldW = bits(NR + 1);
  localparam int unsigned LbAddrW = bits(NR * W);
  localparam int unsigned AddrW = bits(NWords);
  localparam int unsigned PxW = C_IN * X_W;

  // PAD - OUT_PAD <= K - 1 (the end crop): the last output row reads the last input row, so a frame's rows are all
  // consumed before its last output (the frame-end release below frees all H)
  if (STRIDE < 1 || STRIDE > 2 || K < 1 || PAD > K - 1 || OUT_PAD >= int'(STRIDE)
      || int'(PAD) - OUT_PAD > int'(K) - 1) begin : gen_err_geometry
    $fatal(1, "fg_conv_transpose2d: need STRIDE in 1..2, K >= 1, PAD <= K-1, PAD-K+1 <= OUT_PAD < STRIDE (STRIDE=%0d K=%0d PAD=%0d OUT_PAD=%0d)",
           STRIDE, K, PAD, OUT_PAD);
  end
  if (H < 1 || W < 1 || C_IN < 1 || C_OUT < 1 || X_W < 1 || OhI < 1 || OwI < 1) begin : gen_err_size
    $fatal(1, "fg_conv_transpose2d: need H, W, C_IN, C_OUT, X_W >= 1 and a non-empty output (H=%0d W=%0d)", H, W);
  end
  if (PI < 1 || PO < 1 || C_IN % PI != 0 || PO > C_OUT) begin : gen_err_parallel
    $fatal(1, "fg_conv_transpose2d: need PI | C_IN and 1 <= PO <= C_OUT (PI=%0d PO=%0d C_IN=%0d C_OUT=%0d)",
           PI, PO, C_IN, C_OUT);
  end
  if (WEIGHT_SOURCE > 1) begin : gen_err_source
    $fatal(1, "fg_conv_transpose2d: WEIGHT_SOURCE=%0d (0 ROM, 1 LOADED; streamed weights: fg_conv_transpose2d_ws)",
           WEIGHT_SOURCE);
  end
  if ((WEIGHT_SOURCE == 0 && WEIGHTS_FILE == "") || BIAS_FILE == "") begin : gen_err_files
    $fatal(1, "fg_conv_transpose2d: BIAS_FILE (and WEIGHTS_FILE with WEIGHT_SOURCE=0) must name $readmemh files");
  end

  // ---------------------------------------------------------------------------------------------------------
  // Memories: biases, the line buffer ring (slot s, column c at s * W + c) and per slot the TLAST flag of a
  // frame's last row (the weight memory is with the execute stage below)
  logic [PO*B_W-1:0] b_rom [NOG];
  logic [PxW-1:0] lb_ram [NR*W];
  logic [NR-1:0] slot_last_q;
  initial begin
    $readmemh(BIAS_FILE, b_rom);
  end

  // ---------------------------------------------------------------------------------------------------------
  // Input side: write pixels into the free slot; a completed row joins the held rows
  logic [ColW-1:0] in_col_d, in_col_q;
  logic [RowW-1:0] in_row_d, in_row_q;
  logic [SlotW-1:0] wr_slot_d, wr_slot_q;
  logic [LbAddrW-1:0] wr_addr_d, wr_addr_q;  // wr_slot_q * W + in_col_q
  logic [HeldW-1:0] held_d, held_q;  // completed rows in the ring, from base_row_q of the output's frame on
  logic seen_last_d, seen_last_q, accept, commit, frame_in_done;
  int release_rows;  // rows the output side frees this cycle

  assign s_axis_tready = int'(held_q) < int'(NR);
  assign accept = s_axis_tvalid && s_axis_tready;
  assign commit = accept && int'(in_col_q) == int'(W) - 1;
  assign frame_in_done = commit && int'(in_row_q) == int'(H) - 1;

  always_comb begin
    in_col_d = in_col_q;
    in_row_d = in_row_q;
    wr_slot_d = wr_slot_q;
    wr_addr_d = wr_addr_q;
    seen_last_d = seen_last_q;
    if (accept) begin
      in_col_d = commit ? '0 : in_col_q + ColW'(1);
      wr_addr_d = (int'(wr_addr_q) == int'(NR * W) - 1) ? '0 : wr_addr_q + LbAddrW'(1);
      seen_last_d = seen_last_q || s_axis_tlast;
    end
    if (commit) begin
      in_row_d = frame_in_done ? '0 : in_row_q + RowW'(1);
      wr_slot_d = (int'(wr_slot_q) == int'(NR) - 1) ? '0 : wr_slot_q + SlotW'(1);
    end
    if (frame_in_done) begin
      seen_last_d = 1'b0;
    end
    held_d = HeldW'(int'(held_q) + int'(commit) - release_rows);
  end

  always_ff @(posedge clk_i) begin
    if (accept) begin
      lb_ram[wr_addr_q] <= s_axis_tdata;
    end
    if (commit) begin
      slot_last_q[wr_slot_q] <= frame_in_done && (seen_last_q || s_axis_tlast);
    end
  end

  // ---------------------------------------------------------------------------------------------------------
  // Issue stage: the output walker (pixel y, x; output group og; tap offsets dmy, dmx; input block ib)
  logic [YW-1:0] y_d, y_q;
  logic [XW-1:0] x_d, x_q;
  logic ry_d, ry_q, rx_d, rx_q;  // phases
  logic [QYW-1:0] qy_d, qy_q;
  logic [QXW-1:0] qx_d, qx_q;
  logic [OgW-1:0] og_d, og_q;
  logic [AddrW-1:0] og_base_d, og_base_q;  // og_q * K * K * NIB: the output group's first ROM word
  logic [TapW-1:0] dmy_d, dmy_q, dmx_d, dmx_q;  // tap index m minus its lowest useful value
  logic [IbW-1:0] ib_d, ib_q;
  logic [RowW-1:0] base_row_d, base_row_q;  // lowest input row of the output's frame still held
  logic [SlotW-1:0] base_slot_d, base_slot_q;  // its slot
  logic [LbAddrW-1:0] lb_addr;
  logic [AddrW-1:0] w_addr;
  logic [SlotW-1:0] last_slot;
  logic no_tap, first, group_done, pixel_done, row_done, frame_done, rows_ready, issue, stall;
  logic w_ready;  // the weight memory can be read (ROM: always; LOADED: once loaded)
  logic ib_last, mx_last, my_last, og_last, x_last, y_last;
  int mlo_y, mhi_y, mlo_x, mhi_x, my, mx, iy, ix, ty, tx, lo_row, hi_row, rd_slot, end_slot;
  int slot_base, ty_off, tx_off;  // rd_slot * W, ty * K * NIB, tx * NIB: muxes over constants, not multipliers

  always_comb begin
    mlo_y = (int'(qy_q) > int'(H) - 1) ? int'(qy_q) - (int'(H) - 1) : 0;
    mhi_y = ry_q ? int'(M1) - 1 : int'(MMax) - 1;
    mhi_y = (mhi_y < int'(qy_q)) ? mhi_y : int'(qy_q);
    mlo_x = (int'(qx_q) > int'(W) - 1) ? int'(qx_q) - (int'(W) - 1) : 0;
    mhi_x = rx_q ? int'(M1) - 1 : int'(MMax) - 1;
    mhi_x = (mhi_x < int'(qx_q)) ? mhi_x : int'(qx_q);
    no_tap = mlo_y > mhi_y || mlo_x > mhi_x;
    hi_row = (int'(qy_q) < int'(H) - 1) ? int'(qy_q) : int'(H) - 1;
    lo_row = (int'(qy_q) - mhi_y < int'(H) - 1) ? int'(qy_q) - mhi_y : int'(H) - 1;

    my = mlo_y + int'(dmy_q);
    mx = mlo_x + int'(dmx_q);
    iy = int'(qy_q) - my;
    ix = int'(qx_q) - mx;
    ty = int'(ry_q) + my * int'(S);
    tx = int'(rx_q) + mx * int'(S);
    rd_slot = int'(base_slot_q) + iy - int'(base_row_q);
    rd_slot = (rd_slot >= int'(NR)) ? rd_slot - int'(NR) : rd_slot;
    end_slot = int'(base_slot_q) + int'(H) - 1 - int'(base_row_q);
    end_slot = (end_slot >= int'(NR)) ? end_slot - int'(NR) : end_slot;
    last_slot = SlotW'(end_slot);
    slot_base = 0;
    for (int i = 1; i < int'(NR); i++) begin
      if (rd_slot == i) begin
        slot_base = i * int'(W);
      end
    end
    ty_off = 0;
    tx_off = 0;
    for (int i = 1; i < int'(K); i++) begin
      if (ty == i) begin
        ty_off = i * int'(K * NIB);
      end
      if (tx == i) begin
        tx_off = i * int'(NIB);
      end
    end
    if (no_tap) begin
      lb_addr = '0;
      w_addr = '0;
    end else begin
      lb_addr = LbAddrW'(slot_base + ix);
      w_addr = AddrW'(int'(og_base_q) + ty_off + tx_off + int'(ib_q));
    end

    ib_last = int'(ib_q) == int'(NIB) - 1;
    mx_last = int'(dmx_q) == mhi_x - mlo_x;
    my_last = int'(dmy_q) == mhi_y - mlo_y;
    og_last = int'(og_q) == int'(NOG) - 1;
    x_last = int'(x_q) == int'(OW) - 1;
    y_last = int'(y_q) == int'(OH) - 1;
    first = no_tap || (ib_q == '0 && dmx_q == '0 && dmy_q == '0);
    group_done = no_tap || (ib_last && mx_last && my_last);
    pixel_done = group_done && og_last;
    row_done = pixel_done && x_last;
    frame_done = row_done && y_last;
    rows_ready = int'(held_q) >= hi_row - int'(base_row_q) + 1;
  end

  // Only the issue waits for the weights: the input side fills the line buffer meanwhile, and once w_ready is
  // high (for good, until the next reset) every cycle is ROM's
  assign issue = rows_ready && !stall && w_ready;

  always_comb begin
    y_d = y_q;
    x_d = x_q;
    ry_d = ry_q;
    rx_d = rx_q;
    qy_d = qy_q;
    qx_d = qx_q;
    og_d = og_q;
    og_base_d = og_base_q;
    dmy_d = dmy_q;
    dmx_d = dmx_q;
    ib_d = ib_q;
    if (issue) begin
      if (!group_done) begin
        if (!ib_last) begin
          ib_d = ib_q + IbW'(1);
        end else begin
          ib_d = '0;
          if (!mx_last) begin
            dmx_d = dmx_q + TapW'(1);
          end else begin
            dmx_d = '0;
            dmy_d = dmy_q + TapW'(1);
          end
        end
      end else begin
        ib_d = '0;
        dmx_d = '0;
        dmy_d = '0;
        og_d = og_last ? '0 : og_q + OgW'(1);
        og_base_d = og_last ? '0 : og_base_q + AddrW'(K * K * NIB);
        if (pixel_done) begin
          if (!x_last) begin
            x_d = x_q + XW'(1);
            rx_d = (S == 2) ? !rx_q : 1'b0;
            qx_d = (S == 1 || rx_q) ? qx_q + QXW'(1) : qx_q;
          end else begin
            x_d = '0;
            rx_d = R0[0];
            qx_d = QXW'(Q0);
          end
        end
        if (row_done) begin
          if (!y_last) begin
            y_d = y_q + YW'(1);
            ry_d = (S == 2) ? !ry_q : 1'b0;
            qy_d = (S == 1 || ry_q) ? qy_q + QYW'(1) : qy_q;
          end else begin
            y_d = '0;
            ry_d = R0[0];
            qy_d = QYW'(Q0);
          end
        end
      end
    end

    // Free the rows below the current row's lowest input row; at a frame's end every row of the frame
    if (issue && frame_done) begin
      release_rows = int'(H) - int'(base_row_q);
      base_row_d = '0;
    end else begin
      release_rows = lo_row - int'(base_row_q);
      base_row_d = RowW'(lo_row);
    end
    base_slot_d = (int'(base_slot_q) + release_rows >= int'(NR))
                ? SlotW'(int'(base_slot_q) + release_rows - int'(NR)) : SlotW'(int'(base_slot_q) + release_rows);
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      in_col_q <= '0;
      in_row_q <= '0;
      wr_slot_q <= '0;
      wr_addr_q <= '0;
      seen_last_q <= 1'b0;
      held_q <= '0;
      y_q <= '0;
      x_q <= '0;
      ry_q <= R0[0];
      rx_q <= R0[0];
      qy_q <= QYW'(Q0);
      qx_q <= QXW'(Q0);
      og_q <= '0;
      og_base_q <= '0;
      dmy_q <= '0;
      dmx_q <= '0;
      ib_q <= '0;
      base_row_q <= '0;
      base_slot_q <= '0;
    end else begin
      in_col_q <= in_col_d;
      in_row_q <= in_row_d;
      wr_slot_q <= wr_slot_d;
      wr_addr_q <= wr_addr_d;
      seen_last_q <= seen_last_d;
      held_q <= held_d;
      y_q <= y_d;
      x_q <= x_d;
      ry_q <= ry_d;
      rx_q <= rx_d;
      qy_q <= qy_d;
      qx_q <= qx_d;
      og_q <= og_d;
      og_base_q <= og_base_d;
      dmy_q <= dmy_d;
      dmx_q <= dmx_d;
      ib_q <= ib_d;
      base_row_q <= base_row_d;
      base_slot_q <= base_slot_d;
    end
  end

  // ---------------------------------------------------------------------------------------------------------
  // Execute stage registers (weight word, bias ROM and line buffer outputs, control), held while stalled
  logic ex_valid_q, ex_first_q, ex_no_tap_q, ex_group_done_q, ex_pixel_done_q, ex_last_q;
  logic [OgW-1:0] ex_og_q;
  logic [IbW-1:0] ex_ib_q;
  logic [P*W_W-1:0] ex_w_q;
  logic [PO*B_W-1:0] ex_b_q;
  logic [PxW-1:0] ex_px_q;
  logic [PI*X_W-1:0] ex_x;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      ex_valid_q <= 1'b0;
    end else if (!stall) begin
      ex_valid_q <= issue;
    end
  end

  always_ff @(posedge clk_i) begin
    if (!stall) begin
      ex_b_q <= b_rom[og_q];
      ex_px_q <= lb_ram[lb_addr];
      ex_ib_q <= ib_q;
      ex_og_q <= og_q;
      ex_first_q <= first;
      ex_no_tap_q <= no_tap;
      ex_group_done_q <= group_done;
      ex_pixel_done_q <= pixel_done;
      ex_last_q <= frame_done && slot_last_q[last_slot];
    end
  end

  // ---------------------------------------------------------------------------------------------------------
  // Weight word into the execute register, from the weight memory (ROM or LOADED, by WEIGHT_SOURCE)
  fg_weight_mem #(
    .WORD_W       (P*W_W),
    .DEPTH        (NWords),
    .WEIGHT_SOURCE(WEIGHT_SOURCE),
    .WEIGHTS_FILE (WEIGHTS_FILE)
  ) u_w (
    .clk_i          (clk_i),
    .rst_ni         (rst_ni),
    .s_axis_w_tdata (s_axis_w_tdata),
    .s_axis_w_tvalid(s_axis_w_tvalid),
    .s_axis_w_tready(s_axis_w_tready),
    .loaded_o       (w_ready),
    .rd_addr_i      (w_addr),
    .rd_en_i        (!stall),
    .rd_data_o      (ex_w_q)
  );

  // A mux over constant slices (a variable part-select would synthesize as a barrel shifter over the pixel)
  always_comb begin
    ex_x = ex_px_q[PI*X_W-1:0];
    for (int i = 1; i < int'(NIB); i++) begin
      if (ex_ib_q == IbW'(i)) begin
        ex_x = ex_px_q[i*PI*X_W +: PI*X_W];
      end
    end
  end

  // ---------------------------------------------------------------------------------------------------------
  // Execute: PO accumulators, each adding PI products per cycle, and their casts
  logic [PO*OUT_W-1:0] res;

  fg_mac_array #(
    .PI        (PI),
    .PO        (PO),
    .X_W       (X_W),
    .X_F       (X_F),
    .X_SIGNED  (X_SIGNED),
    .W_W       (W_W),
    .W_F       (W_F),
    .B_W       (B_W),
    .B_F       (B_F),
    .ACC_W     (ACC_W),
    .ACC_F     (ACC_F),
    .OUT_W     (OUT_W),
    .OUT_F     (OUT_F),
    .OUT_SIGNED(OUT_SIGNED),
    .ROUNDING  (ROUNDING),
    .OVERFLOW  (OVERFLOW),
    .PACK      (PACK),
    .LUT_OUTS  (LUT_OUTS)
  ) u_mac (
    .clk_i  (clk_i),
    .x_i    (ex_x),
    .w_i    (ex_w_q),
    .b_i    (ex_b_q),
    .first_i(ex_first_q),
    .add_i  (!ex_no_tap_q),
    .en_i   (ex_valid_q && !stall),
    .y_o    (res)
  );

  // ---------------------------------------------------------------------------------------------------------
  // Output register: groups of PO results land in place; the last group of a pixel makes the beat valid. A
  // ragged last group's surplus results fall off the top of the beat.
  logic [NOG*PO*OUT_W-1:0] beat_data;
  assign m_axis_tdata = beat_data[C_OUT*OUT_W-1:0];
  if (NOG * PO > C_OUT) begin : gen_unused_lanes
    logic unused_lanes;
    assign unused_lanes = ^beat_data[NOG*PO*OUT_W-1:C_OUT*OUT_W];
  end

  fg_beat_reg #(
    .GROUPS (NOG),
    .GROUP_W(PO*OUT_W)
  ) u_out (
    .clk_i        (clk_i),
    .rst_ni       (rst_ni),
    .write_i      (ex_valid_q && ex_group_done_q),
    .slot_i       (ex_og_q),
    .done_i       (ex_pixel_done_q),
    .last_i       (ex_last_q),
    .group_i      (res),
    .stall_o      (stall),
    .m_axis_tdata (beat_data),
    .m_axis_tlast (m_axis_tlast),
    .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready)
  );

endmodule

`default_nettype wire
