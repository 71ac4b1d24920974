// Test wrapper: one fg_f32_to_fixed per rounding x overflow mode (7 x 4) on the same float, so one build checks
// every mode for one result type. Result of mode (r, o) in lanes r * 4 + o of out_o.

`default_nettype none

module tb_f32_modes #(
  parameter int unsigned OUT_W      = 6,
  parameter int          OUT_F      = 2,
  parameter bit          OUT_SIGNED = 1'b1
) (
  input  logic [31:0]           in_i,
  output logic [28*OUT_W-1:0]   out_o
);

  for (genvar r = 0; r < 7; r++) begin : gen_rounding
    for (genvar o = 0; o < 4; o++) begin : gen_overflow
      fg_f32_to_fixed #(
        .OUT_W     (OUT_W),
        .OUT_F     (OUT_F),
        .OUT_SIGNED(OUT_SIGNED),
        .ROUNDING  (r),
        .OVERFLOW  (o)
      ) u_cast (
        .f32_i (in_i),
        .code_o(out_o[(r*4 + o)*OUT_W +: OUT_W])
      );
    end
  end

endmodule

`default_nettype wire
