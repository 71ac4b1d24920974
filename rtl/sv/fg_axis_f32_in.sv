// Input adapter of the kernel's AXI-Stream (hls4ml VivadoAccelerator wrapper with float input): one IEEE-754
// single per 32-bit beat, cast to the input fixed-point type exactly as ap_fixed(double) (fg_f32_to_fixed:
// NaN -> 0, Inf as a huge value), LANES beats gathered into one vector beat (lane 0 = first float). The
// vector's TLAST is the OR of its beats' TLASTs.

`default_nettype none

module fg_axis_f32_in #(
  parameter int unsigned LANES      = 16,    // floats per output beat
  parameter int unsigned OUT_W      = 16,    // fixed-point width
  parameter int          OUT_F      = 10,    // fixed-point fraction bits
  parameter bit          OUT_SIGNED = 1'b1,  // fixed-point signed (else unsigned)
  parameter int unsigned ROUNDING   = 0,     // rounding code of the cast (fg_requant)
  parameter int unsigned OVERFLOW   = 0      // overflow code of the cast
) (
  input  logic                   clk_i,
  input  logic                   rst_ni,

  input  logic [31:0]            s_axis_tdata,
  input  logic                   s_axis_tlast,
  input  logic                   s_axis_tvalid,
  output logic                   s_axis_tready,

  output logic [LANES*OUT_W-1:0] m_axis_tdata,
  output logic                   m_axis_tlast,
  output logic                   m_axis_tvalid,
  input  logic                   m_axis_tready
);

  logic [OUT_W-1:0] code;

  fg_f32_to_fixed #(
    .OUT_W     (OUT_W),
    .OUT_F     (OUT_F),
    .OUT_SIGNED(OUT_SIGNED),
    .ROUNDING  (ROUNDING),
    .OVERFLOW  (OVERFLOW)
  ) u_cast (
    .f32_i (s_axis_tdata),
    .code_o(code)
  );

  fg_repack #(
    .LANE_W(OUT_W),
    .N_IN  (1),
    .N_OUT (LANES)
  ) u_gather (
    .clk_i        (clk_i),
    .rst_ni       (rst_ni),
    .s_axis_tdata (code),
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
