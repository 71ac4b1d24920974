// Weight gearbox: the DMA's IN_W-bit beats of a weight file in, WORD_W-bit weight words out (the s_axis_w
// words of fg_dense with WEIGHT_SOURCE LOADED or STREAMED, WORD_W = P * W_W).
//
// Layout (the beat-aligned `.weights` layout of fpgagen.core.weight_stream): a pass is N_WORDS words, every word
// aligned to beats, LSB first; the bits of a beat that hold no word are zero.
// - WORD_W <= IN_W: K = floor(IN_W / WORD_W) words per beat. Word k of a pass is in beat k / K at bit offset
//   (k % K) * WORD_W. A pass is ceil(N_WORDS / K) beats; its last beat holds N_WORDS - K * (ceil(N_WORDS / K) - 1)
//   words (the empty slots are skipped).
// - WORD_W > IN_W: R = ceil(WORD_W / IN_W) beats per word. Word k is beats k * R .. k * R + R - 1 of the pass:
//   bit b of the word is bit b % IN_W of beat k * R + b / IN_W; the top bits of its last beat are zero. A pass is
//   N_WORDS * R beats.
// Passes follow each other, each starting on a beat boundary. s_axis_tlast is accepted and ignored; m_axis has no
// TLAST.
//
// Throughput (exact, the input always valid and the output always ready): one word per cycle when
// WORD_W <= IN_W (across beats and passes: no bubble); one word per R cycles when WORD_W > IN_W (a beat taken
// every cycle).
//
// Structure: no shifter and no variable offset, every word sits at a constant slice of a register.
// - WORD_W <= IN_W: the beat being unpacked (beat_q; its K * WORD_W used bits) leaves through a mux of K constant
//   slices picked by the slot counter slot_q, one word per cycle while m_axis_tready; a word counter in the pass
//   (widx_q, only when N_WORDS % K != 0) ends the pass's last beat early. A second beat (next_q) is taken while
//   the first is unpacked, so s_axis_tready comes from a register and still a new beat replaces beat_q in the
//   cycle its last word leaves (with K = 1 the input goes straight to beat_q; next_q only under backpressure).
// - WORD_W > IN_W: a serial-in parallel-out register of R beat slots (the last one WORD_W - (R - 1) * IN_W bits),
//   beat j of a word written into slot j (a decoded enable, no shift); the word leaves when R beats are in. A spare
//   beat (the next word's first) is taken while a complete word waits, so the input does not stop for the cycle
//   the word leaves: a word every R cycles.
// No combinational path from an input to an output: s_axis_tready, m_axis_tvalid and m_axis_tdata come from
// registers.

