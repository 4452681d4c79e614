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
// This is the hardware form (what synthesis reads, and what the verilated build with
// +define+NICSIM_SYNTH_FORMS simulates: test_rtl_engine_synthforms). Default Verilator builds
// take the simulation form of the whole pipeline in aes_ctr_pipe (a round loop over T-tables, see
// rtl/README "Simulation forms") and do not instantiate this module.
//
// How it is written (the logic is what a round always is): the round is a function of the stage
// input evaluated inside the clocked block under valid_i (datapath flops carry no reset and
// valid_o qualifies them). It works on 32-bit columns: SubBytes+ShiftRows gather four S-box
// outputs into a column word, MixColumns is the word-level form
// out = xtime(w ^ rotr8(w)) ^ rotr8(w) ^ rotr16(w) ^ rotr24(w), the same XOR network as the
// per-byte formula; every part select is 32-bit aligned. The S-box is a case ROM function (yosys
// turns it into a ROM; a constant part select of a packed table instead makes it build a huge
// shifter).
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

  // AES S-box (FIPS-197 §5.1.1). The table was generated from the definition (multiplicative
  // inverse in GF(2^8) mod x^8+x^4+x^3+x+1, then the affine map with constant 0x63) and checked
  // against it, not copied; the NIST/Wycheproof known-answer tests exercise it. The simulation
  // form's tables (aes_sim_pkg.sv) are checked against this case ROM entry by entry by the ctest
  // rtl_sbox_tables (rtl/check_sbox_tables.cmake).
  function automatic logic [7:0] sbox_case(input logic [7:0] x);
    unique case (x)
      8'h00: sbox_case = 8'h63; 8'h01: sbox_case = 8'h7c; 8'h02: sbox_case = 8'h77; 8'h03: sbox_case = 8'h7b;
      8'h04: sbox_case = 8'hf2; 8'h05: sbox_case = 8'h6b; 8'h06: sbox_case = 8'h6f; 8'h07: sbox_case = 8'hc5;
      8'h08: sbox_case = 8'h30; 8'h09: sbox_case = 8'h01; 8'h0a: sbox_case = 8'h67; 8'h0b: sbox_case = 8'h2b;
      8'h0c: sbox_case = 8'hfe; 8'h0d: sbox_case = 8'hd7; 8'h0e: sbox_case = 8'hab; 8'h0f: sbox_case = 8'h76;
      8'h10: sbox_case = 8'hca; 8'h11: sbox_case = 8'h82; 8'h12: sbox_case = 8'hc9; 8'h13: sbox_case = 8'h7d;
      8'h14: sbox_case = 8'hfa; 8'h15: sbox_case = 8'h59; 8'h16: sbox_case = 8'h47; 8'h17: sbox_case = 8'hf0;
      8'h18: sbox_case = 8'had; 8'h19: sbox_case = 8'hd4; 8'h1a: sbox_case = 8'ha2; 8'h1b: sbox_case = 8'haf;
      8'h1c: sbox_case = 8'h9c; 8'h1d: sbox_case = 8'ha4; 8'h1e: sbox_case = 8'h72; 8'h1f: sbox_case = 8'hc0;
      8'h20: sbox_case = 8'hb7; 8'h21: sbox_case = 8'hfd; 8'h22: sbox_case = 8'h93; 8'h23: sbox_case = 8'h26;
      8'h24: sbox_case = 8'h36; 8'h25: sbox_case = 8'h3f; 8'h26: sbox_case = 8'hf7; 8'h27: sbox_case = 8'hcc;
      8'h28: sbox_case = 8'h34; 8'h29: sbox_case = 8'ha5; 8'h2a: sbox_case = 8'he5; 8'h2b: sbox_case = 8'hf1;
      8'h2c: sbox_case = 8'h71; 8'h2d: sbox_case = 8'hd8; 8'h2e: sbox_case = 8'h31; 8'h2f: sbox_case = 8'h15;
      8'h30: sbox_case = 8'h04; 8'h31: sbox_case = 8'hc7; 8'h32: sbox_case = 8'h23; 8'h33: sbox_case = 8'hc3;
      8'h34: sbox_case = 8'h18; 8'h35: sbox_case = 8'h96; 8'h36: sbox_case = 8'h05; 8'h37: sbox_case = 8'h9a;
      8'h38: sbox_case = 8'h07; 8'h39: sbox_case = 8'h12; 8'h3a: sbox_case = 8'h80; 8'h3b: sbox_case = 8'he2;
      8'h3c: sbox_case = 8'heb; 8'h3d: sbox_case = 8'h27; 8'h3e: sbox_case = 8'hb2; 8'h3f: sbox_case = 8'h75;
      8'h40: sbox_case = 8'h09; 8'h41: sbox_case = 8'h83; 8'h42: sbox_case = 8'h2c; 8'h43: sbox_case = 8'h1a;
      8'h44: sbox_case = 8'h1b; 8'h45: sbox_case = 8'h6e; 8'h46: sbox_case = 8'h5a; 8'h47: sbox_case = 8'ha0;
      8'h48: sbox_case = 8'h52; 8'h49: sbox_case = 8'h3b; 8'h4a: sbox_case = 8'hd6; 8'h4b: sbox_case = 8'hb3;
      8'h4c: sbox_case = 8'h29; 8'h4d: sbox_case = 8'he3; 8'h4e: sbox_case = 8'h2f; 8'h4f: sbox_case = 8'h84;
      8'h50: sbox_case = 8'h53; 8'h51: sbox_case = 8'hd1; 8'h52: sbox_case = 8'h00; 8'h53: sbox_case = 8'hed;
      8'h54: sbox_case = 8'h20; 8'h55: sbox_case = 8'hfc; 8'h56: sbox_case = 8'hb1; 8'h57: sbox_case = 8'h5b;
      8'h58: sbox_case = 8'h6a; 8'h59: sbox_case = 8'hcb; 8'h5a: sbox_case = 8'hbe; 8'h5b: sbox_case = 8'h39;
      8'h5c: sbox_case = 8'h4a; 8'h5d: sbox_case = 8'h4c; 8'h5e: sbox_case = 8'h58; 8'h5f: sbox_case = 8'hcf;
      8'h60: sbox_case = 8'hd0; 8'h61: sbox_case = 8'hef; 8'h62: sbox_case = 8'haa; 8'h63: sbox_case = 8'hfb;
      8'h64: sbox_case = 8'h43; 8'h65: sbox_case = 8'h4d; 8'h66: sbox_case = 8'h33; 8'h67: sbox_case = 8'h85;
      8'h68: sbox_case = 8'h45; 8'h69: sbox_case = 8'hf9; 8'h6a: sbox_case = 8'h02; 8'h6b: sbox_case = 8'h7f;
      8'h6c: sbox_case = 8'h50; 8'h6d: sbox_case = 8'h3c; 8'h6e: sbox_case = 8'h9f; 8'h6f: sbox_case = 8'ha8;
      8'h70: sbox_case = 8'h51; 8'h71: sbox_case = 8'ha3; 8'h72: sbox_case = 8'h40; 8'h73: sbox_case = 8'h8f;
      8'h74: sbox_case = 8'h92; 8'h75: sbox_case = 8'h9d; 8'h76: sbox_case = 8'h38; 8'h77: sbox_case = 8'hf5;
      8'h78: sbox_case = 8'hbc; 8'h79: sbox_case = 8'hb6; 8'h7a: sbox_case = 8'hda; 8'h7b: sbox_case = 8'h21;
      8'h7c: sbox_case = 8'h10; 8'h7d: sbox_case = 8'hff; 8'h7e: sbox_case = 8'hf3; 8'h7f: sbox_case = 8'hd2;
      8'h80: sbox_case = 8'hcd; 8'h81: sbox_case = 8'h0c; 8'h82: sbox_case = 8'h13; 8'h83: sbox_case = 8'hec;
      8'h84: sbox_case = 8'h5f; 8'h85: sbox_case = 8'h97; 8'h86: sbox_case = 8'h44; 8'h87: sbox_case = 8'h17;
      8'h88: sbox_case = 8'hc4; 8'h89: sbox_case = 8'ha7; 8'h8a: sbox_case = 8'h7e; 8'h8b: sbox_case = 8'h3d;
      8'h8c: sbox_case = 8'h64; 8'h8d: sbox_case = 8'h5d; 8'h8e: sbox_case = 8'h19; 8'h8f: sbox_case = 8'h73;
      8'h90: sbox_case = 8'h60; 8'h91: sbox_case = 8'h81; 8'h92: sbox_case = 8'h4f; 8'h93: sbox_case = 8'hdc;
      8'h94: sbox_case = 8'h22; 8'h95: sbox_case = 8'h2a; 8'h96: sbox_case = 8'h90; 8'h97: sbox_case = 8'h88;
      8'h98: sbox_case = 8'h46; 8'h99: sbox_case = 8'hee; 8'h9a: sbox_case = 8'hb8; 8'h9b: sbox_case = 8'h14;
      8'h9c: sbox_case = 8'hde; 8'h9d: sbox_case = 8'h5e; 8'h9e: sbox_case = 8'h0b; 8'h9f: sbox_case = 8'hdb;
      8'ha0: sbox_case = 8'he0; 8'ha1: sbox_case = 8'h32; 8'ha2: sbox_case = 8'h3a; 8'ha3: sbox_case = 8'h0a;
      8'ha4: sbox_case = 8'h49; 8'ha5: sbox_case = 8'h06; 8'ha6: sbox_case = 8'h24; 8'ha7: sbox_case = 8'h5c;
      8'ha8: sbox_case = 8'hc2; 8'ha9: sbox_case = 8'hd3; 8'haa: sbox_case = 8'hac; 8'hab: sbox_case = 8'h62;
      8'hac: sbox_case = 8'h91; 8'had: sbox_case = 8'h95; 8'hae: sbox_case = 8'he4; 8'haf: sbox_case = 8'h79;
      8'hb0: sbox_case = 8'he7; 8'hb1: sbox_case = 8'hc8; 8'hb2: sbox_case = 8'h37; 8'hb3: sbox_case = 8'h6d;
      8'hb4: sbox_case = 8'h8d; 8'hb5: sbox_case = 8'hd5; 8'hb6: sbox_case = 8'h4e; 8'hb7: sbox_case = 8'ha9;
      8'hb8: sbox_case = 8'h6c; 8'hb9: sbox_case = 8'h56; 8'hba: sbox_case = 8'hf4; 8'hbb: sbox_case = 8'hea;
      8'hbc: sbox_case = 8'h65; 8'hbd: sbox_case = 8'h7a; 8'hbe: sbox_case = 8'hae; 8'hbf: sbox_case = 8'h08;
      8'hc0: sbox_case = 8'hba; 8'hc1: sbox_case = 8'h78; 8'hc2: sbox_case = 8'h25; 8'hc3: sbox_case = 8'h2e;
      8'hc4: sbox_case = 8'h1c; 8'hc5: sbox_case = 8'ha6; 8'hc6: sbox_case = 8'hb4; 8'hc7: sbox_case = 8'hc6;
      8'hc8: sbox_case = 8'he8; 8'hc9: sbox_case = 8'hdd; 8'hca: sbox_case = 8'h74; 8'hcb: sbox_case = 8'h1f;
      8'hcc: sbox_case = 8'h4b; 8'hcd: sbox_case = 8'hbd; 8'hce: sbox_case = 8'h8b; 8'hcf: sbox_case = 8'h8a;
      8'hd0: sbox_case = 8'h70; 8'hd1: sbox_case = 8'h3e; 8'hd2: sbox_case = 8'hb5; 8'hd3: sbox_case = 8'h66;
      8'hd4: sbox_case = 8'h48; 8'hd5: sbox_case = 8'h03; 8'hd6: sbox_case = 8'hf6; 8'hd7: sbox_case = 8'h0e;
      8'hd8: sbox_case = 8'h61; 8'hd9: sbox_case = 8'h35; 8'hda: sbox_case = 8'h57; 8'hdb: sbox_case = 8'hb9;
      8'hdc: sbox_case = 8'h86; 8'hdd: sbox_case = 8'hc1; 8'hde: sbox_case = 8'h1d; 8'hdf: sbox_case = 8'h9e;
      8'he0: sbox_case = 8'he1; 8'he1: sbox_case = 8'hf8; 8'he2: sbox_case = 8'h98; 8'he3: sbox_case = 8'h11;
      8'he4: sbox_case = 8'h69; 8'he5: sbox_case = 8'hd9; 8'he6: sbox_case = 8'h8e; 8'he7: sbox_case = 8'h94;
      8'he8: sbox_case = 8'h9b; 8'he9: sbox_case = 8'h1e; 8'hea: sbox_case = 8'h87; 8'heb: sbox_case = 8'he9;
      8'hec: sbox_case = 8'hce; 8'hed: sbox_case = 8'h55; 8'hee: sbox_case = 8'h28; 8'hef: sbox_case = 8'hdf;
      8'hf0: sbox_case = 8'h8c; 8'hf1: sbox_case = 8'ha1; 8'hf2: sbox_case = 8'h89; 8'hf3: sbox_case = 8'h0d;
      8'hf4: sbox_case = 8'hbf; 8'hf5: sbox_case = 8'he6; 8'hf6: sbox_case = 8'h42; 8'hf7: sbox_case = 8'h68;
      8'hf8: sbox_case = 8'h41; 8'hf9: sbox_case = 8'h99; 8'hfa: sbox_case = 8'h2d; 8'hfb: sbox_case = 8'h0f;
      8'hfc: sbox_case = 8'hb0; 8'hfd: sbox_case = 8'h54; 8'hfe: sbox_case = 8'hbb; 8'hff: sbox_case = 8'h16;
      default: sbox_case = 8'h00;
    endcase
  endfunction

  function automatic logic [7:0] sbox(input logic [7:0] x);
    sbox = sbox_case(x);
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
