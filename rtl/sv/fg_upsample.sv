// Nearest-neighbour upsampling by FACTOR (hls4ml nnet::resize_nearest, io_stream): an H x W image of C-lane
// pixels in, FACTOR*H x FACTOR*W out, raster order. Each input pixel is sent FACTOR times and kept in a one-row
// line buffer, which replays the row FACTOR-1 more times. A pure copy: no cast. One output beat per cycle;
// an input beat is taken on the first of its FACTOR copies in the row's first pass.
// TLAST: the last beat of a frame carries the OR of that frame's input TLASTs.

`default_nettype none

module fg_upsample #(
  parameter int unsigned H      = 4,  // input rows
  parameter int unsigned W      = 4,  // input columns
  parameter int unsigned C      = 1,  // channels (lanes per pixel)
  parameter int unsigned X_W    = 8,  // lane width
  parameter int unsigned FACTOR = 2   // scale in both directions
) (
  input  logic               clk_i,
  input  logic               rst_ni,

  input  logic [C*X_W-1:0]   s_axis_tdata,
  input  logic               s_axis_tlast,
  input  logic               s_axis_tvalid,
  output logic               s_axis_tready,

  output logic [C*X_W-1:0]   m_axis_tdata,
  output logic               m_axis_tlast,
  output logic               m_axis_tvalid,
  input  logic               m_axis_tready
);

  localparam int unsigned PxW = C * X_W;
  localparam int unsigned RowW = (H > 1) ? $clog2(H) : 1;
  localparam int unsigned ColW = (W > 1) ? $clog2(W) : 1;
  localparam int unsigned RepW = (FACTOR > 1) ? $clog2(FACTOR) : 1;

  if (H < 1 || W < 1 || C < 1 || X_W < 1 || FACTOR < 1) begin : gen_err_param
    $fatal(1, "fg_upsample: H, W, C, X_W and FACTOR must be >= 1");
  end

  logic [PxW-1:0] lb_q [W];
  logic [RowW-1:0] row_d, row_q;  // input row
  logic [ColW-1:0] col_d, col_q;  // input column
  logic [RepW-1:0] pass_d, pass_q;  // output row within the input row's FACTOR rows
  logic [RepW-1:0] rep_d, rep_q;  // copy within the pixel's FACTOR columns
  logic seen_last_d, seen_last_q;
  logic [PxW-1:0] data_d, data_q;
  logic valid_d, valid_q, last_d, last_q;
  logic slot_free, need_input, advance, last_rep, last_col, last_pass, last_row;

  assign slot_free = !valid_q || m_axis_tready;
  assign need_input = pass_q == '0 && rep_q == '0;
  assign s_axis_tready = slot_free && need_input;
  assign advance = slot_free && (!need_input || s_axis_tvalid);
  assign last_rep = rep_q == RepW'(FACTOR - 1);
  assign last_col = col_q == ColW'(W - 1);
  assign last_pass = pass_q == RepW'(FACTOR - 1);
  assign last_row = row_q == RowW'(H - 1);

  always_comb begin
    row_d = row_q;
    col_d = col_q;
    pass_d = pass_q;
    rep_d = rep_q;
    seen_last_d = seen_last_q;
    data_d = data_q;
    last_d = last_q;
    valid_d = valid_q && !m_axis_tready;
    if (advance) begin
      valid_d = 1'b1;
      last_d = 1'b0;
      if (need_input) begin
        data_d = s_axis_tdata;
        seen_last_d = seen_last_q || s_axis_tlast;
      end else if (rep_q == '0) begin
        data_d = lb_q[col_q];
      end
      rep_d = last_rep ? '0 : rep_q + RepW'(1);
      if (last_rep) begin
        col_d = last_col ? '0 : col_q + ColW'(1);
        if (last_col) begin
          pass_d = last_pass ? '0 : pass_q + RepW'(1);
          if (last_pass) begin
            row_d = last_row ? '0 : row_q + RowW'(1);
            if (last_row) begin
              last_d = seen_last_d;
              seen_last_d = 1'b0;
            end
          end
        end
      end
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      row_q <= '0;
      col_q <= '0;
      pass_q <= '0;
      rep_q <= '0;
      seen_last_q <= 1'b0;
      valid_q <= 1'b0;
    end else begin
      row_q <= row_d;
      col_q <= col_d;
      pass_q <= pass_d;
      rep_q <= rep_d;
      seen_last_q <= seen_last_d;
      valid_q <= valid_d;
    end
  end

  always_ff @(posedge clk_i) begin
    data_q <= data_d;
    last_q <= last_d;
  end

  always_ff @(posedge clk_i) begin
    if (s_axis_tvalid && s_axis_tready) begin
      lb_q[col_q] <= s_axis_tdata;
    end
  end

  assign m_axis_tdata = data_q;
  assign m_axis_tlast = last_q;
  assign m_axis_tvalid = valid_q;

endmodule

`default_nettype wire