`default_nettype none

module fg_weight_gearbox #(
  parameter int unsigned IN_W    = 64,  // beat bits (64: Zynq-7000 HP ports; 128: UltraScale+)
  parameter int unsigned WORD_W  = 72,  // word bits (fg_dense: P * W_W)
  parameter int unsigned N_WORDS = 16   // words per pass
) (
  input  logic              clk_i,
  input  logic              rst_ni,

  input  logic [IN_W-1:0]   s_axis_tdata,
  input  logic              s_axis_tlast,   // ignored: the pass length is N_WORDS
  input  logic              s_axis_tvalid,
  output logic              s_axis_tready,

  output logic [WORD_W-1:0] m_axis_tdata,
  output logic              m_axis_tvalid,
  input  logic              m_axis_tready
);

  if (IN_W < 1 || WORD_W < 1 || N_WORDS < 1) begin : gen_err_size
    $fatal(1, "fg_weight_gearbox: need IN_W, WORD_W, N_WORDS >= 1 (IN_W=%0d WORD_W=%0d N_WORDS=%0d)",
           IN_W, WORD_W, N_WORDS);
  end

  logic unused_tlast;
  assign unused_tlast = s_axis_tlast;

  if (WORD_W <= IN_W) begin : gen_narrow
    // ---- K words per beat: a mux of K constant slices ------------------------------------------------------
    localparam int unsigned K = IN_W / WORD_W;  // words per beat
    localparam int unsigned UsedW = K * WORD_W;  // the beat's bits that hold words
    localparam int unsigned SlotW = (K > 1) ? $clog2(K) : 1;

    logic [UsedW-1:0] beat_q, next_q;  // the beat being unpacked, the one after it
    logic beat_v_q, next_v_q;
    logic [SlotW-1:0] slot_q;  // the next word's slot in beat_q
    logic last_slot, beat_done, pop, push;

    assign m_axis_tvalid = beat_v_q;
    assign s_axis_tready = !next_v_q;
    assign pop = beat_v_q && m_axis_tready;
    assign push = s_axis_tvalid && !next_v_q;
    assign beat_done = pop && last_slot;

    // beat_q's last word: its K-th, or the pass's last (the rest of the pass's last beat is empty); a word
    // counter only where N_WORDS is not a multiple of K
    if (N_WORDS % K != 0) begin : gen_ragged
      localparam int unsigned WidxW = (N_WORDS > 1) ? $clog2(N_WORDS) : 1;
      logic [WidxW-1:0] widx_q;  // the next word's index in its pass
      logic last_word;

      assign last_word = widx_q == WidxW'(N_WORDS - 1);
      assign last_slot = slot_q == SlotW'(K - 1) || last_word;

      always_ff @(posedge clk_i or negedge rst_ni) begin
        if (!rst_ni) begin
          widx_q <= '0;
        end else if (pop) begin
          widx_q <= last_word ? '0 : widx_q + WidxW'(1);
        end
      end
    end else begin : gen_whole
      assign last_slot = slot_q == SlotW'(K - 1);
    end

    always_comb begin
      m_axis_tdata = beat_q[WORD_W-1:0];
      for (int k = 1; k < int'(K); k++) begin
        if (slot_q == SlotW'(k)) begin
          m_axis_tdata = beat_q[k*WORD_W +: WORD_W];
        end
      end
    end

    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        beat_v_q <= 1'b0;
        next_v_q <= 1'b0;
        slot_q <= '0;
      end else begin
        if (beat_done || !beat_v_q) begin  // beat_q free: the waiting beat, else the input's
          beat_v_q <= next_v_q || push;
          next_v_q <= 1'b0;  // push needs !next_v_q: a beat taken now goes to beat_q
        end else if (push) begin
          next_v_q <= 1'b1;
        end
        if (pop) begin
          slot_q <= last_slot ? '0 : slot_q + SlotW'(1);
        end
      end
    end

    always_ff @(posedge clk_i) begin
      if (beat_done || !beat_v_q) begin
        beat_q <= next_v_q ? next_q : s_axis_tdata[UsedW-1:0];
      end else if (push) begin
        next_q <= s_axis_tdata[UsedW-1:0];
      end
    end

    if (UsedW < IN_W) begin : gen_unused_pad
      logic [IN_W-UsedW-1:0] unused_pad;  // the zero bits above a beat's K words
      assign unused_pad = s_axis_tdata[IN_W-1:UsedW];
    end

  end else begin : gen_wide
    // ---- R beats per word: a serial-in parallel-out register -----------------------------------------------
    localparam int unsigned R = (WORD_W + IN_W - 1) / IN_W;  // beats per word, >= 2
    localparam int unsigned TopW = WORD_W - (R - 1) * IN_W;  // the word's bits in its last beat
    localparam int unsigned CntW = $clog2(R + 1);

    logic [WORD_W-1:0] word_q;  // beat j of the word in bits [j * IN_W, min((j + 1) * IN_W, WORD_W))
    logic [IN_W-1:0] spare_q;  // the next word's first beat, taken while word_q waits
    logic spare_v_q;
    logic [CntW-1:0] cnt_q;  // beats in word_q
    logic pop, push, full;

    assign full = cnt_q == CntW'(R);
    assign m_axis_tvalid = full;
    assign m_axis_tdata = word_q;
    assign s_axis_tready = !spare_v_q;
    assign pop = full && m_axis_tready;
    assign push = s_axis_tvalid && !spare_v_q;

    always_ff @(posedge clk_i or negedge rst_ni) begin
      if (!rst_ni) begin
        cnt_q <= '0;
        spare_v_q <= 1'b0;
      end else begin
        if (pop) begin  // slot 0 takes the spare (no push then: s_axis_tready was low) or the input's beat
          cnt_q <= CntW'(spare_v_q || push);
          spare_v_q <= 1'b0;
        end else if (push) begin
          if (full) begin
            spare_v_q <= 1'b1;
          end else begin
            cnt_q <= cnt_q + CntW'(1);
          end
        end
      end
    end

    always_ff @(posedge clk_i) begin
      if (pop || (push && cnt_q == '0)) begin
        word_q[IN_W-1:0] <= spare_v_q ? spare_q : s_axis_tdata;
      end
      for (int j = 1; j < int'(R) - 1; j++) begin
        if (push && cnt_q == CntW'(j)) begin
          word_q[j*IN_W +: IN_W] <= s_axis_tdata;
        end
      end
      if (push && cnt_q == CntW'(R - 1)) begin
        word_q[WORD_W-1:(R-1)*IN_W] <= s_axis_tdata[TopW-1:0];
      end
      if (push && full && !pop) begin
        spare_q <= s_axis_tdata;
      end
    end
  end

endmodule

`default_nettype wire
