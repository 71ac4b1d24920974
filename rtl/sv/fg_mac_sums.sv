// The multipliers of a MAC array: PO exact sums of PI products each, sum_o[po] = sum_pi x_pi * w_(po*PI + pi),
// the arithmetic fg_mac_array and fg_conv_transpose2d_ws share. Inputs are sign-extended (X_SIGNED = 0:
// zero-extended); weights are signed. Lane layout: x_i lane pi, w_i lane po * PI + pi, sum_o lane po.
//
// Where each product is computed (exact in every case; only the mapping onto the fabric differs):
// - LUT_OUTS: the last LUT_OUTS outputs (po >= PO - LUT_OUTS) multiply in LUTs: radix-4 Booth, ceil(W_W / 2)
//   rows of 0, +-x or +-2x (a negative row as its complement plus one) added on S bits. No `*`, so yosys cannot put
//   them on a DSP slice; (* use_dsp = "no" *) tells Vivado the same. (Booth took 18% fewer LUTs than one row per
//   weight bit in yosys at 9 x 7 bits, 37% at 9 x 4.)
// - The other PO - LUT_OUTS outputs multiply with `*`: one DSP slice per product. With PACK, outputs 2k and
//   2k + 1 (both on DSPs) share one multiplier per input lane, x times the packed weight
//     w_pack = w_lo + w_hi * 2**S   (w_lo = w_(2k, pi), w_hi = w_(2k+1, pi)),
//   S = X_W + W_W the exact width of one product, so P = x * w_pack = x * w_lo + (x * w_hi) * 2**S and
//     lo = sign-extend(P[S-1:0]),   hi = P[2S-1:S] + P[S-1]  (mod 2**S)
//   (the borrow a negative low product takes from the high one is given back: Xilinx WP487; FINN's RTL MVU;
//   Sommer et al., DSP-Packing, FPL 2022). x is the narrow operand (X_W + !X_SIGNED bits, the B port: <= 18),
//   w_pack the wide one (S + W_W + 1 bits, the A/pre-adder port: <= 25 on DSP48E1, <= 27 on DSP48E2); whether
//   a pair fits one DSP is decided in Python (fpgagen.core.multipliers.can_pack). An odd last DSP output stays
//   unpacked.

