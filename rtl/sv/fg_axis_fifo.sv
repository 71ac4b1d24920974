// AXI-Stream FIFO with TLAST. Both handshake outputs come from registers (s_axis_tready = not full,
// m_axis_tvalid = not empty), so a FIFO between two stages breaks every combinational path between them.
// DEPTH beats of storage; DEPTH = 1 gives a half-rate slice, DEPTH >= 2 full throughput.

`default_nettype none

module fg_axis_fifo #(
  parameter int unsigned DATA_W = 8,  // tdata width
  parameter int unsigned DEPTH  = 4   // capacity in beats (any value >= 1)
) (
  input  logic              clk_i,
  input  logic              rst_ni,

  input  logic [DATA_W-1:0] s_axis_tdata,
  input  logic              s_axis_tlast,
  input  logic              s_axis_tvalid,
  output logic              s_axis_tready,

  output logic [DATA_W-1:0] m_axis_tdata,
  output logic              m_axis_tlast,
  output logic              m_axis_tvalid,
  input  logic              m_axis_tready
);

  if (DATA_W < 1 || DEPTH < 1) begin : gen_err_param
    $fatal(1, "fg_axis_fifo: DATA_W and DEPTH must be >= 1 (DATA_W=%0d DEPTH=%0d)", DATA_W, DEPTH);
  end

  localparam int unsigned PtrW = (DEPTH > 1) ? $clog2(DEPTH) : 1;
  localparam int unsigned CntW = $clog2(DEPTH + 1);
  localparam logic [PtrW-1:0] LastPtr = PtrW'(DEPTH - 1);

  logic [DATA_W:0] mem_q [DEPTH];  // {tlast, tdata}
  logic [PtrW-1:0] wr_ptr_d, wr_ptr_q, rd_ptr_d, rd_ptr_q;
  logic [CntW-1:0] count_d, count_q;
  logic push, pop;

  assign s_axis_tready = count_q != CntW'(DEPTH);
  assign m_axis_tvalid = count_q != '0;
  assign push = s_axis_tvalid && s_axis_tready;
  assign pop = m_axis_tvalid && m_axis_tready;

  always_comb begin
    wr_ptr_d = wr_ptr_q;
    rd_ptr_d = rd_ptr_q;
    count_d = count_q;
    if (push) begin
      wr_ptr_d = (wr_ptr_q == LastPtr) ? '0 : wr_ptr_q + PtrW'(1);
    end
    if (pop) begin
      rd_ptr_d = (rd_ptr_q == LastPtr) ? '0 : rd_ptr_q + PtrW'(1);
    end
    unique case ({push, pop})
      2'b10:   count_d = count_q + CntW'(1);
      2'b01:   count_d = count_q - CntW'(1);
      default: count_d = count_q;
    endcase
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      wr_ptr_q <= '0;
      rd_ptr_q <= '0;
      count_q <= '0;
    end else begin
      wr_ptr_q <= wr_ptr_d;
      rd_ptr_q <= rd_ptr_d;
      count_q <= count_d;
    end
  end

  always_ff @(posedge clk_i) begin
    if (push) begin
      mem_q[wr_ptr_q] <= {s_axis_tlast, s_axis_tdata};
    end
  end

  assign {m_axis_tlast, m_axis_tdata} = mem_q[rd_ptr_q];

endmodule

`default_nettype wire
