// AXI-Stream pipeline register: one beat of storage, full throughput while the consumer is ready.
// m_axis_tvalid comes from a register; s_axis_tready = !full || m_axis_tready (a combinational ready path).

`default_nettype none

module fg_axis_reg #(
  parameter int unsigned DATA_W = 8  // tdata width
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

  if (DATA_W < 1) begin : gen_err_width
    $fatal(1, "fg_axis_reg: DATA_W must be >= 1");
  end

  logic [DATA_W-1:0] data_d, data_q;
  logic last_d, last_q, valid_d, valid_q;

  assign s_axis_tready = !valid_q || m_axis_tready;

  always_comb begin
    data_d = data_q;
    last_d = last_q;
    valid_d = valid_q && !m_axis_tready;
    if (s_axis_tvalid && s_axis_tready) begin
      data_d = s_axis_tdata;
      last_d = s_axis_tlast;
      valid_d = 1'b1;
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      valid_q <= 1'b0;
    end else begin
      valid_q <= valid_d;
    end
  end

  always_ff @(posedge clk_i) begin
    data_q <= data_d;
    last_q <= last_d;
  end

  assign m_axis_tdata = data_q;
  assign m_axis_tlast = last_q;
  assign m_axis_tvalid = valid_q;

endmodule

`default_nettype wire
