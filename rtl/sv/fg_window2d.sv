// Sliding K x K window over a zero-padded H x W image of C-lane pixels (stride 1): the line buffer in front of
// a convolution, hls4ml's ZeroPadding2D + conv_2d_buffer_cl. Input: pixels in raster order, one per beat.
// Output: one beat per output pixel (OH = H + 2*PAD - K + 1 rows of OW = W + 2*PAD - K + 1), holding the
// window in (kh, kw, c) order: lane (kh*K + kw)*C + c, lane 0 in the LSBs.
//
// It scans the padded image, one position per cycle: inside the image it takes an input beat, on the border
// it inserts a zero pixel. A position that completes a window loads the output register. Frames follow each
// other without a gap. TLAST: the last window of a frame carries the OR of that frame's input TLASTs.

`default_nettype none

module fg_window2d #(
  parameter int unsigned H   = 8,  // image rows
  parameter int unsigned W   = 8,  // image columns
  parameter int unsigned C   = 1,  // channels (lanes per pixel)
  parameter int unsigned K   = 3,  // window size (K x K)
  parameter int unsigned PAD = 1,  // zero rows/columns added on every side
  parameter int unsigned X_W = 8   // lane width
) (
  input  logic                   clk_i,
  input  logic                   rst_ni,

  input  logic [C*X_W-1:0]       s_axis_tdata,
  input  logic                   s_axis_tlast,
  input  logic                   s_axis_tvalid,
  output logic                   s_axis_tready,

  output logic [K*K*C*X_W-1:0]   m_axis_tdata,
  output logic                   m_axis_tlast,
  output logic                   m_axis_tvalid,
  input  logic                   m_axis_tready
);

  localparam int unsigned PH = H + 2 * PAD;  // padded rows
  localparam int unsigned PW = W + 2 * PAD;  // padded columns
  localparam int unsigned PxW = C * X_W;  // pixel width
  localparam int unsigned RowW = (PH > 1) ? $clog2(PH) : 1;
  localparam int unsigned ColW = (PW > 1) ? $clog2(PW) : 1;

  if (H < 1 || W < 1 || C < 1 || K < 1 || X_W < 1 || PH < K || PW < K) begin : gen_err_param
    $fatal(1, "fg_window2d: need H, W, C, K, X_W >= 1 and H + 2*PAD >= K, W + 2*PAD >= K (H=%0d W=%0d K=%0d PAD=%0d)",
           H, W, K, PAD);
  end

  logic [RowW-1:0] row_d, row_q;
  logic [ColW-1:0] col_d, col_q;
  logic in_image, step, window_done, frame_done, seen_last_d, seen_last_q;
  logic [PxW-1:0] pixel;
  logic [PxW-1:0] column [K];  // the new window column, top (kh = 0) to bottom

  assign in_image = int'(row_q) >= int'(PAD) && int'(row_q) < int'(PAD + H)
               && int'(col_q) >= int'(PAD) && int'(col_q) < int'(PAD + W);
  assign pixel = in_image ? s_axis_tdata : '0;
  assign window_done = int'(row_q) >= int'(K) - 1 && int'(col_q) >= int'(K) - 1;
  assign frame_done = int'(row_q) == int'(PH) - 1 && int'(col_q) == int'(PW) - 1;

  logic out_valid_d, out_valid_q, out_last_d, out_last_q, slot_free;
  assign slot_free = !out_valid_q || m_axis_tready;
  assign step = slot_free && (!in_image || s_axis_tvalid);
  assign s_axis_tready = slot_free && in_image;

  // Line buffer: word c holds column c of the K-1 previous rows, oldest in the LSBs
  if (K > 1) begin : gen_line_buffer
    localparam int unsigned LbW = (K - 1) * PxW;
    logic [LbW-1:0] lb_q [PW];
    logic [LbW-1:0] lb_rd, lb_wr;

    assign lb_rd = lb_q[col_q];
    if (K > 2) begin : gen_shift
      assign lb_wr = {pixel, lb_rd[LbW-1:PxW]};
    end else begin : gen_single
      assign lb_wr = pixel;
    end
    for (genvar kh = 0; kh < K - 1; kh++) begin : gen_column
      assign column[kh] = lb_rd[kh*PxW +: PxW];
    end

    always_ff @(posedge clk_i) begin
      if (step) begin
        lb_q[col_q] <= lb_wr;
      end
    end
  end
  assign column[K-1] = pixel;

  // Window registers: win_q[kh][kw], kw = K-1 the newest column
  logic [PxW-1:0] win_q [K][K];
  for (genvar kh = 0; kh < K; kh++) begin : gen_win_row
    for (genvar kw = 0; kw < K; kw++) begin : gen_win_col
      always_ff @(posedge clk_i) begin
        if (step) begin
          win_q[kh][kw] <= (kw == K - 1) ? column[kh] : win_q[kh][(kw == K - 1) ? kw : kw + 1];
        end
      end
      assign m_axis_tdata[(kh*K + kw)*PxW +: PxW] = win_q[kh][kw];
    end
  end

  always_comb begin
    row_d = row_q;
    col_d = col_q;
    seen_last_d = seen_last_q;
    out_valid_d = out_valid_q && !m_axis_tready;
    out_last_d = out_last_q;
    if (step) begin
      col_d = (int'(col_q) == int'(PW) - 1) ? '0 : col_q + ColW'(1);
      if (int'(col_q) == int'(PW) - 1) begin
        row_d = (int'(row_q) == int'(PH) - 1) ? '0 : row_q + RowW'(1);
      end
      seen_last_d = seen_last_q || (in_image && s_axis_tlast);
      if (window_done) begin
        out_valid_d = 1'b1;
        out_last_d = frame_done && seen_last_d;
      end
      if (frame_done) begin
        seen_last_d = 1'b0;
      end
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      row_q <= '0;
      col_q <= '0;
      seen_last_q <= 1'b0;
      out_valid_q <= 1'b0;
    end else begin
      row_q <= row_d;
      col_q <= col_d;
      seen_last_q <= seen_last_d;
      out_valid_q <= out_valid_d;
    end
  end

  always_ff @(posedge clk_i) begin
    out_last_q <= out_last_d;
  end

  assign m_axis_tlast = out_last_q;
  assign m_axis_tvalid = out_valid_q;

endmodule

`default_nettype wire
