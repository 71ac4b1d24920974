// Dense (fully connected) stage, hls4ml nnet::dense (Resource) in io_stream: one input beat holds the whole
// vector (N_IN lanes); the result leaves as N_OUT / OUT_LANES beats of OUT_LANES lanes, outputs in order (lane
// l of beat k is output k * OUT_LANES + l). OUT_LANES = N_OUT (the default) is one beat per vector; a Dense
// before a view to (C, H, W) uses OUT_LANES = C, so its rows (permuted channels last by fpgagen.rtl.generate)
// leave as H*W pixel beats and no N_OUT-lane register or width converter is needed.
//
//   acc_o = (bias_o << (ACC_F - B_F)) + sum_i x_i * w_oi   (exact: ACC_F >= X_F + W_F, ACC_W wide enough)
//   y_o   = requant(acc_o)  to OUT_W/OUT_F/OUT_SIGNED with ROUNDING, OVERFLOW  (codes: see fg_requant)
//
// P multipliers work as PO output groups of PI inputs each (PO = P / PI; PI must divide P and N_IN, PO divide
// OUT_LANES and OUT_LANES divide N_OUT): a vector takes N_IN * N_OUT / P cycles (hls4ml's reuse factor), and
// vectors stream back to back. PI = 0 (the default) is min(P, N_IN) (fpgagen.core.folding.dense_split); any other
// legal split is chosen freely. The PO outputs' products are on DSPs, two outputs to a DSP with PACK, or in LUTs
// for the last LUT_OUTS of them (fg_mac_sums); the results are the same bits in every case. The accumulator keeps ACC_W bits and wraps, which equals
// hls4ml with a WRAP accumulator even when it overflows; with exact accumulators (the fpgagen contract) every
// mode agrees. Weights and biases are signed; ROM words and the $readmemh file format: fpgagen.rtl.memfiles.
// TLAST: high on the last beat of a vector whose input beat carried TLAST, low on every other beat.
//
// Pipeline: issue (weight address, operand slice) -> execute (weight word registered; multiply, add tree,
// accumulate and cast in fg_mac_array; into the output register, fg_beat_reg). The weight memory (fg_weight_mem)
// is read synchronously from a registered address with the stall as read enable, the pattern that maps onto block
// RAM.
// Groups of PO results land in place in the OUT_LANES-lane output register; the group that completes a beat
// makes it valid. Only a result that finds the output register still full and not being taken stalls the
// pipeline.
//
// Where the weights live (WEIGHT_SOURCE; ROM and LOADED: fg_weight_mem). A vector walks NWords = N_IN * N_OUT / P
// weight words, word og * (N_IN / PI) + ib in that order, lane po * PI + pi (the ROM file's words,
// fpgagen.rtl.memfiles), one word per issue cycle. Weight words arrive on s_axis_w (one word per beat, no TLAST) in
// that same order and layout (from DMA beats through fg_weight_gearbox; the byte layout of a pass:
// fpgagen.core.weight_stream):
//   0 ROM       $readmemh(WEIGHTS_FILE) initialises a ROM. s_axis_w_tready is 0 and the s_axis_w inputs are
//               unused.
//   1 LOADED    a RAM of NWords words (one write port, one synchronous read port: block RAM or UltraRAM, which
//               the bitstream cannot initialise) written once after reset: the first NWords beats on s_axis_w go
//               to addresses 0, 1, ...; then s_axis_w_tready stays 0 until the next reset. An input vector may be
//               accepted while loading, but nothing issues until the last word is written; from then on the
//               timing is ROM's.
//   2 STREAMED  no weight memory: every vector consumes its NWords words from s_axis_w, one per issue cycle,
//               into the execute register where the ROM's word went. s_axis_w_tready is high while a vector is
//               held and the pipeline is not stalled; an issue cycle needs a valid word, and without one the
//               issue stage waits (nothing lost or repeated). With words always valid the timing is ROM's.
//               s_axis_w_tready depends combinationally on m_axis_tready, s_axis_tready on m_axis_tready and
//               s_axis_w_tvalid (s_axis_tready already depended on m_axis_tready).
// The bias ROM is a $readmemh ROM (BIAS_FILE) in every mode.

