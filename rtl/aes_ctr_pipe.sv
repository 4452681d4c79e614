// Fully unrolled AES encryption pipeline for LANES counter blocks per beat, key expanded on the
// fly alongside the data (crypto-engine.md §7.2): an input stage (AddRoundKey with w[0..3]) and
// 14 round stages. Latency is LATENCY = 15 cycles from valid_i to valid_o for both key sizes
// (AES-128 beats pass stages 11..14 unchanged), throughput one beat per cycle, no stall: the
// issuer guarantees room downstream (credit counter in tls_gcm_engine).
//
// key_i: byte i in bits [8i+7:8i]; AES-128 uses bytes 0..15 (bits [127:0]).
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
endmodule
