// Fixed-point code -> IEEE-754 single (combinational), exact: IN_W <= 24 bits always fit the 24-bit
// significand, and IN_F is limited so the exponent stays normal. Zero gives +0.0.

`default_nettype none

module fg_fixed_to_f32 #(
  parameter int unsigned IN_W      = 16,   // input width (<= 24)
  parameter int          IN_F      = 10,   // input fraction bits (-104..126)
  parameter bit          IN_SIGNED = 1'b1  // input signed (else unsigned)
) (
  input  logic [IN_W-1:0] code_i,
  output logic [31:0]     f32_o
);

  if (IN_W < 1 || IN_W > 24 || IN_F > 126 || IN_F < -104) begin : gen_err_param
    $fatal(1, "fg_fixed_to_f32: IN_W=%0d must be 1..24 and IN_F=%0d in -104..126 for an exact float",
           IN_W, IN_F);
  end

  logic neg;
  logic [24:0] mag, norm;
  logic [4:0] msb;

  always_comb begin
    neg = IN_SIGNED && code_i[IN_W-1];
    mag = neg ? 25'(-$signed({1'b1, code_i})) : 25'({1'b0, code_i});
    msb = '0;
    for (int i = 0; i < 25; i++) begin
      if (mag[i]) begin
        msb = 5'(i);
      end
    end
    norm = mag << (5'd23 - msb);
    if (mag == '0) begin
      f32_o = '0;
    end else begin
      f32_o = {neg, 8'(int'(msb) - IN_F + 127), norm[22:0]};
    end
  end

  logic unused_norm_hi;
  assign unused_norm_hi = ^norm[24:23];

endmodule

`default_nettype wire
