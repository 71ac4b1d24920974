// IEEE-754 single -> fixed-point code, exactly as FixedType.from_float / ap_fixed(double) (combinational):
// the exact value x * 2^OUT_F is rounded by ROUNDING, then fitted to OUT_W bits by OVERFLOW (codes:
// fg_requant). Denormals and signed zeros are exact values like any other.
// Defined here (ap_fixed leaves it undefined): NaN -> 0; +-Inf -> as a huge finite value of that sign (SAT and
// SAT_SYM clip, SAT_ZERO gives 0). As from_float, |x * 2^OUT_F| >= 2^62 is first clipped to +-2^62, so WRAP
// gives 0 there.

`default_nettype none

module fg_f32_to_fixed #(
  parameter int unsigned OUT_W      = 16,    // result width
  parameter int          OUT_F      = 10,    // result fraction bits
  parameter bit          OUT_SIGNED = 1'b1,  // result signed (else unsigned)
  parameter int unsigned ROUNDING   = 0,     // rounding code
  parameter int unsigned OVERFLOW   = 0      // overflow code
) (
  input  logic [31:0]      f32_i,
  output logic [OUT_W-1:0] code_o
);

  if (OUT_F > 100 || OUT_F < -100) begin : gen_err_frac
    $fatal(1, "fg_f32_to_fixed: OUT_F=%0d outside -100..100", OUT_F);
  end

  localparam int RW = 28;  // signed working width of the right-shift path (|mantissa| < 2^24)

  logic sign, nan, inf, normal;
  logic [7:0] exp_field;
  logic [23:0] mant;
  int sh;  // value * 2^OUT_F = mant * 2^sh
  logic signed [63:0] code;

  assign sign = f32_i[31];
  assign exp_field = f32_i[30:23];
  assign normal = exp_field != 8'd0;
  assign nan = exp_field == 8'hff && f32_i[22:0] != '0;
  assign inf = exp_field == 8'hff && f32_i[22:0] == '0;
  assign mant = {normal, f32_i[22:0]};

  logic signed [RW-1:0] sm, floor_v;
  logic [RW-1:0] rem, half;
  logic [4:0] dn;  // right shift, clamped to 26 (beyond it every mode rounds alike)
  logic up, tie, neg, inc;

  always_comb begin
    sh = (normal ? int'(exp_field) : 1) - 150 + OUT_F;
    dn = (sh <= -26) ? 5'd26 : ((sh < 0) ? 5'(-sh) : 5'd0);
    sm = sign ? -RW'(mant) : RW'(mant);
    neg = sign && (mant != '0);
    floor_v = sm >>> dn;
    rem = RW'(sm - (floor_v <<< dn));
    half = (dn == 5'd0) ? '0 : (RW'(1) << (dn - 5'd1));
    up = rem > half;
    tie = (dn != 5'd0) && (rem == half);
    unique case (ROUNDING)
      0:       inc = 1'b0;
      1:       inc = neg && (rem != '0);
      2:       inc = up || tie;
      3:       inc = up || (tie && neg);
      4:       inc = up;
      5:       inc = up || (tie && !neg);
      default: inc = up || (tie && floor_v[0]);
    endcase
    if (nan || mant == '0) begin
      code = '0;
    end else if (inf || sh >= 39) begin
      code = sign ? -(64'sd1 <<< 62) : (64'sd1 <<< 62);
    end else if (sh >= 0) begin
      code = sign ? -(64'(mant) << sh) : 64'(mant) << sh;
    end else begin
      code = 64'(floor_v) + 64'(inc);
    end
  end

  fg_requant #(
    .IN_W      (64),
    .IN_F      (0),
    .IN_SIGNED (1'b1),
    .OUT_W     (OUT_W),
    .OUT_F     (0),
    .OUT_SIGNED(OUT_SIGNED),
    .ROUNDING  (0),
    .OVERFLOW  (OVERFLOW)
  ) u_fit (
    .in_i (code),
    .out_o(code_o)
  );

endmodule

`default_nettype wire
