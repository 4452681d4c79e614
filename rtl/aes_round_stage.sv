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
//
// How it is written (simulation speed; the logic is what a round always is): the round is a
// function of the stage input evaluated inside the clocked block under valid_i, so the verilated
// model computes a stage only when a beat is in it (datapath flops carry no reset and valid_o
// qualifies them, so holding them when idle is invisible outside). It works on 32-bit columns:
// SubBytes+ShiftRows gather four S-box outputs into a column word, MixColumns is the word-level
// form out = xtime(w ^ rotr8(w)) ^ rotr8(w) ^ rotr16(w) ^ rotr24(w), the same XOR network as the
// per-byte formula. Every part select is 32-bit aligned, which Verilator turns into whole-word
// loads and stores instead of read-mask-or byte inserts into 512-bit vectors; the S-box is a
// constant ROM indexed by the byte (one table load in the C++, a 256x8 ROM for synthesis, the
// same as the former 256-entry case ROM module, of which there were ~1 000 instances).
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

  // AES S-box (FIPS-197 §5.1.1): S(x) is bits [32x+7:32x], bits [32x+31:32x+8] are zero.
  // Generated from the definition (multiplicative inverse in GF(2^8) mod x^8+x^4+x^3+x+1, then
  // the affine map with constant 0x63) and checked against it, not copied; the NIST/Wycheproof
  // known-answer tests exercise it. Why 32-bit entries: a 32-bit aligned part select of a
  // constant is one array load in the verilated C++ (gcc folds Verilator's generic wide-select
  // code), an 8-bit one is ~15 instructions and a branch. The zero bits are constants, so for
  // synthesis this is the same 256x8 ROM.
  localparam logic [8191:0] SBOX = {
    256'h00000016_000000bb_00000054_000000b0_0000000f_0000002d_00000099_00000041,  // x = 255 .. 248
    256'h00000068_00000042_000000e6_000000bf_0000000d_00000089_000000a1_0000008c,  // x = 247 .. 240
    256'h000000df_00000028_00000055_000000ce_000000e9_00000087_0000001e_0000009b,  // x = 239 .. 232
    256'h00000094_0000008e_000000d9_00000069_00000011_00000098_000000f8_000000e1,  // x = 231 .. 224
    256'h0000009e_0000001d_000000c1_00000086_000000b9_00000057_00000035_00000061,  // x = 223 .. 216
    256'h0000000e_000000f6_00000003_00000048_00000066_000000b5_0000003e_00000070,  // x = 215 .. 208
    256'h0000008a_0000008b_000000bd_0000004b_0000001f_00000074_000000dd_000000e8,  // x = 207 .. 200
    256'h000000c6_000000b4_000000a6_0000001c_0000002e_00000025_00000078_000000ba,  // x = 199 .. 192
    256'h00000008_000000ae_0000007a_00000065_000000ea_000000f4_00000056_0000006c,  // x = 191 .. 184
    256'h000000a9_0000004e_000000d5_0000008d_0000006d_00000037_000000c8_000000e7,  // x = 183 .. 176
    256'h00000079_000000e4_00000095_00000091_00000062_000000ac_000000d3_000000c2,  // x = 175 .. 168
    256'h0000005c_00000024_00000006_00000049_0000000a_0000003a_00000032_000000e0,  // x = 167 .. 160
    256'h000000db_0000000b_0000005e_000000de_00000014_000000b8_000000ee_00000046,  // x = 159 .. 152
    256'h00000088_00000090_0000002a_00000022_000000dc_0000004f_00000081_00000060,  // x = 151 .. 144
    256'h00000073_00000019_0000005d_00000064_0000003d_0000007e_000000a7_000000c4,  // x = 143 .. 136
    256'h00000017_00000044_00000097_0000005f_000000ec_00000013_0000000c_000000cd,  // x = 135 .. 128
    256'h000000d2_000000f3_000000ff_00000010_00000021_000000da_000000b6_000000bc,  // x = 127 .. 120
    256'h000000f5_00000038_0000009d_00000092_0000008f_00000040_000000a3_00000051,  // x = 119 .. 112
    256'h000000a8_0000009f_0000003c_00000050_0000007f_00000002_000000f9_00000045,  // x = 111 .. 104
    256'h00000085_00000033_0000004d_00000043_000000fb_000000aa_000000ef_000000d0,  // x = 103 ..  96
    256'h000000cf_00000058_0000004c_0000004a_00000039_000000be_000000cb_0000006a,  // x =  95 ..  88
    256'h0000005b_000000b1_000000fc_00000020_000000ed_00000000_000000d1_00000053,  // x =  87 ..  80
    256'h00000084_0000002f_000000e3_00000029_000000b3_000000d6_0000003b_00000052,  // x =  79 ..  72
    256'h000000a0_0000005a_0000006e_0000001b_0000001a_0000002c_00000083_00000009,  // x =  71 ..  64
    256'h00000075_000000b2_00000027_000000eb_000000e2_00000080_00000012_00000007,  // x =  63 ..  56
    256'h0000009a_00000005_00000096_00000018_000000c3_00000023_000000c7_00000004,  // x =  55 ..  48
    256'h00000015_00000031_000000d8_00000071_000000f1_000000e5_000000a5_00000034,  // x =  47 ..  40
    256'h000000cc_000000f7_0000003f_00000036_00000026_00000093_000000fd_000000b7,  // x =  39 ..  32
    256'h000000c0_00000072_000000a4_0000009c_000000af_000000a2_000000d4_000000ad,  // x =  31 ..  24
    256'h000000f0_00000047_00000059_000000fa_0000007d_000000c9_00000082_000000ca,  // x =  23 ..  16
    256'h00000076_000000ab_000000d7_000000fe_0000002b_00000067_00000001_00000030,  // x =  15 ..   8
    256'h000000c5_0000006f_0000006b_000000f2_0000007b_00000077_0000007c_00000063   // x =   7 ..   0
  };

  function automatic logic [7:0] sbox(input logic [7:0] x);
    sbox = 8'(SBOX[32*x +: 32]);
  endfunction

  // SubWord with ShiftRows' byte gather: bytes b0..b3 (b0 -> [7:0]) through the S-box.
  function automatic logic [31:0] sub4(input logic [7:0] b0, input logic [7:0] b1,
                                       input logic [7:0] b2, input logic [7:0] b3);
    sub4 = {sbox(b3), sbox(b2), sbox(b1), sbox(b0)};
  endfunction

  // xtime (multiply by x in GF(2^8)) on the four bytes of a word at once: shift each byte left,
  // reduce the bytes whose top bit fell out by 0x1b = x^4+x^3+x+1.
  function automatic logic [31:0] xtime4(input logic [31:0] w);
    logic [31:0] hb;
    hb     = (w >> 7) & 32'h0101_0101;
    xtime4 = ((w & 32'h7f7f_7f7f) << 1) ^ hb ^ (hb << 1) ^ (hb << 3) ^ (hb << 4);
  endfunction

  // MixColumns of one column (FIPS-197 §5.1.3): out_r = 2a_r ^ 3a_(r+1) ^ a_(r+2) ^ a_(r+3)
  // (row indices mod 4), with a_r at bits [8r+7:8r]; rotr8 moves a_(r+1) to row r.
  function automatic logic [31:0] mix_column(input logic [31:0] w);
    logic [31:0] r1, r2, r3;
    r1 = {w[7:0], w[31:8]};
    r2 = {w[15:0], w[31:16]};
    r3 = {w[23:0], w[31:24]};
    mix_column = xtime4(w ^ r1) ^ r1 ^ r2 ^ r3;
  endfunction

  // One round on every lane: SubBytes, ShiftRows (row r rotates left by r columns:
  // out[4c+r] = in[4((c+r)%4)+r]), MixColumns unless last, AddRoundKey.
  function automatic logic [SW-1:0] aes_round(input logic [SW-1:0] s, input logic [127:0] k,
                                              input logic last);
    logic [31:0] col;
    for (int l = 0; l < LANES; l++) begin
      for (int c = 0; c < 4; c++) begin
        col = sub4(s[128*l + 32*c            +: 8],
                   s[128*l + 32*((c + 1) % 4) + 8  +: 8],
                   s[128*l + 32*((c + 2) % 4) + 16 +: 8],
                   s[128*l + 32*((c + 3) % 4) + 24 +: 8]);
        aes_round[128*l + 32*c +: 32] = (last ? col : mix_column(col)) ^ k[32*c +: 32];
      end
    end
  endfunction

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

  // Round position of this stage for each key size (constants per instance).
  localparam bit          Round128Active = (ROUND <= 10);
  localparam bit          Round128Last   = (ROUND == 10);
  localparam bit          Round256Last   = (ROUND == 14);
  localparam bit          Round256Rot    = ((ROUND % 2) == 0);
  localparam logic [7:0]  Rcon128        = rcon(ROUND);
  localparam logic [7:0]  Rcon256        = Round256Rot ? rcon(ROUND / 2) : 8'h00;

  // ---- key expansion step -------------------------------------------------------------------
  // Cheap next to the round (4 S-boxes for all lanes), so it stays combinational.
  logic [31:0]  sub_in, sw_in, sw_out, temp;
  logic [127:0] base, new_words, rk;
  logic [255:0] kw_next;

  always_comb begin
    sub_in = kw_i[255:224];
    // RotWord: [b0 b1 b2 b3] -> [b1 b2 b3 b0]
    sw_in  = (!key256_i || Round256Rot) ? {sub_in[7:0], sub_in[31:8]} : sub_in;
    sw_out = sub4(sw_in[7:0], sw_in[15:8], sw_in[23:16], sw_in[31:24]);
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

  logic do_round, last_round;
  always_comb begin
    do_round   = key256_i || Round128Active;
    last_round = key256_i ? Round256Last : Round128Last;
  end

  // ---- pipeline register --------------------------------------------------------------------
  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      valid_o <= 1'b0;
    end else begin
      valid_o <= valid_i;
    end
  end

  // Datapath flops carry no reset and load only with a beat: valid_o qualifies them.
  always_ff @(posedge clk_i) begin
    if (valid_i) begin
      key256_o <= key256_i;
      if (do_round) begin
        kw_o    <= kw_next;
        state_o <= aes_round(state_i, rk, last_round);
      end else begin
        kw_o    <= kw_i;
        state_o <= state_i;
      end
    end
  end
endmodule
