// Test wrapper: one fg_requant per rounding x overflow mode (7 x 4) on the same input, so one build checks
// every mode for a pair of types. Result of mode (r, o) in lanes r * 4 + o of out_o.

`default_nettype none

module tb_requant_modes #(
  parameter int unsigned IN_W       = 12,
  parameter int          IN_F       = 6,
  parameter bit          IN_SIGNED  = 1'b1,
  parameter int unsigned OUT_W      = 6,
  parameter int          OUT_F      = 2,
  parameter bit          OUT_SIGNED = 1'b1
) (
  input  logic [IN_W-1:0]       in_i,
  output logic [28*OUT_W-1:0]   out_o
);

  for (genvar r = 0; r < 7; r++) begin : gen_rounding
    for (genvar o = 0; o < 4; o++) begin : gen_overflow
      fg_requant #(
        .IN_W      (IN_W),
        .IN_F      (IN_F),
        .IN_SIGNED (IN_SIGNED),
        .OUT_W     (OUT_W),
        .OUT_F     (OUT_F),
        .OUT_SIGNED(OUT_SIGNED),
        .ROUNDING  (r),
        .OVERFLOW  (o)
      ) u_requant (
        .in_i (in_i),
        .out_o(out_o[(r*4 + o)*OUT_W +: OUT_W])
      );
    end
  end

endmodule

`default_nettype wire
