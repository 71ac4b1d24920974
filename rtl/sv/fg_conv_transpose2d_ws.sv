// Transposed 2-D convolution stage with streamed weights, weight-stationary: fg_conv_transpose2d's layer (torch
// ConvTranspose2d, stride 1 or 2, square K x K kernel, padding PAD, output_padding OUT_PAD -- negative: an end
// crop --, dilation 1, groups 1) and data streams (pixels of C_IN lanes in, pixels of C_OUT lanes out, raster
// order, channels last, lane 0 in the LSBs, frames back to back), but its weights arrive on a stream while it
// runs, each weight word read once per frame: a layer whose weights do not fit block RAM reads them from DDR.
//
//   acc_o = (bias_o << (ACC_F - B_F)) + sum over (iy, ix, ty, tx, c) of x[iy][ix][c] * w[c][o][ty][tx]
//           where (oy, ox) = (iy * STRIDE - PAD + ty, ix * STRIDE - PAD + tx) lies inside the output
//   y_o   = requant(acc_o)  to OUT_W/OUT_F/OUT_SIGNED with ROUNDING, OVERFLOW  (exact accumulator; fg_requant)
//
// Weight stream (s_axis_w_*, no TLAST): per frame exactly NOG * K * K * NIB words (NIB = C_IN / PI, NOG =
// ceil(C_OUT / PO)) in fpgagen.rtl.memfiles.conv_transpose_words order, fg_conv_transpose2d's ROM order: word
// ((og * K + ty) * K + tx) * NIB + ib holds in lane po * PI + pi the weight w[ib * PI + pi][og * PO + po][ty][tx]
// (0 beyond C_OUT). The driver sends the whole pass again for every frame; words of frame n + 1 may follow those
// of frame n at once.
//
// Structure:
// - Input buffer: two banks of H * W pixels (one RAM of 2 * H * W words of C_IN * X_W bits; frame n in bank
//   n mod 2), so frame n + 1 loads while frame n is computed. s_axis_tready: the bank the next pixel goes to is
//   free (a register, independent of m_axis_tready).
// - Compute, two stages. Issue: for each weight word, in stream order, walk the input pixels (iy, ix) whose output
//   lies inside the output -- a rectangle per tap (ty, tx), row by row -- one pixel per cycle; read the pixel and
//   the accumulator word of its output (oy, ox) and group og; take the word off the stream in the cycle of its
//   first pixel (a word whose rectangle is empty takes one cycle). s_axis_w_tready is high in that cycle (for a
//   frame's first word, once the frame can start), never from s_axis_w_tvalid; it follows m_axis_tready only
//   while a frame's first word waits for its accumulator bank's last zero (which a blocked output beat holds).
//   Execute: PI x PO products of the pixel's input block ib and the word (fg_mac_array's arithmetic, fg_mac_sums:
//   two outputs to a DSP with PACK, the last LUT_OUTS outputs in LUTs), added into the PO accumulators, written
//   back.
// - Accumulators: two banks (a frame computes into one while the other drains), each a RAM of OH * OW * NOG
//   words of PO * ACC_W bits, word (oy * OW + ox) * NOG + og. Exact sums kept on ACC_W bits, wrapping like
//   fg_mac_array; the bias is added at the drain (wrapping addition is associative: identical results).
// - Read-modify-write hazard: each bank keeps its last write (address and data) in a register, and a read
//   whose address equals it takes the register instead of the RAM word. A read can only miss the write made at
//   the clock edge that registers it, and that write is the bank's last one until the reader consumes the word
//   (the execute stage consumes it the next cycle; the drain's held word sees no write to its bank). So the same
//   output pixel may be updated in consecutive cycles (a 1 x 1 input, consecutive input blocks of one tap).
// - Drain, two stages: read bank words in address order (raster order, output groups in turn), add the bias
//   (a $readmemh ROM of NOG words of PO lanes, BIAS_FILE, as fg_conv_transpose2d's), requant (fg_requant), fill
//   the output beat (fg_beat_reg: the ragged group's surplus falls off its top), and write zero back to the word
//   just drained: the bank is clear again for the frame after next.
// The input and accumulator RAMs read synchronously (one read and one write port each): block RAM when large.
//
// Timing rule, frames back to back: the first word of frame n is taken when input bank n mod 2 holds frame n and
// accumulator bank n mod 2 is cleared (the drain of frame n - 2 writes its last zero in that cycle at the
// latest); the drain of frame n starts the cycle after the issue of its last pixel, the drain of frame n - 1
// finished. Compute, drain and input each run without a bubble between frames, so in steady state (weights and
// pixels always valid, output never blocked) a frame takes
//   max(C, D, H * W) = max(C, D) cycles:  C = NOG * NIB * sum over taps (ty, tx) of max(1, ny(ty) * nx(tx)),
//   D = OH * OW * NOG  (one accumulator word per cycle),
// ny(ty) / nx(tx) the input rows / columns whose output row / column of tap ty / tx lies inside the output
// (fpgagen.core.transposed.conv_transpose_ws_cycles). C is the MAC bound (useful MACs / (PI * PO)) but for the
// lanes of a ragged last output group and one cycle per word whose rectangle is empty (small inputs only).
// C >= NOG * NIB * H * W: every input pixel has an output inside (PAD <= K - 1, PAD - OUT_PAD <= K - 1).
// TLAST: the last output beat of a frame carries the OR of that frame's input TLASTs (as fg_conv_transpose2d).

