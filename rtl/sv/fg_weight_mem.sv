// Weight memory of fg_dense and fg_conv_transpose2d (WEIGHT_SOURCE ROM or LOADED): DEPTH words of WORD_W bits,
// read synchronously into the stage's execute register. One module, so that both stages infer the same memory
// (the pattern the synthesis check maps to block RAM and UltraRAM) and load it by the same protocol.
//
//   0 ROM       $readmemh(WEIGHTS_FILE) initialises a ROM. loaded_o is 1, s_axis_w_tready 0, and the s_axis_w
//               inputs are unused.
//   1 LOADED    a RAM (one write port, one synchronous read port: block RAM or UltraRAM, which the bitstream cannot
//               initialise) written once after reset: the first DEPTH beats on s_axis_w (one word a beat, no TLAST)
//               go to addresses 0, 1, ...; loaded_o rises in the cycle after the last word is written, and from
//               then on s_axis_w_tready stays 0 until the next reset. A reset does not clear the words; the
//               stage must not read before loaded_o (it gates its issue with it).
//
// Read: rd_data_o is a register; on a rising edge with rd_en_i (the stage's !stall) it takes the word at
// rd_addr_i, otherwise it holds. A synchronous read with an enable is what block RAM and UltraRAM offer, so the
// register is the RAM's own; the word comes one cycle after its address with either source, so a stage's timing
// does not depend on where its weights live (once loaded).

`default_nettype none

module fg_weight_mem #(
  parameter int unsigned WORD_W        = 8,   // bits per word (the stage's multipliers x weight width)
  parameter int unsigned DEPTH         = 16,  // words
  parameter int unsigned WEIGHT_SOURCE = 0,   // 0 ROM, 1 LOADED (above)
  parameter string       WEIGHTS_FILE  = "",  // $readmemh file: DEPTH words of WORD_W bits (ROM only)
  localparam int unsigned AddrW = (DEPTH > 1) ? $clog2(DEPTH) : 1  // address width
) (
  input  logic              clk_i,
  input  logic              rst_ni,

  input  logic [WORD_W-1:0] s_axis_w_tdata,   // LOADED: one word per beat
  input  logic              s_axis_w_tvalid,
  output logic              s_axis_w_tready,
  output logic              loaded_o,         // the words are all there (ROM: always)

  input  logic [AddrW-1:0]  rd_addr_i,
  input  logic              rd_en_i,          // load rd_data_o this cycle
  output logic [WORD_W-1:0] rd_data_o         // registered word
);

  if (WORD_W < 1 || DEPTH < 1) begin : gen_err_size
    $fatal(1, "fg_weight_mem: need WORD_W, DEPTH >= 1 (WORD_W=%0d DEPTH=%0d)", WORD_W, DEPTH);
  end
  if (WEIGHT_SOURCE > 1) begin : gen_err_source
    $fatal(1, "fg_weight_mem: WEIGHT_SOURCE=%0d (0 ROM, 1 LOADED)", WEIGHT_SOURCE);
  end
  if (WEIGHT_SOURCE == 0 && WEIGHTS_FILE == "") begin : gen_err_file
    $fatal(1, "fg_weight_mem: WEIGHTS_FILE must name a $readmemh file with WEIGHT_SOURCE=0");
  end

  if (WEIGHT_SOURCE == 0) begin : gen_rom
    logic [WORD_W-1:0] w_rom [DEPTH];
    initial begin
      $readmemh(WEIGHTS_FILE, w_rom);
    end

    always_ff @(posedge clk_i) begin
      if (rd_en_i) begin
        rd_data_o <= w_rom[rd_addr_i];
      end
    end

    assign loaded_o = 1'b1;
    assign s_axis_w_tready = 1'b0;
    logic unused_w;
    assign unused_w = ^{s_axis_w_tdata, s_axis_w_tvalid, rst_ni};
  end else begin : gen_loaded
    logic [WORD_W-1:0] w_ram [DEPTH];
    logic [AddrW-1:0] wr_addr_d, wr_addr_q;
    logic loaded_d, loaded_q, write;

    assign write = s_axis_w_tvalid && !loaded_q;
    assign s_axis_w_tready = !loaded_q;
    assign loaded_o = loaded_q;

    always_comb begin
      wr_addr_d = wr_addr_q;
      loaded_d = loaded_q;
      if (write) begin
        wr_addr_d = wr_addr_q + AddrW'(1);
        loaded_d = wr_addr_q == AddrW'(DEPTH - 1);
      end
    end

    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        wr_addr_q <= '0;
        loaded_q <= 1'b0;
      end else begin
        wr_addr_q <= wr_addr_d;
        loaded_q <= loaded_d;
      end
    end

    // one write port, one synchronous read port with the read enable: block RAM or UltraRAM
    always_ff @(posedge clk_i) begin
      if (write) begin
        w_ram[wr_addr_q] <= s_axis_w_tdata;
      end
    end

    always_ff @(posedge clk_i) begin
      if (rd_en_i) begin
        rd_data_o <= w_ram[rd_addr_i];
      end
    end
  end

endmodule

`default_nettype wire
