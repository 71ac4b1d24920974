// Stream width converter on whole lanes (hls4ml repack_stream): N_IN lanes per input beat to N_OUT lanes per
// output beat, lane order kept (lane 0 of the first output beat = lane 0 of the input beat).
// - N_IN > N_OUT (N_OUT must divide N_IN): each input beat is sent as N_IN / N_OUT beats, e.g. the flat Dense
//   output (H*W*C lanes, channels last) as H*W pixel beats of C lanes. TLAST goes on the last piece.
// - N_IN < N_OUT (N_IN must divide N_OUT): N_OUT / N_IN input beats are gathered into one output beat;
//   its TLAST is the OR of theirs (hls4ml's wrapper: is_last |= in.last).
// - N_IN = N_OUT: a pipeline register.

`default_nettype none

module fg_repack #(
  parameter int unsigned LANE_W = 8,  // lane width
  parameter int unsigned N_IN   = 4,  // lanes per input beat
  parameter int unsigned N_OUT  = 1   // lanes per output beat
) (
  input  logic                    clk_i,
  input  logic                    rst_ni,

  input  logic [N_IN*LANE_W-1:0]  s_axis_tdata,
  input  logic                    s_axis_tlast,
  input  logic                    s_axis_tvalid,
  output logic                    s_axis_tready,

  output logic [N_OUT*LANE_W-1:0] m_axis_tdata,
  output logic                    m_axis_tlast,
  output logic                    m_axis_tvalid,
  input  logic                    m_axis_tready
);

  if (LANE_W < 1 || N_IN < 1 || N_OUT < 1 || (N_IN > N_OUT && N_IN % N_OUT != 0)
      || (N_OUT > N_IN && N_OUT % N_IN != 0)) begin : gen_err_param
    $fatal(1, "fg_repack: one of N_IN=%0d and N_OUT=%0d must divide the other", N_IN, N_OUT);
  end

  if (N_IN > N_OUT) begin : gen_split
    localparam int unsigned Pieces = N_IN / N_OUT;
    localparam int unsigned IdxW = $clog2(Pieces);
    localparam int unsigned PieceW = N_OUT * LANE_W;
    logic [N_IN*LANE_W-1:0] data_q;
    logic [IdxW-1:0] idx_d, idx_q;
    logic busy_d, busy_q, last_q, final_piece;

    assign final_piece = idx_q == IdxW'(Pieces - 1);
    assign s_axis_tready = !busy_q || (m_axis_tready && final_piece);

    always_comb begin
      idx_d = idx_q;
      busy_d = busy_q;
      if (busy_q && m_axis_tready) begin
        idx_d = final_piece ? '0 : idx_q + IdxW'(1);
        busy_d = !final_piece;
      end
      if (s_axis_tvalid && s_axis_tready) begin
        idx_d = '0;
        busy_d = 1'b1;
      end
    end

    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        idx_q <= '0;
        busy_q <= 1'b0;
      end else begin
        idx_q <= idx_d;
        busy_q <= busy_d;
      end
    end

    always_ff @(posedge clk_i) begin
      if (s_axis_tvalid && s_axis_tready) begin
        data_q <= s_axis_tdata;
        last_q <= s_axis_tlast;
      end
    end

    // a mux over constant slices: a variable part-select (idx_q * PieceW) synthesizes as a barrel shifter
    always_comb begin
      m_axis_tdata = data_q[PieceW-1:0];
      for (int i = 1; i < Pieces; i++) begin
        if (idx_q == IdxW'(i)) begin
          m_axis_tdata = data_q[i*PieceW +: PieceW];
        end
      end
    end
    assign m_axis_tlast = last_q && final_piece;
    assign m_axis_tvalid = busy_q;

  end else if (N_IN < N_OUT) begin : gen_gather
    localparam int unsigned Pieces = N_OUT / N_IN;
    localparam int unsigned IdxW = $clog2(Pieces);
    localparam int unsigned PieceW = N_IN * LANE_W;
    logic [N_OUT*LANE_W-1:0] data_d, data_q;
    logic [IdxW-1:0] idx_d, idx_q;
    logic full_d, full_q, last_d, last_q, acc_last_d, acc_last_q;

    assign s_axis_tready = !full_q || m_axis_tready;

    always_comb begin
      data_d = data_q;
      idx_d = idx_q;
      full_d = full_q && !m_axis_tready;
      last_d = last_q;
      acc_last_d = acc_last_q;
      if (s_axis_tvalid && s_axis_tready) begin
        for (int i = 0; i < Pieces; i++) begin  // a write enable per piece, not a shifter
          if (idx_q == IdxW'(i)) begin
            data_d[i*PieceW +: PieceW] = s_axis_tdata;
          end
        end
        idx_d = (idx_q == IdxW'(Pieces - 1)) ? '0 : idx_q + IdxW'(1);
        acc_last_d = acc_last_q || s_axis_tlast;
        if (idx_q == IdxW'(Pieces - 1)) begin
          full_d = 1'b1;
          last_d = acc_last_d;
          acc_last_d = 1'b0;
        end
      end
    end

    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        idx_q <= '0;
        full_q <= 1'b0;
        acc_last_q <= 1'b0;
      end else begin
        idx_q <= idx_d;
        full_q <= full_d;
        acc_last_q <= acc_last_d;
      end
    end

    always_ff @(posedge clk_i) begin
      data_q <= data_d;
      last_q <= last_d;
    end

    assign m_axis_tdata = data_q;
    assign m_axis_tlast = last_q;
    assign m_axis_tvalid = full_q;

  end else begin : gen_same
    fg_axis_reg #(
      .DATA_W(N_IN * LANE_W)
    ) u_reg (
      .clk_i        (clk_i),
      .rst_ni       (rst_ni),
      .s_axis_tdata (s_axis_tdata),
      .s_axis_tlast (s_axis_tlast),
      .s_axis_tvalid(s_axis_tvalid),
      .s_axis_tready(s_axis_tready),
      .m_axis_tdata (m_axis_tdata),
      .m_axis_tlast (m_axis_tlast),
      .m_axis_tvalid(m_axis_tvalid),
      .m_axis_tready(m_axis_tready)
    );
  end

endmodule

`default_nettype wire
