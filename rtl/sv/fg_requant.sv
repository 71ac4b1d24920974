// Fixed-point cast, bit-exact with fpgagen.hls.fixed.FixedType.requantize (and so with ap_fixed assignment):
// the dropped fraction bits are rounded by ROUNDING, then the kept value is fitted to OUT_W bits by OVERFLOW.
// Purely combinational.
//
// Rounding codes (ROUNDING): 0 TRN (floor), 1 TRN_ZERO, 2 RND (half up), 3 RND_ZERO, 4 RND_MIN_INF,
//                             5 RND_INF, 6 RND_CONV (half to even).
// Overflow codes (OVERFLOW): 0 WRAP, 1 SAT, 2 SAT_ZERO, 3 SAT_SYM (clip to [-max, max]; the most negative
//                             code itself becomes -max).
// Python: fpgagen.rtl.params.type_params(t, "OUT", cast=True).

`default_nettype none

module fg_requant #(
  parameter int unsigned IN_W       = 16,  // input width
  parameter int          IN_F       = 8,   // input fraction bits (may be negative)
  parameter bit          IN_SIGNED  = 1'b1,  // input is two's complement (else unsigned)
  parameter int unsigned OUT_W      = 8,   // result width
  parameter int          OUT_F      = 4,   // result fraction bits (may be negative)
  parameter bit          OUT_SIGNED = 1'b1,  // result is two's complement (else unsigned)
  parameter int unsigned ROUNDING   = 0,   // rounding mode code, see above
  parameter int unsigned OVERFLOW   = 0    // overflow mode code, see above
) (
  input  logic [IN_W-1:0]  in_i,
  output logic [OUT_W-1:0] out_o
);

  localparam int Shift = IN_F - OUT_F;  // > 0: drop fraction bits; <= 0: append zeros
  localparam int ExtW = int'(IN_W) + 1;  // input as signed
  localparam int Up = (Shift < 0) ? -Shift : 0;
  localparam int Dn = (Shift > 0) ? Shift : 0;
  localparam int TA = ExtW + Up;
  localparam int TB = int'(OUT_W) + 2;
  localparam int TC = Dn + 2;
  localparam int TMax = (TA > TB) ? ((TA > TC) ? TA : TC) : ((TB > TC) ? TB : TC);
  localparam int T = TMax + 1;  // working width, holds every intermediate signed value

  localparam logic signed [T-1:0] Hi = OUT_SIGNED ? ((T'(1) <<< (OUT_W - 1)) - T'(1))
                                                  : ((T'(1) <<< OUT_W) - T'(1));
  localparam logic signed [T-1:0] Lo = OUT_SIGNED ? -(T'(1) <<< (OUT_W - 1)) : '0;
  localparam logic signed [T-1:0] SymLo = OUT_SIGNED ? -Hi : '0;

  if (IN_W < 1 || OUT_W < 1 || OUT_W > 48) begin : gen_err_width
    $fatal(1, "fg_requant: widths must be IN_W >= 1 and 1 <= OUT_W <= 48 (IN_W=%0d OUT_W=%0d)", IN_W, OUT_W);
  end
  if (ROUNDING > 6) begin : gen_err_rounding
    $fatal(1, "fg_requant: ROUNDING=%0d is not a rounding code (0..6)", ROUNDING);
  end
  if (OVERFLOW > 3) begin : gen_err_overflow
    $fatal(1, "fg_requant: OVERFLOW=%0d is not an overflow code (0..3)", OVERFLOW);
  end

  logic signed [T-1:0] value;  // input, sign- or zero-extended
  logic signed [T-1:0] rounded;  // at OUT_F fraction bits, before overflow handling

  always_comb begin
    if (IN_SIGNED) begin
      value = T'($signed(in_i));
    end else begin
      value = T'($signed({1'b0, in_i}));
    end
  end

  if (Shift <= 0) begin : gen_shift_up
    assign rounded = value <<< Up;
  end else begin : gen_shift_down
    localparam logic [T-1:0] RemMask = (T'(1) << Dn) - T'(1);
    localparam logic [T-1:0] Half = T'(1) << (Dn - 1);
    logic signed [T-1:0] floor_v;
    logic [T-1:0] rem;
    logic up, tie, neg, inc;

    always_comb begin
      floor_v = value >>> Dn;
      rem = value & RemMask;
      up = rem > Half;
      tie = rem == Half;
      neg = value[T-1];
      unique case (ROUNDING)
        0:       inc = 1'b0;                             // TRN
        1:       inc = neg && (rem != '0);               // TRN_ZERO
        2:       inc = up || tie;                        // RND
        3:       inc = up || (tie && neg);               // RND_ZERO
        4:       inc = up;                               // RND_MIN_INF
        5:       inc = up || (tie && !neg);              // RND_INF
        default: inc = up || (tie && floor_v[0]);        // RND_CONV
      endcase
    end
    assign rounded = floor_v + T'(inc);
  end

  logic signed [T-1:0] fitted;
  always_comb begin
    fitted = rounded;
    unique case (OVERFLOW)
      0: begin  // WRAP: keep the low OUT_W bits
        fitted = rounded;
      end
      1: begin  // SAT
        if (rounded > Hi) fitted = Hi;
        else if (rounded < Lo) fitted = Lo;
      end
      2: begin  // SAT_ZERO
        if (rounded > Hi || rounded < Lo) fitted = '0;
      end
      default: begin  // SAT_SYM
        if (rounded > Hi) fitted = Hi;
        else if (rounded < SymLo) fitted = SymLo;
      end
    endcase
  end

  assign out_o = fitted[OUT_W-1:0];

  logic unused_fitted_hi;
  assign unused_fitted_hi = ^fitted[T-1:OUT_W];

endmodule

`default_nettype wire
