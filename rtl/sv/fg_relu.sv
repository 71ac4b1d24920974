// ReLU on every lane of a beat (hls4ml nnet::relu): y = x > 0 ? cast(x) : 0, the cast to
// OUT_W/OUT_F/OUT_SIGNED with ROUNDING and OVERFLOW (codes: fg_requant). One beat per cycle, TLAST kept.

`default_nettype none

module fg_relu #(
  parameter int unsigned LANES      = 1,     // lanes per beat (channels)
  parameter int unsigned IN_W       = 16,    // input width
  parameter int          IN_F       = 8,     // input fraction bits
  parameter bit          IN_SIGNED  = 1'b1,  // input signed (else unsigned)
  parameter int unsigned OUT_W      = 8,     // result width
  parameter int          OUT_F      = 4,     // result fraction bits
  parameter bit          OUT_SIGNED = 1'b0,  // result signed (else unsigned)
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

  logic [LANES*OUT_W-1:0] result;

  for (genvar l = 0; l < LANES; l++) begin : gen_lane
    logic [IN_W-1:0] x;
    logic [OUT_W-1:0] cast;
    logic positive;

    assign x = s_axis_tdata[l*IN_W +: IN_W];
    assign positive = (x != '0) && !(IN_SIGNED && x[IN_W-1]);

    fg_requant #(
      .IN_W      (IN_W),
      .IN_F      (IN_F),
      .IN_SIGNED (IN_SIGNED),
      .OUT_W     (OUT_W),
      .OUT_F     (OUT_F),
      .OUT_SIGNED(OUT_SIGNED),
      .ROUNDING  (ROUNDING),
      .OVERFLOW  (OVERFLOW)
    ) u_cast (
      .in_i (x),
      .out_o(cast)
    );

    assign result[l*OUT_W +: OUT_W] = positive ? cast : '0;
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