`default_nettype none

module fg_mac_sums #(
  parameter int unsigned PI       = 1,     // inputs per output
  parameter int unsigned PO       = 1,     // outputs
  parameter int unsigned X_W      = 8,     // input width
  parameter bit          X_SIGNED = 1'b1,  // input signed (else unsigned)
  parameter int unsigned W_W      = 8,     // weight width (signed)
  parameter int unsigned SUM_W    = 20,    // width of a sum (signed), at least X_W + W_W + $clog2(PI)
  parameter bit          PACK     = 1'b0,  // two outputs on DSPs share one multiplier per input (above)
  parameter int unsigned LUT_OUTS = 0      // the last LUT_OUTS outputs multiply in LUTs
) (
  input  logic [PI*X_W-1:0]    x_i,    // one input block
  input  logic [PO*PI*W_W-1:0] w_i,    // its weights for the PO outputs
  output logic [PO*SUM_W-1:0]  sum_o   // the PO sums of PI products
);

  localparam int unsigned S = X_W + W_W;  // exact width of one product (signed)
  localparam int unsigned XOpW = X_SIGNED ? X_W : X_W + 1;  // x as a signed operand
  localparam int unsigned PackW = S + W_W + 1;  // w_lo + w_hi * 2**S
  localparam int unsigned PairW = XOpW + PackW;  // x * w_pack
  localparam int unsigned NDsp = PO - LUT_OUTS;  // outputs on DSPs
  localparam int unsigned NPairs = PACK ? NDsp / 2 : 0;  // packed pairs: outputs 0 .. 2 * NPairs - 1

  if (PI < 1 || PO < 1 || X_W < 1 || W_W < 1) begin : gen_err_size
    $fatal(1, "fg_mac_sums: need PI, PO, X_W, W_W >= 1 (PI=%0d PO=%0d X_W=%0d W_W=%0d)", PI, PO, X_W, W_W);
  end
  if (LUT_OUTS > PO) begin : gen_err_lut
    $fatal(1, "fg_mac_sums: LUT_OUTS=%0d outputs in LUTs, but only PO=%0d outputs", LUT_OUTS, PO);
  end
  if (SUM_W < S + $clog2(PI)) begin : gen_err_sum
    $fatal(1, "fg_mac_sums: SUM_W=%0d cannot hold a sum of PI=%0d products of %0d bits", SUM_W, PI, S);
  end

  logic signed [XOpW-1:0] x_op [PI];
  logic signed [S-1:0] prod [PO][PI];

  for (genvar pi = 0; pi < PI; pi++) begin : gen_x
    assign x_op[pi] = XOpW'($signed({X_SIGNED && x_i[pi*X_W + X_W - 1], x_i[pi*X_W +: X_W]}));
  end

  for (genvar po = 0; po < PO; po++) begin : gen_out
    for (genvar pi = 0; pi < PI; pi++) begin : gen_in
      if (po >= NDsp) begin : gen_lut
        // radix-4 Booth: digits d_k = -2 w[2k+1] + w[2k] + w[2k-1] in -2 .. 2, x * w = sum_k d_k * x * 4**k
        localparam int unsigned NRows = (W_W + 1) / 2;
        logic signed [W_W:0] wz;  // w[-1] = 0, then w
        logic [2*NRows:0] wb;  // wz sign-extended to the last row's top bit
        (* use_dsp = "no" *) logic [S-1:0] rows [NRows];
        (* use_dsp = "no" *) logic [S-1:0] acc;
        assign wz = {w_i[(po*PI + pi)*W_W +: W_W], 1'b0};
        assign wb = (2*NRows + 1)'(wz);
        for (genvar k = 0; k < NRows; k++) begin : gen_row
          logic b0, b1, b2, neg;
          logic [S-1:0] mag;
          assign b0 = wb[2*k];
          assign b1 = wb[2*k + 1];
          assign b2 = wb[2*k + 2];
          assign neg = b2 && !(b1 && b0);
          assign mag = (b1 ^ b0) ? S'(x_op[pi]) : ((b2 != b1) ? S'(x_op[pi]) << 1 : '0);
          assign rows[k] = ((neg ? ~mag : mag) + S'(neg)) << (2*k);
        end
        always_comb begin
          acc = '0;
          for (int k = 0; k < int'(NRows); k++) begin
            acc = acc + rows[k];
          end
        end
        assign prod[po][pi] = acc;
      end else if (po < 2 * NPairs) begin : gen_packed
        if (po % 2 == 0) begin : gen_pair  // one multiplier for outputs po and po + 1
          logic signed [W_W-1:0] w_lo, w_hi;
          logic signed [PackW-1:0] w_pack;
          logic signed [PairW-1:0] p;
          assign w_lo = $signed(w_i[(po*PI + pi)*W_W +: W_W]);
          assign w_hi = $signed(w_i[((po + 1)*PI + pi)*W_W +: W_W]);
          assign w_pack = (PackW'(w_hi) <<< S) + PackW'(w_lo);
          assign p = x_op[pi] * w_pack;
          assign prod[po][pi] = p[S-1:0];
          assign prod[po + 1][pi] = p[2*S-1:S] + S'(p[S-1]);

          logic unused_p;
          assign unused_p = ^p[PairW-1:2*S];
        end
      end else begin : gen_dsp
        logic signed [W_W-1:0] w;
        assign w = $signed(w_i[(po*PI + pi)*W_W +: W_W]);
        assign prod[po][pi] = x_op[pi] * w;
      end
    end

    logic [SUM_W-1:0] sum;
    always_comb begin
      sum = '0;
      for (int pi = 0; pi < PI; pi++) begin
        sum = sum + SUM_W'(prod[po][pi]);
      end
    end
    assign sum_o[po*SUM_W +: SUM_W] = sum;
  end

endmodule

`default_nettype wire
