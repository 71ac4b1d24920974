// Output adapter of the kernel's AXI-Stream (hls4ml VivadoAccelerator wrapper with float output): each pixel
// beat of LANES fixed-point lanes is sent as LANES beats of one IEEE-754 single (lane 0 first), converted
// exactly (fg_fixed_to_f32, IN_W <= 24). TLAST on the last of them when the pixel beat had TLAST.

`default_nettype none

module fg_axis_f32_out #(
  parameter int unsigned LANES     = 1,    // lanes per input beat
  parameter int unsigned IN_W      = 16,   // fixed-point width (<= 24)
  parameter int          IN_F      = 10,   // fixed-point fraction bits
  parameter bit          IN_SIGNED = 1'b1  // fixed-point signed (else unsigned)
) (
  input  logic                  clk_i,
  input  logic                  rst_ni,

  input  logic [LANES*IN_W-1:0] s_axis_tdata,
  input  logic                  s_axis_tlast,
  input  logic                  s_axis_tvalid,
  output logic                  s_axis_tready,

  output logic [31:0]           m_axis_tdata,
  output logic                  m_axis_tlast,
  output logic                  m_axis_tvalid,
  input  logic                  m_axis_tready
);

  logic [IN_W-1:0] code;

  fg_repack #(
    .LANE_W(IN_W),
    .N_IN  (LANES),
    .N_OUT (1)
  ) u_split (
    .clk_i        (clk_i),
    .rst_ni       (rst_ni),
    .s_axis_tdata (s_axis_tdata),
    .s_axis_tlast (s_axis_tlast),
    .s_axis_tvalid(s_axis_tvalid),
    .s_axis_tready(s_axis_tready),
    .m_axis_tdata (code),
    .m_axis_tlast (m_axis_tlast),
    .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready)
  );

  fg_fixed_to_f32 #(
    .IN_W     (IN_W),
    .IN_F     (IN_F),
    .IN_SIGNED(IN_SIGNED)
  ) u_cast (
    .code_i(code),
    .f32_o (m_axis_tdata)
  );

endmodule

`default_nettype wire
