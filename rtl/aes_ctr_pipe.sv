// Fully unrolled AES encryption pipeline for LANES counter blocks per beat, key expanded on the
// fly alongside the data (crypto-engine.md §7.2): an input stage (AddRoundKey with w[0..3]) and
// 14 round stages. Latency is LATENCY = 15 cycles from valid_i to valid_o for both key sizes
// (AES-128 beats pass stages 11..14 unchanged), throughput one beat per cycle, no stall: the
// issuer guarantees room downstream (credit counter in tls_gcm_engine).
//
// key_i: byte i in bits [8i+7:8i]; AES-128 uses bytes 0..15 (bits [127:0]).
//
// Two forms with the same ports, cycle for cycle (rtl/README "Simulation forms"): the hardware
// form (input stage + 14 aes_round_stage instances; what yosys reads and what the verilated build
// with +define+NICSIM_SYNTH_FORMS simulates) and, for default Verilator builds, a simulation form
// that encrypts a beat at issue with a round loop and delays the result 15 cycles.
`ifdef VERILATOR
`ifndef NICSIM_SYNTH_FORMS
`ifndef NICSIM_SIM_FORMS
`define NICSIM_SIM_FORMS
`endif
`endif
`endif

module aes_ctr_pipe #(
  parameter int unsigned LANES = 4
) (
  input  logic                 clk_i,
  input  logic                 rst_ni,
  input  logic                 valid_i,
  input  logic                 key256_i,
  input  logic [255:0]         key_i,
  input  logic [LANES*128-1:0] blocks_i,
  output logic                 valid_o,
  output logic [LANES*128-1:0] blocks_o
);
  localparam int unsigned SW     = LANES * 128;
  localparam int unsigned STAGES = 14;

`ifdef NICSIM_SIM_FORMS
  // Simulation form (Verilator builds; rtl/README "Simulation forms"): the same ports cycle for
  // cycle (valid_o is valid_i 15 edges later, blocks_o then holds that beat's encrypted blocks),
  // computed the way a simulator does it fastest: the whole encryption of a beat when it is
  // issued, by one function whose round loop is a loop in the C++ (one round of code run 10
  // or 14 times, instead of 14 unrolled stages whose 512-bit state and 256-bit key window are
  // copied from stage to stage every cycle), parked in a 16-slot delay line until its cycle.
  // The rounds and the key expansion are the hardware form's, step for step: the key window
  // advances by four words per round exactly as in aes_round_stage, and the round is the
  // T-table form of SubBytes, ShiftRows, MixColumns (aes_sim_pkg, checked against the S-box
  // case ROM by rtl_sbox_tables). The hardware form below is what synthesis reads and what
  // test_rtl_engine_synthforms runs the same known-answer tests on.
  localparam int unsigned SLOTS = 16;  // >= LATENCY (15): a slot is read 15 edges after its write

  // One step of the key expansion (FIPS-197 §5.2) on the window k[0..7] = w[i-8..i-1] (AES-128:
  // k[4..7] = w[i-4..i-1]), as in aes_round_stage: round r's round key to rk, window advanced.
  function automatic void key_step(inout logic [31:0] k [8], input int r, input logic key256,
                                   output logic [31:0] rk [4]);
    logic        rot;
    logic [31:0] sw_in, temp, n0, n1, n2, n3;
    rot   = !key256 || !r[0];  // AES-256: even rounds
    sw_in = rot ? {k[7][7:0], k[7][31:8]} : k[7];
    temp  = aes_sim_pkg::sub4(sw_in[7:0], sw_in[15:8], sw_in[23:16], sw_in[31:24]);
    // Rcon[j], j = r (AES-128) or r/2 (AES-256, even rounds; odd rounds take none).
    if (rot) temp = temp ^ {24'd0, aes_sim_pkg::RCON[key256 ? r[4:1] : r[3:0]]};
    n0 = (key256 ? k[0] : k[4]) ^ temp;
    n1 = (key256 ? k[1] : k[5]) ^ n0;
    n2 = (key256 ? k[2] : k[6]) ^ n1;
    n3 = (key256 ? k[3] : k[7]) ^ n2;
    if (key256 && r == 1) begin
      // AES-256 round 1 uses w[4..7], the second half of the key itself.
      rk[0] = k[4];
      rk[1] = k[5];
      rk[2] = k[6];
      rk[3] = k[7];
    end else begin
      rk[0] = n0;
      rk[1] = n1;
      rk[2] = n2;
      rk[3] = n3;
      k[0] = k[4];
      k[1] = k[5];
      k[2] = k[6];
      k[3] = k[7];
      k[4] = n0;
      k[5] = n1;
      k[6] = n2;
      k[7] = n3;
    end
  endfunction

  // AES-128/256 encryption of the LANES blocks of a beat under one key: the round keys first
  // (rks[{r, c}] = column c of round key r), then per lane the rounds on the four column words
  // s0..s3 (row r in bits [8r+7:8r]; ShiftRows: column c takes row r from column c+r mod 4).
  // Both loops have a run-time bound (10 or 14 rounds), so they stay loops in the C++, and the
  // column words are scalars the compiler keeps in registers.
  function automatic logic [SW-1:0] encrypt_beat(input logic [255:0] key, input logic key256,
                                                 input logic [SW-1:0] blocks);
    logic [31:0] k   [8];
    logic [31:0] rk  [4];
    logic [31:0] rks [64];  // 15 round keys; 64 entries so that {r, c} indexes it unchecked
    logic [31:0] s0, s1, s2, s3, t0, t1, t2, t3;
    int          nr;
    for (int j = 0; j < 8; j++) begin
      k[j] = key256 ? key[32*j +: 32] : ((j >= 4) ? key[32*(j-4) +: 32] : 32'd0);
    end
    nr = key256 ? 14 : 10;
    for (int c = 0; c < 4; c++) rks[c] = key256 ? k[c] : k[4 + c];
    for (int r = 1; r <= nr; r++) begin
      key_step(k, r, key256, rk);
      for (int c = 0; c < 4; c++) rks[{r[3:0], 2'(c)}] = rk[c];
    end
    for (int l = 0; l < LANES; l++) begin
      s0 = blocks[128*l      +: 32] ^ rks[0];
      s1 = blocks[128*l + 32 +: 32] ^ rks[1];
      s2 = blocks[128*l + 64 +: 32] ^ rks[2];
      s3 = blocks[128*l + 96 +: 32] ^ rks[3];
      for (int r = 1; r < nr; r++) begin
        t0 = aes_sim_pkg::te_column(s0[7:0], s1[15:8], s2[23:16], s3[31:24])
           ^ rks[{r[3:0], 2'd0}];
        t1 = aes_sim_pkg::te_column(s1[7:0], s2[15:8], s3[23:16], s0[31:24])
           ^ rks[{r[3:0], 2'd1}];
        t2 = aes_sim_pkg::te_column(s2[7:0], s3[15:8], s0[23:16], s1[31:24])
           ^ rks[{r[3:0], 2'd2}];
        t3 = aes_sim_pkg::te_column(s3[7:0], s0[15:8], s1[23:16], s2[31:24])
           ^ rks[{r[3:0], 2'd3}];
        s0 = t0;
        s1 = t1;
        s2 = t2;
        s3 = t3;
      end
      // Last round: no MixColumns.
      encrypt_beat[128*l      +: 32] = aes_sim_pkg::sub4(s0[7:0], s1[15:8], s2[23:16], s3[31:24])
                                     ^ rks[{nr[3:0], 2'd0}];
      encrypt_beat[128*l + 32 +: 32] = aes_sim_pkg::sub4(s1[7:0], s2[15:8], s3[23:16], s0[31:24])
                                     ^ rks[{nr[3:0], 2'd1}];
      encrypt_beat[128*l + 64 +: 32] = aes_sim_pkg::sub4(s2[7:0], s3[15:8], s0[23:16], s1[31:24])
                                     ^ rks[{nr[3:0], 2'd2}];
      encrypt_beat[128*l + 96 +: 32] = aes_sim_pkg::sub4(s3[7:0], s0[15:8], s1[23:16], s2[31:24])
                                     ^ rks[{nr[3:0], 2'd3}];
    end
  endfunction

  logic [STAGES:0]           v_q;     // v_q[i]: a beat was issued i+1 edges ago
  logic [$clog2(SLOTS)-1:0]  slot_q;  // advances every edge
  logic [SW-1:0]             res_q [SLOTS];

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      v_q    <= '0;
      slot_q <= '0;
    end else begin
      v_q    <= {v_q[STAGES-1:0], valid_i};
      slot_q <= slot_q + 1'b1;
    end
  end

  // Datapath: no reset, loaded only with a beat (valid_o qualifies blocks_o).
  always_ff @(posedge clk_i) begin
    if (valid_i) res_q[slot_q] <= encrypt_beat(key_i, key256_i, blocks_i);
  end

  assign valid_o  = v_q[STAGES];
  // Written 15 edges ago at slot_q - 15 = slot_q + 1 (mod 16).
  assign blocks_o = res_q[slot_q + 1'b1];
`else
  logic [STAGES:0]  valid;
  logic [STAGES:0]  key256;
  logic [255:0]     kw     [STAGES+1];
  logic [SW-1:0]    state  [STAGES+1];

  // Input stage: the key window starts as the key (AES-128: in the top half, where the AES-128
  // expansion step reads it); state = counter block ^ round key 0.
  logic [255:0] kw0;
  logic [127:0] rk0;
  always_comb begin
    kw0 = key256_i ? key_i : {key_i[127:0], 128'b0};
    rk0 = key256_i ? kw0[127:0] : kw0[255:128];
  end

  logic          s0_valid_q, s0_key256_q;
  logic [255:0]  s0_kw_q;
  logic [SW-1:0] s0_state_q;

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      s0_valid_q <= 1'b0;
    end else begin
      s0_valid_q <= valid_i;
    end
  end

  // Datapath flops load only with a beat (valid qualifies them; idle cycles cost the verilated
  // model nothing).
  always_ff @(posedge clk_i) begin
    if (valid_i) begin
      s0_key256_q <= key256_i;
      s0_kw_q     <= kw0;
      s0_state_q  <= blocks_i ^ {LANES{rk0}};
    end
  end

  assign valid[0]  = s0_valid_q;
  assign key256[0] = s0_key256_q;
  assign kw[0]     = s0_kw_q;
  assign state[0]  = s0_state_q;

  for (genvar r = 1; r <= STAGES; r++) begin : g_round
    aes_round_stage #(
      .LANES(LANES),
      .ROUND(r)
    ) u_stage (
      .clk_i,
      .rst_ni,
      .valid_i  (valid[r-1]),
      .key256_i (key256[r-1]),
      .kw_i     (kw[r-1]),
      .state_i  (state[r-1]),
      .valid_o  (valid[r]),
      .key256_o (key256[r]),
      .kw_o     (kw[r]),
      .state_o  (state[r])
    );
  end

  // The last stage's key state has no consumer.
  logic unused_last_key;
  assign unused_last_key = ^{key256[STAGES], kw[STAGES]};

  assign valid_o  = valid[STAGES];
  assign blocks_o = state[STAGES];
`endif
endmodule
