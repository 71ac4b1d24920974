// Leaky ReLU on every lane (hls4ml nnet::leaky_relu): y = x > 0 ? cast(x) : cast(ALPHA * x), ALPHA a code of
// the parameter type (PARAM_W, PARAM_F, signed) and the product exact (IN_F + PARAM_F fraction bits); casts to
// OUT_W/OUT_F/OUT_SIGNED with ROUNDING and OVERFLOW (codes: fg_requant). One beat per cycle, TLAST kept.

`default_nettype none

module fg_leaky_relu #(
  parameter int unsigned LANES      = 1,     // lanes per beat (channels)
  parameter int unsigned IN_W       = 16,    // input width
  parameter int          IN_F       = 8,     // input fraction bits
  parameter bit          IN_SIGNED  = 1'b1,  // input signed (else unsigned)
  parameter int unsigned PARAM_W    = 16,    // width of the slope's type (signed)
  parameter int          PARAM_F    = 10,    // fraction bits of the slope's type
  parameter int          ALPHA      = 204,   // slope code (0.2 at 10 fraction bits, TRN = 204)
  parameter int unsigned OUT_W      = 16,    // result width
  parameter int          OUT_F      = 8,     // result fraction bits
  parameter bit          OUT_SIGNED = 1'b1,  // result signed (else unsigned)
  parameter int unsigned ROUNDING   = 0,     // rounding code
  parameter int unsigned OVERFLOW   = 0      // overflow code
) (
  input  logic                   clk_i,
  input  logic                   rst_ni,

  input  logic [LANES*IN_W-1:0]  s_axis_tdata,
  input  logic                   s_axis_tlast,
  input  logic                   s_axis_tvalid,
  output logic                   s_axis_tready,

  output logic [LANES*OUT_W-1:0] m_axis_tdata,
  output logic                   m_axis_tlast,
  output logic                   m_axis_tvalid,
  input  logic                   m_axis_tready
);

  localparam int unsigned ProdW = IN_W + 1 + PARAM_W;
  localparam logic signed [PARAM_W-1:0] Alpha = PARAM_W'(ALPHA);
  localparam logic [PARAM_W-1:0] AlphaMag = PARAM_W'((ALPHA < 0) ? -ALPHA : ALPHA);  // |ALPHA|

  if (PARAM_W < 2 || PARAM_W > 32 || ALPHA != int'($signed(Alpha))) begin : gen_err_alpha
    $fatal(1, "fg_leaky_relu: ALPHA=%0d is not a code of a signed %0d-bit type", ALPHA, PARAM_W);
  end

  logic [LANES*OUT_W-1:0] result;

  for (genvar l = 0; l < LANES; l++) begin : gen_lane
    logic [IN_W-1:0] x;
    logic signed [ProdW-1:0] x_ext, prod_mag, prod;
    logic [OUT_W-1:0] cast_x, cast_prod;
    logic positive;

    assign x = s_axis_tdata[l*IN_W +: IN_W];
    assign positive = (x != '0) && !(IN_SIGNED && x[IN_W-1]);
    assign x_ext = ProdW'($signed({IN_SIGNED && x[IN_W-1], x}));
    // x * ALPHA as shifts and adds of the constant's bits: a multiplier per lane would take a DSP slice each
    always_comb begin
      prod_mag = '0;
      for (int k = 0; k < PARAM_W; k++) begin
        if (AlphaMag[k]) begin
          prod_mag = prod_mag + (x_ext <<< k);
        end
      end
      prod = (ALPHA < 0) ? -prod_mag : prod_mag;
    end

    fg_requant #(
      .IN_W      (IN_W),
      .IN_F      (IN_F),
      .IN_SIGNED (IN_SIGNED),
      .OUT_W     (OUT_W),
      .OUT_F     (OUT_F),
      .OUT_SIGNED(OUT_SIGNED),
      .ROUNDING  (ROUNDING),
      .OVERFLOW  (OVERFLOW)
    ) u_cast_x (
      .in_i (x),
      .out_o(cast_x)
    );

    fg_requant #(
      .IN_W      (ProdW),
      .IN_F      (IN_F + PARAM_F),
      .IN_SIGNED (1'b1),
      .OUT_W     (OUT_W),
      .OUT_F     (OUT_F),
      .OUT_SIGNED(OUT_SIGNED),
      .ROUNDING  (ROUNDING),
      .OVERFLOW  (OVERFLOW)
    ) u_cast_prod (
      .in_i (prod),
      .out_o(cast_prod)
    );

    assign result[l*OUT_W +: OUT_W] = positive ? cast_x : cast_prod;
  end

  fg_axis_reg #(
    .DATA_W(LANES * OUT_W)
  ) u_reg (
    .clk_i        (clk_i),
    .rst_ni       (rst_ni),
    .s_axis_tdata (result),
    .s_axis_tlast (s_axis_tlast),
    .s_axis_tvalid(s_axis_tvalid),
    .s_axis_tready(s_axis_tready),
    .m_axis_tdata (m_axis_tdata),
    .m_axis_tlast (m_axis_tlast),
    .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready)
  );

endmodule

`default_nettype wire
