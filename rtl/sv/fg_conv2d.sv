// 2-D convolution stage, stride 1, zero padding PAD (hls4ml ZeroPadding2D + conv_2d_cl, io_stream): pixels of
// C_IN lanes in, pixels of C_OUT lanes out, both in raster order, frames back to back.
// fg_window2d builds each K x K window, fg_dense applies the kernel to it with P multipliers:
// K*K*C_IN*C_OUT / P cycles per output pixel, split as fg_dense's (PI x PO, PACK, LUT_OUTS). Arithmetic, cast and
// weight files as fg_dense, for the
// (K*K*C_IN) x C_OUT matrix whose inputs are in (kh, kw, c) order (fpgagen.rtl.memfiles.conv_weights_as_dense).
//
// Where the weights live (WEIGHT_SOURCE, fg_dense's): 0 ROM ($readmemh(WEIGHTS_FILE)) or 1 LOADED (a RAM written
// once after reset from s_axis_w, fg_dense's words of that matrix in the ROM file's order: write_dense of
// conv_weights_as_dense; nothing issues until the last word is written, then the timing is ROM's). 2 STREAMED is
// refused: every output pixel reads all the words again, so a stream would carry them once per pixel.

`default_nettype none

module fg_conv2d #(
  parameter int unsigned H             = 8,     // input rows
  parameter int unsigned W             = 8,     // input columns
  parameter int unsigned C_IN          = 1,     // input channels
  parameter int unsigned C_OUT         = 1,     // output channels
  parameter int unsigned K             = 3,     // kernel size (K x K)
  parameter int unsigned PAD           = 1,     // zero padding on every side
  parameter int unsigned P             = 9,     // multipliers (see fg_dense, N_IN = K*K*C_IN, N_OUT = C_OUT)
  parameter int unsigned PI            = 0,     // inputs per output per cycle (fg_dense's; 0: min(P, K*K*C_IN))
  parameter int unsigned X_W           = 8,     // input width
  parameter int          X_F           = 4,     // input fraction bits
  parameter bit          X_SIGNED      = 1'b1,  // input signed (else unsigned)
  parameter int unsigned W_W           = 8,     // weight width (signed)
  parameter int          W_F           = 4,     // weight fraction bits
  parameter int unsigned B_W           = 8,     // bias width (signed)
  parameter int          B_F           = 4,     // bias fraction bits
  parameter int unsigned ACC_W         = 24,    // accumulator width (signed)
  parameter int          ACC_F         = 8,     // accumulator fraction bits
  parameter int unsigned OUT_W         = 8,     // result width
  parameter int          OUT_F         = 4,     // result fraction bits
  parameter bit          OUT_SIGNED    = 1'b1,  // result signed (else unsigned)
  parameter int unsigned ROUNDING      = 0,     // result rounding code (fg_requant)
  parameter int unsigned OVERFLOW      = 0,     // result overflow code (fg_requant)
  parameter bit          PACK          = 1'b0,  // outputs 2k and 2k + 1 on DSPs share a multiplier (fg_mac_sums)
  parameter int unsigned LUT_OUTS      = 0,     // the last LUT_OUTS of the PO outputs multiply in LUTs (fg_mac_sums)
  parameter int unsigned WEIGHT_SOURCE = 0,     // where the weights live: 0 ROM, 1 LOADED (above)
  parameter string       WEIGHTS_FILE  = "",    // $readmemh weights (fpgagen.rtl.memfiles; ROM only)
  parameter string       BIAS_FILE     = ""     // $readmemh biases
) (
  input  logic                   clk_i,
  input  logic                   rst_ni,

  input  logic [P*W_W-1:0]       s_axis_w_tdata,   // one weight word (fg_dense's, P lanes of W_W bits) per beat
  input  logic                   s_axis_w_tvalid,
  output logic                   s_axis_w_tready,

  input  logic [C_IN*X_W-1:0]    s_axis_tdata,
  input  logic                   s_axis_tlast,
  input  logic                   s_axis_tvalid,
  output logic                   s_axis_tready,

  output logic [C_OUT*OUT_W-1:0] m_axis_tdata,
  output logic                   m_axis_tlast,
  output logic                   m_axis_tvalid,
  input  logic                   m_axis_tready
);

  localparam int unsigned NIn = K * K * C_IN;

  if (WEIGHT_SOURCE > 1) begin : gen_err_source
    $fatal(1, "fg_conv2d: WEIGHT_SOURCE=%0d (0 ROM, 1 LOADED; a stream would carry every weight once per pixel)",
           WEIGHT_SOURCE);
  end

  logic [NIn*X_W-1:0] win_tdata;
  logic win_tlast, win_tvalid, win_tready;

  fg_window2d #(
    .H  (H),
    .W  (W),
    .C  (C_IN),
    .K  (K),
    .PAD(PAD),
    .X_W(X_W)
  ) u_window (
    .clk_i        (clk_i),
    .rst_ni       (rst_ni),
    .s_axis_tdata (s_axis_tdata),
    .s_axis_tlast (s_axis_tlast),
    .s_axis_tvalid(s_axis_tvalid),
    .s_axis_tready(s_axis_tready),
    .m_axis_tdata (win_tdata),
    .m_axis_tlast (win_tlast),
    .m_axis_tvalid(win_tvalid),
    .m_axis_tready(win_tready)
  );

  fg_dense #(
    .N_IN         (NIn),
    .N_OUT        (C_OUT),
    .P            (P),
    .PI           (PI),
    .X_W          (X_W),
    .X_F          (X_F),
    .X_SIGNED     (X_SIGNED),
    .W_W          (W_W),
    .W_F          (W_F),
    .B_W          (B_W),
    .B_F          (B_F),
    .ACC_W        (ACC_W),
    .ACC_F        (ACC_F),
    .OUT_W        (OUT_W),
    .OUT_F        (OUT_F),
    .OUT_SIGNED   (OUT_SIGNED),
    .ROUNDING     (ROUNDING),
    .OVERFLOW     (OVERFLOW),
    .PACK         (PACK),
    .LUT_OUTS     (LUT_OUTS),
    .WEIGHT_SOURCE(WEIGHT_SOURCE),
    .WEIGHTS_FILE (WEIGHTS_FILE),
    .BIAS_FILE    (BIAS_FILE)
  ) u_dense (
    .clk_i          (clk_i),
    .rst_ni         (rst_ni),
    .s_axis_w_tdata (s_axis_w_tdata),
    .s_axis_w_tvalid(s_axis_w_tvalid),
    .s_axis_w_tready(s_axis_w_tready),
    .s_axis_tdata   (win_tdata),
    .s_axis_tlast   (win_tlast),
    .s_axis_tvalid  (win_tvalid),
    .s_axis_tready  (win_tready),
    .m_axis_tdata   (m_axis_tdata),
    .m_axis_tlast   (m_axis_tlast),
    .m_axis_tvalid  (m_axis_tvalid),
    .m_axis_tready  (m_axis_tready)
  );

endmodule

`default_nettype wire