`default_nettype none

module fg_dense #(
  parameter int unsigned N_IN          = 4,     // inputs (lanes of the input beat)
  parameter int unsigned N_OUT         = 4,     // outputs per vector
  parameter int unsigned OUT_LANES     = N_OUT, // lanes per output beat (N_OUT / OUT_LANES beats per vector)
  parameter int unsigned P             = 4,     // multipliers; legal values: fpgagen.rtl.params.dense_split
  parameter int unsigned PI            = 0,     // inputs per output per cycle, divides N_IN and P (0: min(P, N_IN))
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
  parameter int unsigned WEIGHT_SOURCE = 0,     // where the weights live: 0 ROM, 1 LOADED, 2 STREAMED (above)
  parameter string       WEIGHTS_FILE  = "",    // $readmemh file: N_IN*N_OUT/P words of P weights (ROM only)
  parameter string       BIAS_FILE     = ""     // $readmemh file: N_OUT/PO words of PO biases
) (
  input  logic                   clk_i,
  input  logic                   rst_ni,

  input  logic [P*W_W-1:0]       s_axis_w_tdata,   // one weight word (P lanes of W_W bits) per beat
  input  logic                   s_axis_w_tvalid,
  output logic                   s_axis_w_tready,

  input  logic [N_IN*X_W-1:0]    s_axis_tdata,
  input  logic                   s_axis_tlast,
  input  logic                   s_axis_tvalid,
  output logic                   s_axis_tready,

  output logic [OUT_LANES*OUT_W-1:0] m_axis_tdata,
  output logic                   m_axis_tlast,
  output logic                   m_axis_tvalid,
  input  logic                   m_axis_tready
);

  localparam int unsigned PiSplit = (PI > 0) ? PI : ((P < N_IN) ? P : N_IN);  // inputs per output per cycle
  localparam int unsigned PO = (PiSplit > 0) ? P / PiSplit : 1;  // outputs per cycle
  localparam int unsigned NIB = (PiSplit > 0) ? N_IN / PiSplit : 1;  // input blocks (cycles) per output group
  localparam int unsigned NOG = (PO > 0) ? N_OUT / PO : 1;  // output groups
  localparam int unsigned NWords = NIB * NOG;  // cycles per vector = weight ROM depth
  localparam int unsigned GPB = (PO > 0 && OUT_LANES >= PO) ? OUT_LANES / PO : 1;  // output groups per beat
  localparam int unsigned SlotW = (GPB > 1) ? $clog2(GPB) : 1;
  localparam int unsigned IbW = (NIB > 1) ? $clog2(NIB) : 1;
  localparam int unsigned OgW = (NOG > 1) ? $clog2(NOG) : 1;
  localparam int unsigned AddrW = (NWords > 1) ? $clog2(NWords) : 1;

  if (N_IN < 1 || N_OUT < 1 || P < 1 || PiSplit * PO != P || N_IN % PiSplit != 0 || N_OUT % PO != 0)
  begin : gen_err_parallel
    $fatal(1, "fg_dense: P=%0d multipliers do not split N_IN=%0d x N_OUT=%0d as PI=%0d x PO=%0d (need PI | P, PI | N_IN, (P/PI) | N_OUT; PI=0: min(P, N_IN))",
           P, N_IN, N_OUT, PiSplit, PO);
  end
  if (OUT_LANES < 1 || N_OUT % OUT_LANES != 0 || OUT_LANES % PO != 0) begin : gen_err_lanes
    $fatal(1, "fg_dense: OUT_LANES=%0d must divide N_OUT=%0d and be a multiple of PO=%0d (outputs per cycle)",
           OUT_LANES, N_OUT, PO);
  end
  if (WEIGHT_SOURCE > 2) begin : gen_err_source
    $fatal(1, "fg_dense: WEIGHT_SOURCE=%0d (0 ROM, 1 LOADED, 2 STREAMED)", WEIGHT_SOURCE);
  end
  if ((WEIGHT_SOURCE == 0 && WEIGHTS_FILE == "") || BIAS_FILE == "") begin : gen_err_files
    $fatal(1, "fg_dense: BIAS_FILE (and WEIGHTS_FILE with WEIGHT_SOURCE=0) must name $readmemh files");
  end

  // ---------------------------------------------------------------------------------------------------------
  // Bias ROM (the weight memory, if any, is with the execute stage below)
  logic [PO*B_W-1:0] b_rom [NOG];
  initial begin
    $readmemh(BIAS_FILE, b_rom);
  end

  // ---------------------------------------------------------------------------------------------------------
  // Issue stage: hold the vector, walk the ROM
  logic [N_IN*X_W-1:0] x_d, x_q;
  logic xlast_d, xlast_q, busy_d, busy_q;
  logic [IbW-1:0] ib_d, ib_q;
  logic [OgW-1:0] og_d, og_q;
  logic [SlotW-1:0] slot_d, slot_q;  // output group within the beat
  logic [AddrW-1:0] addr_d, addr_q;
  logic [PiSplit*X_W-1:0] x_block;  // input block ib_q of the held vector
  logic issue, group_done, beat_done, vector_done, stall;
  logic w_ready;  // a weight word is there for an issue this cycle (ROM: always; LOADED: once loaded)

  assign group_done = ib_q == IbW'(NIB - 1);
  assign beat_done = group_done && (slot_q == SlotW'(GPB - 1));
  assign vector_done = group_done && (og_q == OgW'(NOG - 1));
  assign issue = busy_q && !stall && w_ready;
  assign s_axis_tready = !busy_q || (vector_done && !stall && w_ready);

  always_comb begin
    x_d = x_q;
    xlast_d = xlast_q;
    busy_d = busy_q;
    ib_d = ib_q;
    og_d = og_q;
    slot_d = slot_q;
    addr_d = addr_q;
    if (issue) begin
      ib_d = group_done ? '0 : ib_q + IbW'(1);
      og_d = group_done ? og_q + OgW'(1) : og_q;
      if (group_done) begin
        slot_d = beat_done ? '0 : slot_q + SlotW'(1);
      end
      addr_d = addr_q + AddrW'(1);
      if (vector_done) begin
        busy_d = 1'b0;
      end
    end
    if (s_axis_tvalid && s_axis_tready) begin
      x_d = s_axis_tdata;
      xlast_d = s_axis_tlast;
      busy_d = 1'b1;
      ib_d = '0;
      og_d = '0;
      slot_d = '0;
      addr_d = '0;
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      busy_q <= 1'b0;
      ib_q <= '0;
      og_q <= '0;
      slot_q <= '0;
      addr_q <= '0;
    end else begin
      busy_q <= busy_d;
      ib_q <= ib_d;
      og_q <= og_d;
      slot_q <= slot_d;
      addr_q <= addr_d;
    end
  end

  always_ff @(posedge clk_i) begin
    x_q <= x_d;
    xlast_q <= xlast_d;
  end

  // A mux over constant slices (a variable part-select x_q[ib_q * PI * X_W +: ...] would synthesize as a
  // barrel shifter over the whole vector)
  always_comb begin
    x_block = x_q[PiSplit*X_W-1:0];
    for (int i = 1; i < NIB; i++) begin
      if (ib_q == IbW'(i)) begin
        x_block = x_q[i*PiSplit*X_W +: PiSplit*X_W];
      end
    end
  end

  // ---------------------------------------------------------------------------------------------------------
  // Execute stage registers (weight word, bias ROM output and control), held while stalled
  logic ex_valid_q, ex_first_q, ex_group_done_q, ex_beat_done_q, ex_vector_done_q, ex_last_q;
  logic [SlotW-1:0] ex_slot_q;
  logic [P*W_W-1:0] ex_w_q;
  logic [PO*B_W-1:0] ex_b_q;
  logic [PiSplit*X_W-1:0] ex_x_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      ex_valid_q <= 1'b0;
    end else if (!stall) begin
      ex_valid_q <= issue;
    end
  end

  always_ff @(posedge clk_i) begin
    if (!stall) begin
      ex_b_q <= b_rom[og_q];
      ex_x_q <= x_block;
      ex_first_q <= ib_q == '0;
      ex_group_done_q <= group_done;
      ex_beat_done_q <= beat_done;
      ex_vector_done_q <= vector_done;
      ex_last_q <= xlast_q;
      ex_slot_q <= slot_q;
    end
  end

  // ---------------------------------------------------------------------------------------------------------
  // Weight word into the execute register, by WEIGHT_SOURCE: from the weight memory (ROM, LOADED) or s_axis_w
  if (WEIGHT_SOURCE < 2) begin : gen_mem
    fg_weight_mem #(
      .WORD_W       (P*W_W),
      .DEPTH        (NWords),
      .WEIGHT_SOURCE(WEIGHT_SOURCE),
      .WEIGHTS_FILE (WEIGHTS_FILE)
    ) u_w (
      .clk_i          (clk_i),
      .rst_ni         (rst_ni),
      .s_axis_w_tdata (s_axis_w_tdata),
      .s_axis_w_tvalid(s_axis_w_tvalid),
      .s_axis_w_tready(s_axis_w_tready),
      .loaded_o       (w_ready),
      .rd_addr_i      (addr_q),
      .rd_en_i        (!stall),
      .rd_data_o      (ex_w_q)
    );
  end else begin : gen_streamed
    assign w_ready = s_axis_w_tvalid;
    assign s_axis_w_tready = busy_q && !stall;

    always_ff @(posedge clk_i) begin
      if (!stall) begin
        ex_w_q <= s_axis_w_tdata;
      end
    end

    logic unused_addr;
    assign unused_addr = ^addr_q;
  end

  // ---------------------------------------------------------------------------------------------------------
  // Execute: PO accumulators, each adding PI products per cycle, and their casts
  logic [PO*OUT_W-1:0] res;

  fg_mac_array #(
    .PI        (PiSplit),
    .PO        (PO),
    .X_W       (X_W),
    .X_F       (X_F),
    .X_SIGNED  (X_SIGNED),
    .W_W       (W_W),
    .W_F       (W_F),
    .B_W       (B_W),
    .B_F       (B_F),
    .ACC_W     (ACC_W),
    .ACC_F     (ACC_F),
    .OUT_W     (OUT_W),
    .OUT_F     (OUT_F),
    .OUT_SIGNED(OUT_SIGNED),
    .ROUNDING  (ROUNDING),
    .OVERFLOW  (OVERFLOW),
    .PACK      (PACK),
    .LUT_OUTS  (LUT_OUTS)
  ) u_mac (
    .clk_i  (clk_i),
    .x_i    (ex_x_q),
    .w_i    (ex_w_q),
    .b_i    (ex_b_q),
    .first_i(ex_first_q),
    .add_i  (1'b1),
    .en_i   (ex_valid_q && !stall),
    .y_o    (res)
  );

  // ---------------------------------------------------------------------------------------------------------
  // Output register: groups of PO results land in place; the last group of a beat makes it valid
  fg_beat_reg #(
    .GROUPS (GPB),
    .GROUP_W(PO*OUT_W)
  ) u_out (
    .clk_i        (clk_i),
    .rst_ni       (rst_ni),
    .write_i      (ex_valid_q && ex_group_done_q),
    .slot_i       (ex_slot_q),
    .done_i       (ex_beat_done_q),
    .last_i       (ex_vector_done_q && ex_last_q),
    .group_i      (res),
    .stall_o      (stall),
    .m_axis_tdata (m_axis_tdata),
    .m_axis_tlast (m_axis_tlast),
    .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready)
  );

endmodule

`default_nettype wire