`default_nettype none

module fg_conv_transpose2d_ws #(
  parameter int unsigned H          = 4,     // input rows
  parameter int unsigned W          = 4,     // input columns
  parameter int unsigned C_IN       = 1,     // input channels
  parameter int unsigned C_OUT      = 1,     // output channels
  parameter int unsigned K          = 3,     // kernel size (K x K)
  parameter int unsigned STRIDE     = 2,     // stride, 1 or 2
  parameter int unsigned PAD        = 1,     // torch padding, 0 .. K - 1
  parameter int          OUT_PAD    = 1,     // torch output_padding, PAD - K + 1 .. STRIDE - 1 (< 0: end crop)
  parameter int unsigned PI         = 1,     // input channels per output per cycle, divides C_IN
  parameter int unsigned PO         = 1,     // outputs per cycle, 1 .. C_OUT (PI * PO multipliers)
  parameter int unsigned X_W        = 8,     // input width
  parameter int          X_F        = 4,     // input fraction bits
  parameter bit          X_SIGNED   = 1'b1,  // input signed (else unsigned)
  parameter int unsigned W_W        = 8,     // weight width (signed)
  parameter int          W_F        = 4,     // weight fraction bits
  parameter int unsigned B_W        = 8,     // bias width (signed)
  parameter int          B_F        = 4,     // bias fraction bits
  parameter int unsigned ACC_W      = 24,    // accumulator width (signed)
  parameter int          ACC_F      = 8,     // accumulator fraction bits
  parameter int unsigned OUT_W      = 8,     // result width
  parameter int          OUT_F      = 4,     // result fraction bits
  parameter bit          OUT_SIGNED = 1'b1,  // result signed (else unsigned)
  parameter int unsigned ROUNDING   = 0,     // result rounding code (fg_requant)
  parameter int unsigned OVERFLOW   = 0,     // result overflow code (fg_requant)
  parameter bit          PACK       = 1'b0,  // outputs 2k and 2k + 1 on DSPs share a multiplier (fg_mac_sums)
  parameter int unsigned LUT_OUTS   = 0,     // the last LUT_OUTS outputs multiply in LUTs (fg_mac_sums)
  parameter string       BIAS_FILE  = ""     // $readmemh file: NOG words of PO biases
) (
  input  logic                   clk_i,
  input  logic                   rst_ni,

  input  logic [C_IN*X_W-1:0]    s_axis_tdata,
  input  logic                   s_axis_tlast,
  input  logic                   s_axis_tvalid,
  output logic                   s_axis_tready,

  input  logic [PI*PO*W_W-1:0]   s_axis_w_tdata,
  input  logic                   s_axis_w_tvalid,
  output logic                   s_axis_w_tready,

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
  localparam int unsigned P = PI * PO;  // multipliers
  localparam int unsigned NIB = (PI > 0) ? C_IN / PI : 1;  // input blocks (words) per tap and output group
  localparam int unsigned NOG = (PO > 0) ? (C_OUT + PO - 1) / PO : 1;  // output groups, the last ragged
  localparam int unsigned HW = H * W;  // pixels per input bank
  localparam int unsigned NAcc = OH * OW * NOG;  // words per accumulator bank
  localparam int unsigned PxW = C_IN * X_W;
  localparam int unsigned AccWordW = PO * ACC_W;
  localparam int unsigned OgW = bits(NOG);
  localparam int unsigned TapW = bits(K);
  localparam int unsigned IbW = bits(NIB);
  localparam int unsigned DyW = bits(H);
  localparam int unsigned DxW = bits(W);
  localparam int unsigned InAddrW = bits(2 * HW);
  localparam int unsigned AccAddrW = bits(NAcc);
  localparam int AccShift = ACC_F - X_F - W_F;  // product (X_F + W_F fraction bits) -> accumulator
  localparam int BiasShift = ACC_F - B_F;
  localparam int MulW = int'(X_W) + 1 + int'(W_W);  // signed product of a (sign-extended) input and a weight
  localparam int SumW = MulW + $clog2(PI + 1) + 1;  // exact sum of PI products
  localparam int WA = SumW + ((AccShift > 0) ? AccShift : 0);
  localparam int WB = int'(B_W) + ((BiasShift > 0) ? BiasShift : 0);
  localparam int WideW = (((WA > WB) ? WA : WB) > int'(ACC_W) ? ((WA > WB) ? WA : WB) : int'(ACC_W)) + 1;

  if (STRIDE < 1 || STRIDE > 2 || K < 1 || PAD > K - 1 || OUT_PAD >= int'(STRIDE)
      || int'(PAD) - OUT_PAD > int'(K) - 1) begin : gen_err_geometry
    $fatal(1, "fg_conv_transpose2d_ws: need STRIDE in 1..2, K >= 1, PAD <= K-1, PAD-K+1 <= OUT_PAD < STRIDE (STRIDE=%0d K=%0d PAD=%0d OUT_PAD=%0d)",
           STRIDE, K, PAD, OUT_PAD);
  end
  if (H < 1 || W < 1 || C_IN < 1 || C_OUT < 1 || X_W < 1 || OhI < 1 || OwI < 1) begin : gen_err_size
    $fatal(1, "fg_conv_transpose2d_ws: need H, W, C_IN, C_OUT, X_W >= 1 and a non-empty output (H=%0d W=%0d)", H, W);
  end
  if (PI < 1 || PO < 1 || C_IN % PI != 0 || PO > C_OUT) begin : gen_err_parallel
    $fatal(1, "fg_conv_transpose2d_ws: need PI | C_IN and 1 <= PO <= C_OUT (PI=%0d PO=%0d C_IN=%0d C_OUT=%0d)",
           PI, PO, C_IN, C_OUT);
  end
  if (AccShift < 0 || BiasShift < 0) begin : gen_err_acc
    $fatal(1, "fg_conv_transpose2d_ws: the accumulator must hold products and bias exactly (ACC_F=%0d >= X_F+W_F=%0d and >= B_F=%0d)",
           ACC_F, X_F + W_F, B_F);
  end
  if (BIAS_FILE == "") begin : gen_err_files
    $fatal(1, "fg_conv_transpose2d_ws: BIAS_FILE must name a $readmemh file");
  end

  // First input index i >= 0 of tap t whose output i * S - PAD + t is >= 0
  function automatic int tap_lo(int t);
    return (int'(PAD) > t) ? (int'(PAD) - t + int'(S) - 1) / int'(S) : 0;
  endfunction

  // Inputs i in 0 .. n_in - 1 of tap t whose output lies in 0 .. n_out - 1
  function automatic int tap_count(int t, int n_in, int n_out);
    int hi;
    hi = n_out - 1 + int'(PAD) - t;
    if (hi < 0) begin
      return 0;
    end
    hi = hi / int'(S);
    hi = (hi < n_in - 1) ? hi : n_in - 1;
    return (hi >= tap_lo(t)) ? hi - tap_lo(t) + 1 : 0;
  endfunction

  // First output index of tap t (its first input's)
  function automatic int tap_out0(int t);
    return tap_lo(t) * int'(S) - int'(PAD) + t;
  endfunction

  localparam int InFirst0 = tap_lo(0) * int'(W) + tap_lo(0);  // tap (0, 0)'s first input pixel, bank 0
  localparam int AccFirst0 = (tap_out0(0) * int'(OW) + tap_out0(0)) * int'(NOG);  // its accumulator word

  // ---------------------------------------------------------------------------------------------------------
  // Memories: input banks, accumulator banks (below, per bank), biases
  logic [PxW-1:0] in_ram [2*HW];
  logic [PO*B_W-1:0] b_rom [NOG];
  initial begin
    $readmemh(BIAS_FILE, b_rom);
  end

  // ---------------------------------------------------------------------------------------------------------
  // Input side: pixels into the free bank (address 0 .. 2 * H * W - 1: bank 0, then bank 1)
  logic [InAddrW-1:0] in_waddr_d, in_waddr_q;
  logic in_wbank_d, in_wbank_q, seen_last_d, seen_last_q, accept, frame_in_done;
  logic [1:0] in_full_d, in_full_q, in_last_d, in_last_q;

  assign s_axis_tready = !in_full_q[in_wbank_q];
  assign accept = s_axis_tvalid && s_axis_tready;
  assign frame_in_done = accept && (int'(in_waddr_q) == int'(HW) - 1 || int'(in_waddr_q) == 2 * int'(HW) - 1);

  always_ff @(posedge clk_i) begin
    if (accept) begin
      in_ram[in_waddr_q] <= s_axis_tdata;
    end
  end

  // ---------------------------------------------------------------------------------------------------------
  // Issue stage: the word walker (output group og, tap ty, tx, input block ib) and, per word, the pixel walker
  // (dy, dx within the tap's rectangle) with the input and accumulator addresses of the pixel
  logic cb_d, cb_q;  // bank of the frame being computed
  logic [OgW-1:0] og_d, og_q, og_n;
  logic [TapW-1:0] ty_d, ty_q, ty_n, tx_d, tx_q, tx_n;
  logic [IbW-1:0] ib_d, ib_q, ib_n;
  logic [DyW-1:0] dy_d, dy_q;
  logic [DxW-1:0] dx_d, dx_q;
  logic [InAddrW-1:0] in_addr_d, in_addr_q, in_row_d, in_row_q;
  logic [AccAddrW-1:0] acc_addr_d, acc_addr_q, acc_row_d, acc_row_q;
  logic cb_n, word_start, empty, last_px, row_end, ib_last, tx_last, ty_last, og_last, first_word, last_word;
  logic start_ok, go, mac, frame_end;
  logic [1:0] busy_d, busy_q, done_d, done_q, acc_last_d, acc_last_q, drain_free;
  logic [P*W_W-1:0] w_q;
  int ny, nx, in_y, in_x, acc_y, acc_x;  // muxes over constants, not multipliers

  always_comb begin
    ny = 0;
    nx = 0;
    for (int t = 0; t < int'(K); t++) begin
      if (int'(ty_q) == t) begin
        ny = tap_count(t, int'(H), int'(OH));
      end
      if (int'(tx_q) == t) begin
        nx = tap_count(t, int'(W), int'(OW));
      end
    end
    empty = ny == 0 || nx == 0;
    word_start = dy_q == '0 && dx_q == '0;
    row_end = int'(dx_q) == nx - 1;
    last_px = empty || (row_end && int'(dy_q) == ny - 1);
    ib_last = int'(ib_q) == int'(NIB) - 1;
    tx_last = int'(tx_q) == int'(K) - 1;
    ty_last = int'(ty_q) == int'(K) - 1;
    og_last = int'(og_q) == int'(NOG) - 1;
    first_word = og_q == '0 && ty_q == '0 && tx_q == '0 && ib_q == '0;
    last_word = ib_last && tx_last && ty_last && og_last;

    // the next word's position, bank and first addresses
    ib_n = ib_last ? '0 : ib_q + IbW'(1);
    tx_n = !ib_last ? tx_q : (tx_last ? '0 : tx_q + TapW'(1));
    ty_n = !(ib_last && tx_last) ? ty_q : (ty_last ? '0 : ty_q + TapW'(1));
    og_n = !(ib_last && tx_last && ty_last) ? og_q : (og_last ? '0 : og_q + OgW'(1));
    cb_n = last_word ? !cb_q : cb_q;
    in_y = 0;
    in_x = 0;
    acc_y = 0;
    acc_x = 0;
    for (int t = 0; t < int'(K); t++) begin
      if (int'(ty_n) == t) begin
        in_y = tap_lo(t) * int'(W);
        acc_y = tap_out0(t) * int'(OW * NOG);
      end
      if (int'(tx_n) == t) begin
        in_x = tap_lo(t);
        acc_x = tap_out0(t) * int'(NOG);
      end
    end
  end

  // A frame starts when its input bank is full and its accumulator bank cleared (or being cleared now)
  assign start_ok = in_full_q[cb_q] && (!busy_q[cb_q] || drain_free[cb_q]);
  assign s_axis_w_tready = word_start && (!first_word || start_ok);
  assign go = !word_start || (s_axis_w_tvalid && s_axis_w_tready);
  assign mac = go && !empty;
  assign frame_end = go && last_px && last_word;

  always_comb begin
    cb_d = cb_q;
    og_d = og_q;
    ty_d = ty_q;
    tx_d = tx_q;
    ib_d = ib_q;
    dy_d = dy_q;
    dx_d = dx_q;
    in_addr_d = in_addr_q;
    in_row_d = in_row_q;
    acc_addr_d = acc_addr_q;
    acc_row_d = acc_row_q;
    if (go) begin
      if (last_px) begin
        cb_d = cb_n;
        og_d = og_n;
        ty_d = ty_n;
        tx_d = tx_n;
        ib_d = ib_n;
        dy_d = '0;
        dx_d = '0;
        in_addr_d = InAddrW'((cb_n ? int'(HW) : 0) + in_y + in_x);
        in_row_d = in_addr_d;
        acc_addr_d = AccAddrW'(acc_y + acc_x + int'(og_n));
        acc_row_d = acc_addr_d;
      end else if (row_end) begin
        dy_d = dy_q + DyW'(1);
        dx_d = '0;
        in_addr_d = in_row_q + InAddrW'(W);
        in_row_d = in_addr_d;
        acc_addr_d = acc_row_q + AccAddrW'(S * OW * NOG);
        acc_row_d = acc_addr_d;
      end else begin
        dx_d = dx_q + DxW'(1);
        in_addr_d = in_addr_q + InAddrW'(1);
        acc_addr_d = acc_addr_q + AccAddrW'(S * NOG);
      end
    end
  end

  always_ff @(posedge clk_i) begin
    if (s_axis_w_tvalid && s_axis_w_tready) begin
      w_q <= s_axis_w_tdata;
    end
  end

  // ---------------------------------------------------------------------------------------------------------
  // Execute stage: the pixel (read at issue), its input block, the word; products added to the accumulators
  logic ex_valid_q, ex_bank_q;
  logic [AccAddrW-1:0] ex_addr_q;
  logic [IbW-1:0] ex_ib_q;
  logic [PxW-1:0] in_rd_q;
  logic [PI*X_W-1:0] ex_x;
  logic [AccWordW-1:0] ex_acc, ex_sum;

  always_ff @(posedge clk_i) begin
    if (mac) begin
      in_rd_q <= in_ram[in_addr_q];
    end
    ex_bank_q <= cb_q;
    ex_addr_q <= acc_addr_q;
    ex_ib_q <= ib_q;
  end

  // A mux over constant slices (a variable part-select would synthesize as a barrel shifter over the pixel)
  always_comb begin
    ex_x = in_rd_q[PI*X_W-1:0];
    for (int i = 1; i < int'(NIB); i++) begin
      if (ex_ib_q == IbW'(i)) begin
        ex_x = in_rd_q[i*PI*X_W +: PI*X_W];
      end
    end
  end

  // fg_mac_array's arithmetic (fg_mac_sums: PACK, LUT_OUTS), starting from the accumulator word instead of the bias
  logic [PO*SumW-1:0] ex_sums;

  fg_mac_sums #(
    .PI      (PI),
    .PO      (PO),
    .X_W     (X_W),
    .X_SIGNED(X_SIGNED),
    .W_W     (W_W),
    .SUM_W   (SumW),
    .PACK    (PACK),
    .LUT_OUTS(LUT_OUTS)
  ) u_sums (
    .x_i  (ex_x),
    .w_i  (w_q),
    .sum_o(ex_sums)
  );

  for (genvar po = 0; po < PO; po++) begin : gen_mac
    logic signed [WideW-1:0] term;
    assign term = WideW'($signed(ex_sums[po*SumW +: SumW])) <<< ((AccShift > 0) ? AccShift : 0);
    assign ex_sum[po*ACC_W +: ACC_W] = ex_acc[po*ACC_W +: ACC_W] + term[ACC_W-1:0];

    logic unused_term;
    assign unused_term = ^term[WideW-1:ACC_W];
  end

  // ---------------------------------------------------------------------------------------------------------
  // Drain: read stage (bank, address, output group) and result stage (accumulator word + bias, cast, beat)
  logic d0_bank_d, d0_bank_q, d0_go, d0_end;
  logic [AccAddrW-1:0] d0_addr_d, d0_addr_q;
  logic [OgW-1:0] d0_og_d, d0_og_q;
  logic d1_valid_q, d1_bank_q, d1_done_q, d1_end_q, d1_go, stall;
  logic [AccAddrW-1:0] d1_addr_q;
  logic [OgW-1:0] d1_og_q;
  logic [PO*B_W-1:0] b_rd_q;
  logic [AccWordW-1:0] d1_acc;

  assign d1_go = d1_valid_q && !stall;
  assign d0_go = done_q[d0_bank_q] && (!d1_valid_q || d1_go);
  assign d0_end = int'(d0_addr_q) == int'(NAcc) - 1;

  always_comb begin
    d0_bank_d = d0_bank_q;
    d0_addr_d = d0_addr_q;
    d0_og_d = d0_og_q;
    if (d0_go) begin
      d0_addr_d = d0_end ? '0 : d0_addr_q + AccAddrW'(1);
      d0_bank_d = d0_end ? !d0_bank_q : d0_bank_q;
      d0_og_d = (int'(d0_og_q) == int'(NOG) - 1) ? '0 : d0_og_q + OgW'(1);
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      d1_valid_q <= 1'b0;
    end else if (!d1_valid_q || d1_go) begin
      d1_valid_q <= d0_go;
    end
  end

  always_ff @(posedge clk_i) begin
    if (d0_go) begin
      b_rd_q <= b_rom[d0_og_q];
      d1_bank_q <= d0_bank_q;
      d1_addr_q <= d0_addr_q;
      d1_og_q <= d0_og_q;
      d1_done_q <= int'(d0_og_q) == int'(NOG) - 1;
      d1_end_q <= d0_end;
    end
  end

  // ---------------------------------------------------------------------------------------------------------
  // Accumulator banks: one read port (issue, or the drain's read stage) and one write port (execute, or the
  // drain's zero) each. Compute and drain never share a port in a cycle: a bank is drained only after its
  // frame's last issue, and computed again from the cycle its drain writes its last zero (execute then still
  // writes the other bank). The last write per bank forwards.
  logic [1:0][AccWordW-1:0] rd_word;  // per bank: the read word, the last write merged in

  for (genvar b = 0; b < 2; b++) begin : gen_bank
    logic [AccWordW-1:0] ram [NAcc];
    logic [AccWordW-1:0] rd_q, wdata, lw_data_q;
    logic [AccAddrW-1:0] raddr, rd_addr_q, waddr, lw_addr_q;
    logic c_rd, c_wr, ren, wen, lw_valid_q;

    assign c_rd = mac && cb_q == 1'(b);
    assign ren = c_rd || (d0_go && d0_bank_q == 1'(b));
    assign raddr = c_rd ? acc_addr_q : d0_addr_q;
    assign c_wr = ex_valid_q && ex_bank_q == 1'(b);
    assign wen = c_wr || (d1_go && d1_bank_q == 1'(b));
    assign waddr = c_wr ? ex_addr_q : d1_addr_q;
    assign wdata = c_wr ? ex_sum : '0;

    always_ff @(posedge clk_i) begin
      if (wen) begin
        ram[waddr] <= wdata;
      end
      if (ren) begin
        rd_q <= ram[raddr];
        rd_addr_q <= raddr;
      end
    end

    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        lw_valid_q <= 1'b0;
      end else if (wen) begin
        lw_valid_q <= 1'b1;
      end
    end

    always_ff @(posedge clk_i) begin
      if (wen) begin
        lw_addr_q <= waddr;
        lw_data_q <= wdata;
      end
    end

    assign rd_word[b] = (lw_valid_q && lw_addr_q == rd_addr_q) ? lw_data_q : rd_q;
  end

  assign ex_acc = rd_word[ex_bank_q];
  assign d1_acc = rd_word[d1_bank_q];

  // ---------------------------------------------------------------------------------------------------------
  // Result: accumulator word + bias, cast per lane, into the output beat
  logic [PO*OUT_W-1:0] res;

  for (genvar po = 0; po < PO; po++) begin : gen_res
    logic signed [WideW-1:0] bias;
    logic [ACC_W-1:0] acc;

    assign bias = WideW'($signed(b_rd_q[po*B_W +: B_W])) <<< ((BiasShift > 0) ? BiasShift : 0);
    assign acc = d1_acc[po*ACC_W +: ACC_W] + bias[ACC_W-1:0];

    fg_requant #(
      .IN_W      (ACC_W),
      .IN_F      (ACC_F),
      .IN_SIGNED (1'b1),
      .OUT_W     (OUT_W),
      .OUT_F     (OUT_F),
      .OUT_SIGNED(OUT_SIGNED),
      .ROUNDING  (ROUNDING),
      .OVERFLOW  (OVERFLOW)
    ) u_requant (
      .in_i (acc),
      .out_o(res[po*OUT_W +: OUT_W])
    );

    logic unused_bias;
    assign unused_bias = ^bias[WideW-1:ACC_W];
  end

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
    .write_i      (d1_valid_q),
    .slot_i       (d1_og_q),
    .done_i       (d1_done_q),
    .last_i       (d1_end_q && acc_last_q[d1_bank_q]),
    .group_i      (res),
    .stall_o      (stall),
    .m_axis_tdata (beat_data),
    .m_axis_tlast (m_axis_tlast),
    .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready)
  );

  // ---------------------------------------------------------------------------------------------------------
  // Bank flags: input full (and its TLAST), accumulators busy (a frame started, not yet cleared) and done
  // (computed, not yet read by the drain)
  for (genvar b = 0; b < 2; b++) begin : gen_free
    assign drain_free[b] = d1_go && d1_end_q && d1_bank_q == 1'(b);
  end

  always_comb begin
    in_waddr_d = in_waddr_q;
    in_wbank_d = in_wbank_q;
    seen_last_d = seen_last_q;
    in_full_d = in_full_q;
    in_last_d = in_last_q;
    busy_d = busy_q & ~drain_free;
    done_d = done_q;
    acc_last_d = acc_last_q;
    if (accept) begin
      in_waddr_d = (int'(in_waddr_q) == 2 * int'(HW) - 1) ? '0 : in_waddr_q + InAddrW'(1);
      seen_last_d = seen_last_q || s_axis_tlast;
    end
    if (frame_in_done) begin
      in_wbank_d = !in_wbank_q;
      seen_last_d = 1'b0;
      in_full_d[in_wbank_q] = 1'b1;
      in_last_d[in_wbank_q] = seen_last_q || s_axis_tlast;
    end
    if (go && word_start && first_word) begin
      busy_d[cb_q] = 1'b1;
    end
    if (frame_end) begin
      in_full_d[cb_q] = 1'b0;
      done_d[cb_q] = 1'b1;
      acc_last_d[cb_q] = in_last_q[cb_q];
    end
    if (d0_go && d0_end) begin
      done_d[d0_bank_q] = 1'b0;
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      in_waddr_q <= '0;
      in_wbank_q <= 1'b0;
      seen_last_q <= 1'b0;
      in_full_q <= '0;
      in_last_q <= '0;
      busy_q <= '0;
      done_q <= '0;
      acc_last_q <= '0;
      cb_q <= 1'b0;
      og_q <= '0;
      ty_q <= '0;
      tx_q <= '0;
      ib_q <= '0;
      dy_q <= '0;
      dx_q <= '0;
      in_addr_q <= InAddrW'(InFirst0);
      in_row_q <= InAddrW'(InFirst0);
      acc_addr_q <= AccAddrW'(AccFirst0);
      acc_row_q <= AccAddrW'(AccFirst0);
      ex_valid_q <= 1'b0;
      d0_bank_q <= 1'b0;
      d0_addr_q <= '0;
      d0_og_q <= '0;
    end else begin
      in_waddr_q <= in_waddr_d;
      in_wbank_q <= in_wbank_d;
      seen_last_q <= seen_last_d;
      in_full_q <= in_full_d;
      in_last_q <= in_last_d;
      busy_q <= busy_d;
      done_q <= done_d;
      acc_last_q <= acc_last_d;
      cb_q <= cb_d;
      og_q <= og_d;
      ty_q <= ty_d;
      tx_q <= tx_d;
      ib_q <= ib_d;
      dy_q <= dy_d;
      dx_q <= dx_d;
      in_addr_q <= in_addr_d;
      in_row_q <= in_row_d;
      acc_addr_q <= acc_addr_d;
      acc_row_q <= acc_row_d;
      ex_valid_q <= mac;
      d0_bank_q <= d0_bank_d;
      d0_addr_q <= d0_addr_d;
      d0_og_q <= d0_og_d;
    end
  end

endmodule

`default_nettype wire
