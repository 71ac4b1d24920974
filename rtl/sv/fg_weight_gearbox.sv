// Weight gearbox: the DMA's IN_W-bit beats of a weight file in, WORD_W-bit weight words out (the s_axis_w
// words of fg_dense with WEIGHT_SOURCE LOADED or STREAMED, WORD_W = P * W_W).
//
// Layout (the `.weights` layout of fpgagen.core.weight_stream): a pass is N_WORDS words, bit-contiguous, LSB
// first (bit b of word k is bit k * WORD_W + b of the pass; bit i of the pass is bit i % IN_W of beat
// i / IN_W), zero-padded to NBeats = ceil(N_WORDS * WORD_W / IN_W) whole beats. Passes follow each other, each
// starting on a beat boundary: the padding bits of a pass's last beat are dropped. Any WORD_W and IN_W (either
// larger, equal, not multiples of each other). s_axis_tlast is accepted and ignored; m_axis has no TLAST.
//
// Throughput (exact, both sides always ready and the input never idle): after the first pass, passes leave back
// to back every max(N_WORDS, NBeats) cycles: a word every cycle when WORD_W <= IN_W (the output is the
// bottleneck), a beat taken every cycle when WORD_W > IN_W (the input is). That is min(1, IN_W / WORD_W) words
// per cycle but for the padding of each pass's last beat.
//
// Structure: a window of S = R + 1 beats (R: the most beats one word can span, from an offset that is a multiple
// of G = gcd(IN_W, WORD_W)), filled at the first free beat slot and shifted by whole beats; the word at bit
// offset off_q * G of the window leaves through a mux of IN_W / G constant slices (no barrel shifter). A word
// that leaves drops the beats it finished (the last word of a pass: every beat it touched, padding included).
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

  function automatic int unsigned gcd(int unsigned a, int unsigned b);
    int unsigned x = a, y = b, t;
    while (y != 0) begin
      t = x % y;
      x = y;
      y = t;
    end
    return x;
  endfunction

  localparam int unsigned G = gcd(IN_W, WORD_W);  // word offsets within a beat are multiples of G
  localparam int unsigned NOff = (G > 0) ? IN_W / G : 1;  // offsets in a beat
  localparam int unsigned WordG = (G > 0) ? WORD_W / G : 1;  // a word in units of G
  localparam int unsigned Q = WordG / NOff;  // whole beats in a word
  localparam int unsigned Rem = WordG % NOff;  // the rest, in units of G
  localparam int unsigned R = (IN_W - G + WORD_W + IN_W - 1) / IN_W;  // the most beats one word spans
  localparam int unsigned S = R + 1;  // window beats: one more keeps the input running while a word waits
  localparam int unsigned OffW = (NOff > 1) ? $clog2(NOff) : 1;
  localparam int unsigned SumW = $clog2(2 * NOff + 1);  // off_q + Rem < 2 * NOff
  localparam int unsigned NbW = $clog2(S + 1);
  localparam int unsigned WidxW = (N_WORDS > 1) ? $clog2(N_WORDS) : 1;

  if (IN_W < 1 || WORD_W < 1 || N_WORDS < 1) begin : gen_err_size
    $fatal(1, "fg_weight_gearbox: need IN_W, WORD_W, N_WORDS >= 1 (IN_W=%0d WORD_W=%0d N_WORDS=%0d)",
           IN_W, WORD_W, N_WORDS);
  end

  logic [S*IN_W-1:0] win_d, win_q, kept;  // beat j of the window in bits [j * IN_W, (j + 1) * IN_W)
  logic [NbW-1:0] nb_d, nb_q, nb_kept;  // beats in the window
  logic [OffW-1:0] off_d, off_q;  // the next word's offset in beat 0, in units of G
  logic [WidxW-1:0] widx_d, widx_q;  // the next word's index in its pass
  logic [SumW-1:0] sum;
  logic [OffW-1:0] off_next;
  logic carry, last_word, push, pop;
  logic [NbW-1:0] need, drop;

  // Where the next word ends: off_q + WordG = (Q + carry) * NOff + off_next (units of G)
  always_comb begin
    sum = SumW'(off_q) + SumW'(Rem);
    carry = sum >= SumW'(NOff);
    off_next = OffW'(carry ? sum - SumW'(NOff) : sum);
    need = NbW'(Q) + NbW'(carry) + NbW'(off_next != '0);  // beats the word touches
  end

  assign last_word = widx_q == WidxW'(N_WORDS - 1);
  assign m_axis_tvalid = nb_q >= need;
  assign s_axis_tready = nb_q < NbW'(S);
  assign pop = m_axis_tvalid && m_axis_tready;
  assign push = s_axis_tvalid && s_axis_tready;
  // a word drops the beats it finished; the last of a pass every beat it touched (the padding with it)
  assign drop = !pop ? '0 : last_word ? need : NbW'(Q) + NbW'(carry);

  // The word at offset off_q: a mux over constant slices
  always_comb begin
    m_axis_tdata = win_q[WORD_W-1:0];
    for (int k = 1; k < int'(NOff); k++) begin
      if (off_q == OffW'(k)) begin
        m_axis_tdata = win_q[k*G +: WORD_W];
      end
    end
  end

  always_comb begin
    kept = win_q;
    for (int k = 1; k <= int'(S); k++) begin
      if (drop == NbW'(k)) begin
        kept = win_q >> (k * IN_W);
      end
    end
    nb_kept = nb_q - drop;
    win_d = kept;
    if (push) begin
      for (int j = 0; j < int'(S); j++) begin
        if (nb_kept == NbW'(j)) begin
          win_d[j*IN_W +: IN_W] = s_axis_tdata;
        end
      end
    end
    nb_d = nb_kept + NbW'(push);
    off_d = off_q;
    widx_d = widx_q;
    if (pop) begin
      off_d = last_word ? '0 : off_next;
      widx_d = last_word ? '0 : widx_q + WidxW'(1);
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      nb_q <= '0;
      off_q <= '0;
      widx_q <= '0;
    end else begin
      nb_q <= nb_d;
      off_q <= off_d;
      widx_q <= widx_d;
    end
  end

  always_ff @(posedge clk_i) begin
    win_q <= win_d;
  end

  logic unused_tlast;
  assign unused_tlast = s_axis_tlast;

endmodule

`default_nettype wire
