// Table activation on every lane (hls4ml nnet::tanh / nnet::sigmoid): y = cast(table[index(x)]) with
//   index(x) = clamp(trunc_toward_zero(x * TABLE_SIZE / SPAN) + TABLE_SIZE / 2, 0, TABLE_SIZE - 1)
// exactly as fpgagen.hls.golden.table_index (SPAN 8 for tanh, 16 for sigmoid). TABLE_SIZE and SPAN must be
// powers of two, so the scaling is a shift. Table codes (TABLE_W/TABLE_F/TABLE_SIGNED) come from TABLE_FILE
// (fpgagen.rtl.memfiles.write_table); the cast goes to OUT_W/OUT_F/OUT_SIGNED with ROUNDING, OVERFLOW.
// One beat per cycle, TLAST kept; each lane reads its own copy of the table (a ROM per lane, as hls4ml).

`default_nettype none

module fg_lut_act #(
  parameter int unsigned LANES        = 1,     // lanes per beat (channels)
  parameter int unsigned IN_W         = 16,    // input width
  parameter int          IN_F         = 8,     // input fraction bits
  parameter bit          IN_SIGNED    = 1'b1,  // input signed (else unsigned)
  parameter int unsigned TABLE_SIZE   = 1024,  // table entries (power of two)
  parameter int unsigned SPAN         = 8,     // input range covered by the table: [-SPAN/2, SPAN/2)
  parameter int unsigned TABLE_W      = 18,    // table entry width
  parameter int          TABLE_F      = 10,    // table entry fraction bits
  parameter bit          TABLE_SIGNED = 1'b1,  // table entries signed (else unsigned)
  parameter int unsigned OUT_W        = 16,    // result width
  parameter int          OUT_F        = 8,     // result fraction bits
  parameter bit          OUT_SIGNED   = 1'b1,  // result signed (else unsigned)
  parameter int unsigned ROUNDING     = 0,     // rounding code
  parameter int unsigned OVERFLOW     = 0,     // overflow code
  parameter string       TABLE_FILE   = ""     // $readmemh file, TABLE_SIZE entries
) (
  input  logic                   clk_i,
  input  logic                   rst_ni,

  input  logic [LANES*IN_W-1:0]  s_axis_tdata,
  input  logic                   s_axis_tlast,
  input  logic                   s_axis_tvalid,
  output logic                   s_axis_tready,

  output logic [LANES*OUT_W-1:0] m_axis_tdata,
  output logic                   m_axis_tlast,
  output logic                   m_axis_tvalid,
  input  logic                   m_axis_tready
);

  localparam int unsigned IdxW = (TABLE_SIZE > 1) ? $clog2(TABLE_SIZE) : 1;
  // x * N / (SPAN * 2^IN_F) = x * 2^-Shift
  localparam int Shift = $clog2(SPAN) + IN_F - $clog2(TABLE_SIZE);
  localparam int unsigned MagA = IN_W + ((Shift < 0) ? -Shift : 0) + 1;
  localparam int unsigned MagW = (MagA > IdxW + 1) ? MagA : IdxW + 1;  // |x| scaled, and N/2
  localparam logic [IdxW-1:0] Mid = IdxW'(TABLE_SIZE / 2);

  if (TABLE_SIZE < 2 || (TABLE_SIZE & (TABLE_SIZE - 1)) != 0 || SPAN < 1 || (SPAN & (SPAN - 1)) != 0)
  begin : gen_err_table
    $fatal(1, "fg_lut_act: TABLE_SIZE=%0d and SPAN=%0d must be powers of two (TABLE_SIZE >= 2)",
           TABLE_SIZE, SPAN);
  end
  if (TABLE_FILE == "") begin : gen_err_file
    $fatal(1, "fg_lut_act: TABLE_FILE must name a $readmemh file");
  end

  logic [TABLE_W-1:0] table_rom [TABLE_SIZE];
  initial begin
    $readmemh(TABLE_FILE, table_rom);
  end

  logic [LANES*OUT_W-1:0] result;

  for (genvar l = 0; l < LANES; l++) begin : gen_lane
    logic [IN_W-1:0] x;
    logic neg;
    logic [MagW-1:0] mag, q;
    logic [IdxW-1:0] idx;
    logic [TABLE_W-1:0] entry;

    assign x = s_axis_tdata[l*IN_W +: IN_W];
    assign neg = IN_SIGNED && x[IN_W-1];

    always_comb begin
      mag = neg ? MagW'(-$signed({1'b1, x})) : MagW'({1'b0, x});
      if (Shift >= 0) begin
        q = mag >> ((Shift >= 0) ? Shift : 0);
      end else begin
        q = mag << ((Shift < 0) ? -Shift : 0);
      end
      if (q >= MagW'(TABLE_SIZE / 2)) begin
        idx = neg ? '0 : IdxW'(TABLE_SIZE - 1);
      end else if (neg) begin
        idx = Mid - IdxW'(q);
      end else begin
        idx = Mid + IdxW'(q);
      end
    end

    assign entry = table_rom[idx];

    fg_requant #(
      .IN_W      (TABLE_W),
      .IN_F      (TABLE_F),
      .IN_SIGNED (TABLE_SIGNED),
      .OUT_W     (OUT_W),
      .OUT_F     (OUT_F),
      .OUT_SIGNED(OUT_SIGNED),
      .ROUNDING  (ROUNDING),
      .OVERFLOW  (OVERFLOW)
    ) u_cast (
      .in_i (entry),
      .out_o(result[l*OUT_W +: OUT_W])
    );
  end

  fg_axis_reg #(
    .DATA_W(LANES * OUT_W)
  ) u_reg (
    .clk_i        (clk_i),
    .rst_ni       (rst_ni),
    .s_axis_tdata (result),
    .s_axis_tlast (s_axis_tlast),
    .s_axis_tvalid(s_axis_tvalid),
    .s_axis_tready(s_axis_tready),
    .m_axis_tdata (m_axis_tdata),
    .m_axis_tlast (m_axis_tlast),
    .m_axis_tvalid(m_axis_tvalid),
    .m_axis_tready(m_axis_tready)
  );

endmodule

`default_nettype wire
