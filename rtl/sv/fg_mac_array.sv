// Execute core of fg_dense and fg_conv_transpose2d: PO accumulators, each adding PI products per cycle, and a
// cast per accumulator. The PO * PI products of a stage are all here (fg_mac_sums): on DSP slices, two outputs to
// a DSP with PACK, or in LUTs for the last LUT_OUTS outputs; the arithmetic is exact and the same in every case.
//
//   acc_d[o] = (first_i ? bias_o << (ACC_F - B_F) : acc_q[o]) + (add_i ? sum_i x_i * w_oi : 0)
//   y_o      = requant(acc_d[o])  to OUT_W/OUT_F/OUT_SIGNED with ROUNDING, OVERFLOW  (codes: see fg_requant)
//
// Inputs are sign-extended (X_SIGNED = 0: zero-extended) before the multiply; weights and biases are signed.
// Products carry X_F + W_F fraction bits and are shifted to the accumulator's ACC_F, so the sum is exact when
// ACC_W is wide enough; otherwise it keeps ACC_W bits and wraps (hls4ml with a WRAP accumulator). acc_q takes
// acc_d on a clock edge with en_i high and holds otherwise (no reset: first_i loads it). y_o is the cast of
// acc_d, so a result is ready in the cycle of its last block, combinationally from the inputs and acc_q.
// Lane layout: x_i lane pi, w_i lane po * PI + pi (the weight of input pi for output po), b_i and y_o lane po.

`default_nettype none

module fg_mac_array #(
  parameter int unsigned PI         = 1,     // inputs per output per cycle
  parameter int unsigned PO         = 1,     // outputs (accumulators) per cycle
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
  parameter int unsigned LUT_OUTS   = 0      // the last LUT_OUTS outputs multiply in LUTs (fg_mac_sums)
) (
  input  logic                  clk_i,

  input  logic [PI*X_W-1:0]     x_i,      // one input block
  input  logic [PO*PI*W_W-1:0]  w_i,      // its weights for the PO outputs
  input  logic [PO*B_W-1:0]     b_i,      // the PO biases, loaded when first_i
  input  logic                  first_i,  // first block: start from the bias, not from acc_q
  input  logic                  add_i,    // add the products (low: the bias or acc_q alone)
  input  logic                  en_i,     // acc_q <= acc_d
  output logic [PO*OUT_W-1:0]   y_o       // requant(acc_d) per output
);

  localparam int AccShift = ACC_F - X_F - W_F;  // product (X_F + W_F fraction bits) -> accumulator
  localparam int BiasShift = ACC_F - B_F;
  localparam int MulW = int'(X_W) + 1 + int'(W_W);  // signed product of a (sign-extended) input and a weight
  localparam int SumW = MulW + $clog2(PI + 1) + 1;  // exact sum of PI products
  localparam int WA = SumW + ((AccShift > 0) ? AccShift : 0);
  localparam int WB = int'(B_W) + ((BiasShift > 0) ? BiasShift : 0);
  localparam int WideW = (((WA > WB) ? WA : WB) > int'(ACC_W) ? ((WA > WB) ? WA : WB) : int'(ACC_W)) + 1;

  if (PI < 1 || PO < 1 || X_W < 1) begin : gen_err_size
    $fatal(1, "fg_mac_array: need PI, PO, X_W >= 1 (PI=%0d PO=%0d X_W=%0d)", PI, PO, X_W);
  end
  if (LUT_OUTS > PO) begin : gen_err_lut
    $fatal(1, "fg_mac_array: LUT_OUTS=%0d outputs in LUTs, but only PO=%0d outputs", LUT_OUTS, PO);
  end
  if (AccShift < 0 || BiasShift < 0) begin : gen_err_acc
    $fatal(1, "fg_mac_array: the accumulator must hold products and bias exactly (ACC_F=%0d >= X_F+W_F=%0d and >= B_F=%0d)",
           ACC_F, X_F + W_F, B_F);
  end

  logic [ACC_W-1:0] acc_d [PO];
  logic [ACC_W-1:0] acc_q [PO];
  logic [PO*SumW-1:0] sums;

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
    .x_i  (x_i),
    .w_i  (w_i),
    .sum_o(sums)
  );

  for (genvar po = 0; po < PO; po++) begin : gen_out
    logic signed [SumW-1:0] sum;
    logic signed [WideW-1:0] term, bias;

    always_comb begin
      sum = $signed(sums[po*SumW +: SumW]);
      term = add_i ? WideW'(sum) <<< ((AccShift > 0) ? AccShift : 0) : '0;
      bias = WideW'($signed(b_i[po*B_W +: B_W])) <<< ((BiasShift > 0) ? BiasShift : 0);
      acc_d[po] = (first_i ? bias[ACC_W-1:0] : acc_q[po]) + term[ACC_W-1:0];
    end

    always_ff @(posedge clk_i) begin
      if (en_i) begin
        acc_q[po] <= acc_d[po];
      end
    end

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
      .in_i (acc_d[po]),
      .out_o(y_o[po*OUT_W +: OUT_W])
    );

    logic unused_wide;
    assign unused_wide = ^{term[WideW-1:ACC_W], bias[WideW-1:ACC_W]};
  end

endmodule

`default_nettype wire
