// Output register of fg_dense and fg_conv_transpose2d: a beat of GROUPS groups of GROUP_W bits, filled one
// group at a time in place (group g in bits g * GROUP_W and up) and sent as one AXI-Stream beat.
//
// A write (write_i) puts group_i into slot slot_i; the write with done_i makes the beat valid, with TLAST
// last_i. A slot is a write enable of its own, not a shifter. stall_o is high while a write finds the beat
// still valid and not being taken: the write waits (the producer holds its inputs) and lands once
// m_axis_tready takes the beat. m_axis_tvalid comes from a register; stall_o depends on m_axis_tready.

`default_nettype none

module fg_beat_reg #(
  parameter int unsigned GROUPS  = 1,  // groups (slots) per beat
  parameter int unsigned GROUP_W = 8,  // bits per group
  localparam int unsigned SlotW = (GROUPS > 1) ? $clog2(GROUPS) : 1  // slot index width
) (
  input  logic                      clk_i,
  input  logic                      rst_ni,

  input  logic                      write_i,  // group_i is ready
  input  logic [SlotW-1:0]          slot_i,   // its slot in the beat
  input  logic                      done_i,   // it completes the beat
  input  logic                      last_i,   // TLAST of the beat it completes
  input  logic [GROUP_W-1:0]        group_i,
  output logic                      stall_o,  // the write cannot land this cycle

  output logic [GROUPS*GROUP_W-1:0] m_axis_tdata,
  output logic                      m_axis_tlast,
  output logic                      m_axis_tvalid,
  input  logic                      m_axis_tready
);

  if (GROUPS < 1 || GROUP_W < 1) begin : gen_err_size
    $fatal(1, "fg_beat_reg: need GROUPS, GROUP_W >= 1 (GROUPS=%0d GROUP_W=%0d)", GROUPS, GROUP_W);
  end

  logic [GROUPS*GROUP_W-1:0] out_d, out_q;
  logic out_valid_d, out_valid_q, out_last_d, out_last_q;

  assign stall_o = write_i && out_valid_q && !m_axis_tready;

  always_comb begin
    out_d = out_q;
    out_last_d = out_last_q;
    out_valid_d = out_valid_q && !m_axis_tready;
    if (write_i && !stall_o) begin
      for (int slot = 0; slot < int'(GROUPS); slot++) begin
        if (slot_i == SlotW'(slot)) begin
          out_d[slot*GROUP_W +: GROUP_W] = group_i;
        end
      end
      if (done_i) begin
        out_valid_d = 1'b1;
        out_last_d = last_i;
      end
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      out_valid_q <= 1'b0;
    end else begin
      out_valid_q <= out_valid_d;
    end
  end

  always_ff @(posedge clk_i) begin
    out_q <= out_d;
    out_last_q <= out_last_d;
  end

  assign m_axis_tdata = out_q;
  assign m_axis_tlast = out_last_q;
  assign m_axis_tvalid = out_valid_q;

endmodule

`default_nettype wire
