// One register stage of the unrolled AES pipeline: round ROUND (1..14) for LANES blocks that
// share one key, plus one step of the key expansion computed alongside (4 S-boxes shared by all
// lanes), so every beat carries its own key and any beat may belong to another flow
// (crypto-engine.md §7.2).
//
// Byte order: block byte i is bits [8i+7:8i]; the AES state column c is bytes 4c..4c+3, row r
// of column c is byte 4c+r (FIPS-197 §3.4). Key words w[j] are key bytes 4j..4j+3 packed the
// same way (byte 4j in bits [7:0] of the word).
//
// Key window kw: the last eight expanded words w[i-8..i-1] for AES-256; for AES-128 only the
// top four (w[i-4..i-1], bits [255:128]) matter. At stage ROUND the round key is w[4R..4R+3]:
//   AES-128: w[i] = w[i-4] ^ SubWord(RotWord(w[i-1])) ^ Rcon[i/4] for i%4==0, else w[i-4]^w[i-1]
//   AES-256: w[i] = w[i-8] ^ SubWord(RotWord(w[i-1])) ^ Rcon[i/8] for i%8==0,
//            w[i-8] ^ SubWord(w[i-1]) for i%8==4, else w[i-8] ^ w[i-1]   (FIPS-197 §5.2)
// Both read SubWord's input from w[i-1] = kw[255:224], so one 4-S-box SubWord serves both.
//
// Both key sizes take the same number of stages: AES-128 finishes at stage 10 and its beats ride
// unchanged through stages 11..14, so beats never overtake each other and the keystream FIFO
// stays in issue order.
module aes_round_stage #(
  parameter int unsigned LANES = 4,
  parameter int unsigned ROUND = 1
) (
  input  logic                   clk_i,
  input  logic                   rst_ni,
  input  logic                   valid_i,
  input  logic                   key256_i,
  input  logic [255:0]           kw_i,
  input  logic [LANES*128-1:0]   state_i,
  output logic                   valid_o,
  output logic                   key256_o,
  output logic [255:0]           kw_o,
  output logic [LANES*128-1:0]   state_o
);
  localparam int unsigned SW = LANES * 128;

  // Rcon[j] = x^(j-1) in GF(2^8), j = 1..10 (FIPS-197 §5.2).
  function automatic logic [7:0] rcon(input int unsigned j);
    logic [7:0] r;
    case (j)
      1:       r = 8'h01;
      2:       r = 8'h02;
      3:       r = 8'h04;
      4:       r = 8'h08;
      5:       r = 8'h10;
      6:       r = 8'h20;
      7:       r = 8'h40;
      8:       r = 8'h80;
      9:       r = 8'h1b;
      10:      r = 8'h36;
      default: r = 8'h00;
    endcase
    rcon = r;
  endfunction

  function automatic logic [7:0] xtime(input logic [7:0] a);
    xtime = {a[6:0], 1'b0} ^ (a[7] ? 8'h1b : 8'h00);
  endfunction

  // MixColumns of one column (FIPS-197 §5.1.3), bytes a0 at [7:0] .. a3 at [31:24].
  function automatic logic [31:0] mix_column(input logic [31:0] c);
    logic [7:0] a0, a1, a2, a3;
    a0 = c[7:0];
    a1 = c[15:8];
    a2 = c[23:16];
    a3 = c[31:24];
    mix_column = {xtime(a3) ^ a0 ^ a1 ^ a2 ^ xtime(a0),
                  xtime(a2) ^ a3 ^ xtime(a3) ^ a0 ^ a1,
                  xtime(a1) ^ a2 ^ xtime(a2) ^ a3 ^ a0,
                  xtime(a0) ^ a1 ^ xtime(a1) ^ a2 ^ a3};
  endfunction

  // Round position of this stage for each key size (constants per instance).
  localparam bit          Round128Active = (ROUND <= 10);
  localparam bit          Round128Last   = (ROUND == 10);
  localparam bit          Round256Last   = (ROUND == 14);
  localparam bit          Round256Rot    = ((ROUND % 2) == 0);
  localparam logic [7:0]  Rcon128        = rcon(ROUND);
  localparam logic [7:0]  Rcon256        = Round256Rot ? rcon(ROUND / 2) : 8'h00;

  // ---- key expansion step -------------------------------------------------------------------
  logic [31:0]  sub_in, rot_in, sw_in, sw_out, temp;
  logic [127:0] base, new_words, rk;
  logic [255:0] kw_next;

  always_comb begin
    sub_in = kw_i[255:224];
    rot_in = {sub_in[7:0], sub_in[31:8]};  // RotWord: [b0 b1 b2 b3] -> [b1 b2 b3 b0]
    sw_in  = (!key256_i || Round256Rot) ? rot_in : sub_in;
  end

  for (genvar b = 0; b < 4; b++) begin : g_subword
    aes_sbox u_sbox (.in_i(sw_in[8*b +: 8]), .out_o(sw_out[8*b +: 8]));
  end

  always_comb begin
    temp = sw_out ^ {24'b0, key256_i ? Rcon256 : Rcon128};
    base = key256_i ? kw_i[127:0] : kw_i[255:128];
    new_words[31:0]   = base[31:0] ^ temp;
    new_words[63:32]  = base[63:32] ^ new_words[31:0];
    new_words[95:64]  = base[95:64] ^ new_words[63:32];
    new_words[127:96] = base[127:96] ^ new_words[95:64];
    if (key256_i && ROUND == 1) begin
      // AES-256 round 1 uses w[4..7], which is the second half of the key itself.
      rk      = kw_i[255:128];
      kw_next = kw_i;
    end else begin
      rk      = new_words;
      kw_next = {new_words, kw_i[255:128]};
    end
  end

  // ---- round function on every lane -----------------------------------------------------------
  logic [SW-1:0] sub_bytes, shifted, mixed, round_out;

  for (genvar l = 0; l < LANES; l++) begin : g_lane
    for (genvar b = 0; b < 16; b++) begin : g_sbox
      aes_sbox u_sbox (.in_i(state_i[128*l + 8*b +: 8]), .out_o(sub_bytes[128*l + 8*b +: 8]));
    end
  end

  logic do_round, last_round;
  always_comb begin
    do_round   = key256_i || Round128Active;
    last_round = key256_i ? Round256Last : Round128Last;
  end

  always_comb begin
    for (int l = 0; l < LANES; l++) begin
      // ShiftRows: row r rotates left by r columns: out[4c+r] = in[4((c+r)%4)+r].
      for (int c = 0; c < 4; c++) begin
        for (int r = 0; r < 4; r++) begin
          shifted[128*l + 8*(4*c + r) +: 8] = sub_bytes[128*l + 8*(4*((c + r) % 4) + r) +: 8];
        end
      end
      for (int c = 0; c < 4; c++) begin
        mixed[128*l + 32*c +: 32] = last_round ? shifted[128*l + 32*c +: 32]
                                               : mix_column(shifted[128*l + 32*c +: 32]);
      end
      round_out[128*l +: 128] = do_round ? (mixed[128*l +: 128] ^ rk) : state_i[128*l +: 128];
    end
  end

  // ---- pipeline register --------------------------------------------------------------------
  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      valid_o <= 1'b0;
    end else begin
      valid_o <= valid_i;
    end
  end

  // Datapath flops carry no reset: valid_o qualifies them.
  always_ff @(posedge clk_i) begin
    key256_o <= key256_i;
    kw_o     <= (key256_i || Round128Active) ? kw_next : kw_i;
    state_o  <= round_out;
  end
endmodule
