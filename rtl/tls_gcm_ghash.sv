// GHASH side of the TLS AES-GCM engine: realigns the ciphertext stream onto record block
// boundaries, keeps the per-flow GHASH context, and produces the tag (crypto-engine.md §7.4-5).
//
// Representation: GHASH values (H powers, Y) are kept "reflected": bit i of the 128-bit vector
// is the coefficient of x^i of the GCM polynomial (GCM's bit 0 is the MSB of byte 0). With the
// engine's byte order (block byte i in bits [8i+7:8i]) reflecting is a bit reversal inside each
// byte: pure wiring. Products are then plain carry-less products mod x^128+x^7+x^2+x+1.
//
// Input items (one per ciphertext beat from the XOR stage, plus one empty item for a zero-length
// record end): bytes are the segment's ciphertext (or AAD) in stream order, zero above
// item_bytes. Per flow the unit keeps the partial-block residue (< 16 bytes), the AAD and
// ciphertext byte counts, Y, E_K(J0) and H^1..H^LANES.
//
// Per item the front builds the GHASH block list
//   [AAD block (first item of a record with in-command AAD)]
//   ++ complete 16-byte blocks of (residue ++ item bytes)
//   ++ [zero-padded partial block (at the end of the AAD segment or of the record)]
//   ++ [length block (record end)]
// and issues it as "g-beats" of up to LANES blocks; an item whose list exceeds LANES blocks
// (at most LANES+3) spills into following cycles (item input stalls meanwhile).
// Per g-beat with k blocks X_1..X_k: Y' = Y*H^k ^ sum_i X_i*H^(k-i+1).
//   M1: the k feed-forward products, unreduced, XOR-accumulated; reads H powers and E_K(J0)
//       from the context and carries them (a later record of the same flow may rewrite them).
//   M2: one reduction.
//   L : the loop Y' = Y*H^k ^ S (single-cycle multiply, the only recurrence), Y written back
//       to the context every g-beat; on the record's last g-beat, tag = Y' ^ E_K(J0).
// H powers: H = E_K(0^128) arrives with every record's first item (the AES pipeline computes it
// in a spare lane of the E_K(J0) beat). If it differs from the flow's stored H (first record
// after a key install or a key change), the front spends LANES-1 cycles computing H^2..H^LANES
// with one multiplier before it takes the item; otherwise records cost no extra cycle.
// Two forms of the same logic (rtl/README "Simulation forms"): Verilator builds take the forms
// that simulate fast (table loads, 4-bit windows); synthesis, and the verilated build with
// +define+NICSIM_SYNTH_FORMS that runs the same tests on them (test_rtl_engine_synthforms),
// take the hardware forms (case ROM, AND/XOR array).
`ifdef VERILATOR
`ifndef NICSIM_SYNTH_FORMS
`ifndef NICSIM_SIM_FORMS
`define NICSIM_SIM_FORMS
`endif
`endif
`endif

module tls_gcm_ghash #(
  parameter int unsigned LANES     = 4,
  parameter int unsigned FLOWS     = 16,
  parameter int unsigned TAG_DEPTH = 4
) (
  input  logic               clk_i,
  input  logic               rst_ni,
  // items from the XOR stage
  input  logic               it_valid_i,
  output logic               it_ready_o,
  input  logic [$clog2(FLOWS)-1:0] it_flow_i,
  input  logic [LANES*128-1:0] it_data_i,
  input  logic [$clog2(LANES*16+1)-1:0] it_bytes_i,
  input  logic               it_rec_first_i,  // first item of a record: reset Y, take H, E_K(J0)
  input  logic               it_rec_last_i,   // last item of a record: pad, length block, tag
  input  logic               it_seg_first_i,
  input  logic               it_seg_last_i,
  input  logic               it_aad_seg_i,    // bytes are AAD (AAD segment), not ciphertext
  input  logic [15:0]        it_rec_off_i,    // segment's record offset (continuity check)
  input  logic [15:0]        it_rec_len_i,    // record payload length (end check)
  input  logic [103:0]       it_aad_i,        // in-command AAD, byte i in bits [8i+7:8i]
  input  logic [3:0]         it_aad_len_i,
  input  logic [127:0]       it_h_i,          // E_K(0^128), block byte order
  input  logic [127:0]       it_ekj0_i,       // E_K(J0), block byte order
  // tags
  output logic               tag_valid_o,
  input  logic               tag_ready_i,
  output logic [$clog2(FLOWS)-1:0] tag_flow_o,
  output logic [127:0]       tag_o,
  // one-cycle error pulses
  output logic               err_offset_o,  // segment does not continue the flow's record
  output logic               err_length_o,  // record ended with a byte count != rec_len
  output logic               busy_o
);
  localparam int unsigned FLOW_W  = $clog2(FLOWS);
  localparam int unsigned DW      = LANES * 128;
  localparam int unsigned BYTES_W = $clog2(LANES * 16 + 1);
  localparam int unsigned EXT   = LANES + 3;   // longest block list of one item
  localparam int unsigned SP_OUT = (LANES < 3) ? LANES : 3;  // spill blocks per g-beat
  localparam int unsigned CNT_W = $clog2(LANES + 1);
  localparam int unsigned TAG_W = $clog2(TAG_DEPTH);
  localparam int unsigned POW_W = (LANES > 1) ? $clog2(LANES) : 1;  // H-power index width

  // Bit reversal inside each byte (pure wiring), written as three mask-and-swap steps on 64-bit
  // halves: a handful of word operations in the verilated C++ instead of 128 single-bit moves.
  function automatic logic [63:0] reflect64(input logic [63:0] v);
    logic [63:0] x;
    x = ((v & 64'h5555_5555_5555_5555) << 1) | ((v >> 1) & 64'h5555_5555_5555_5555);
    x = ((x & 64'h3333_3333_3333_3333) << 2) | ((x >> 2) & 64'h3333_3333_3333_3333);
    reflect64 = ((x & 64'h0f0f_0f0f_0f0f_0f0f) << 4) | ((x >> 4) & 64'h0f0f_0f0f_0f0f_0f0f);
  endfunction

  function automatic logic [127:0] reflect(input logic [127:0] v);
    reflect = {reflect64(v[127:64]), reflect64(v[63:0])};
  endfunction

  // ---- GF(2^128) arithmetic --------------------------------------------------------------------
  // Functions rather than multiplier modules so that the verilated model evaluates a product only
  // where it is called: inside the clocked block of its stage, under that stage's valid (the
  // datapath flops carry no reset and are qualified by valid, so not loading them when idle is
  // invisible outside). Function locals also become C++ locals the compiler keeps in registers,
  // where module-level signals are members stored and reloaded at every step.
  //
  // 64x64 -> 127-bit carry-less (GF(2)[x]) multiply; bit i of an operand is the coefficient of
  // x^i. Simulation form: integer multiplies with holes (the technique of BearSSL's
  // constant-time GHASH). Split a 32-bit operand into four masks of every fourth bit
  // (a_i = bits = i mod 4); in the integer product a_i * b_j every partial product lands on a
  // bit position = i+j mod 4, and at most 8 of them (32/4 bits per mask) land on one position,
  // so each position's count fits in the 4 bits up to the next position of its class: no carry
  // reaches another bit of the class, and bit p of the product is the parity of its count,
  // i.e. the carry-less product. The four masks whose classes sum to r mod 4 are XORed and
  // masked to class r: 16 64-bit multiplies per 32x32 product, three per 64x64 product
  // (one Karatsuba level). No data-dependent branch, no table. For synthesis the same function
  // is the AND/XOR array below (integer multipliers would be absurd hardware).
`ifdef NICSIM_SIM_FORMS
  function automatic logic [62:0] clmul32(input logic [31:0] a, input logic [31:0] b);
    logic [63:0] a0, a1, a2, a3, b0, b1, b2, b3, z0, z1, z2, z3;
    a0 = {32'd0, a & 32'h1111_1111};
    a1 = {32'd0, a & 32'h2222_2222};
    a2 = {32'd0, a & 32'h4444_4444};
    a3 = {32'd0, a & 32'h8888_8888};
    b0 = {32'd0, b & 32'h1111_1111};
    b1 = {32'd0, b & 32'h2222_2222};
    b2 = {32'd0, b & 32'h4444_4444};
    b3 = {32'd0, b & 32'h8888_8888};
    z0 = (a0 * b0) ^ (a1 * b3) ^ (a2 * b2) ^ (a3 * b1);
    z1 = (a0 * b1) ^ (a1 * b0) ^ (a2 * b3) ^ (a3 * b2);
    z2 = (a0 * b2) ^ (a1 * b1) ^ (a2 * b0) ^ (a3 * b3);
    z3 = (a0 * b3) ^ (a1 * b2) ^ (a2 * b1) ^ (a3 * b0);
    clmul32 = 63'((z0 & 64'h1111_1111_1111_1111) | (z1 & 64'h2222_2222_2222_2222)
                | (z2 & 64'h4444_4444_4444_4444) | (z3 & 64'h8888_8888_8888_8888));
  endfunction

  function automatic logic [126:0] clmul64(input logic [63:0] a, input logic [63:0] b);
    logic [62:0] lo, hi, mid;
    lo  = clmul32(a[31:0], b[31:0]);
    hi  = clmul32(a[63:32], b[63:32]);
    mid = clmul32(a[63:32] ^ a[31:0], b[63:32] ^ b[31:0]) ^ lo ^ hi;
    clmul64 = {64'd0, lo} ^ {32'd0, mid, 32'd0} ^ {hi, 64'd0};
  endfunction
`else
  // The hardware form: per multiplier bit, the multiplicand shifted into a low and a high word
  // is XORed in (an AND/XOR array; about a quarter of the window form's cells in yosys).
  function automatic logic [126:0] clmul64(input logic [63:0] a, input logic [63:0] b);
    logic [63:0] lo, hi;
    lo = '0;
    hi = '0;
    for (int i = 0; i < 64; i++) begin
      if (b[i]) begin
        lo = lo ^ (a << i);
        hi = hi ^ (a >> (64 - i));  // a shift by 64 (i = 0) gives 0
      end
    end
    clmul64 = {hi[62:0], lo};  // hi[63] is always 0: the product has 127 bits
  endfunction
`endif

  // 128x128 -> 255-bit carry-less multiply, one level of Karatsuba (three 64x64 products):
  // a*b = hi*x^128 + (mid + hi + lo)*x^64 + lo with mid = (a1+a0)(b1+b0). Left unreduced so
  // several lanes can be XOR-accumulated before one reduction (crypto-engine.md §7.4b).
  function automatic logic [254:0] clmul128(input logic [127:0] a, input logic [127:0] b);
    logic [126:0] lo, hi, mid;
    lo  = clmul64(a[63:0], b[63:0]);
    hi  = clmul64(a[127:64], b[127:64]);
    mid = clmul64(a[127:64] ^ a[63:0], b[127:64] ^ b[63:0]);
    clmul128 = {128'b0, lo} ^ {64'b0, mid ^ lo ^ hi, 64'b0} ^ {hi, 128'b0};
  endfunction

  // Reduction modulo P(x) = x^128 + x^7 + x^2 + x + 1 (reflected: bit i = coefficient of x^i).
  // x^128 = x^7 + x^2 + x + 1, so the high half folds back twice: the first fold spills at most
  // 6 bits above bit 127 (126 + 7 = 133), the second fold cannot spill.
  function automatic logic [127:0] gf128_reduce(input logic [254:0] p);
    logic [126:0] hi;
    logic [133:0] fold1;
    logic [5:0]   hi2;
    logic [12:0]  fold2;
    hi    = p[254:128];
    fold1 = {7'b0, hi} ^ {6'b0, hi, 1'b0} ^ {5'b0, hi, 2'b0} ^ {hi, 7'b0};
    hi2   = fold1[133:128];
    fold2 = {7'b0, hi2} ^ {6'b0, hi2, 1'b0} ^ {5'b0, hi2, 2'b0} ^ {hi2, 7'b0};
    gf128_reduce = p[127:0] ^ fold1[127:0] ^ {115'b0, fold2};
  endfunction

  // Full GF(2^128) multiply: the GHASH loop (Y*H^k, the only recurrence) and the H-power unit.
  function automatic logic [127:0] gf128_mul(input logic [127:0] a, input logic [127:0] b);
    gf128_mul = gf128_reduce(clmul128(a, b));
  endfunction

  function automatic logic [63:0] bswap64(input logic [63:0] v);
    for (int i = 0; i < 8; i++) begin
      bswap64[8*i +: 8] = v[8*(7-i) +: 8];
    end
  endfunction

  // ---- per-flow context ---------------------------------------------------------------------
  logic [127:0]     ctx_h_q      [FLOWS][LANES];  // reflected H^p at [p-1], p = 1..LANES
  logic [FLOWS-1:0] ctx_hv_q;              // ctx_h_q holds a complete power set
  logic [127:0]     ctx_ekj0_q   [FLOWS];
  logic [127:0]     ctx_y_q      [FLOWS];
  logic [127:0]     ctx_res_q    [FLOWS];  // residue bytes [0, count % 16), zero above
  logic [15:0]      ctx_ctlen_q  [FLOWS];  // ciphertext bytes of the record seen so far
  logic [15:0]      ctx_aadlen_q [FLOWS];  // AAD bytes of the record seen so far

`ifdef NICSIM_SIM_FORMS
  // Simulation form of the feed-forward products X*H^p (M1): Shoup's 4-bit method with a table
  // per flow and power of n(x)*H^p for the 16 nibbles n, reduced (64-bit halves: lo, hi). It is
  // built whenever the power is written to the context (H-power steps at a key install, and H
  // with every record's first item), from the same value, so M1 reads the table of exactly the
  // H^p the hardware form reads from ctx_h_q. The product is then 32 steps of
  // Z = Z*x^4 ^ table[nibble] (most significant nibble first), each a shift, a reduction of the
  // four bits shifted out and two table loads: about 60 % of the instructions of the Karatsuba
  // product. The sum M1 forms is thus already reduced (M2's reduction of it changes nothing).
  // Simulation-only state (16 KB at FLOWS = 16, LANES = 4).
  logic [63:0] ctx_tlo_q [FLOWS][LANES][16];
  logic [63:0] ctx_thi_q [FLOWS][LANES][16];

  // t(x)*x^128 mod P for the 4 bits t shifted out of a product by x^4: t*(x^7+x^2+x+1).
  localparam logic [10:0] R4 [16] = '{
    11'h000, 11'h087, 11'h10e, 11'h189, 11'h21c, 11'h29b, 11'h312, 11'h395,
    11'h438, 11'h4bf, 11'h536, 11'h5b1, 11'h624, 11'h6a3, 11'h72a, 11'h7ad
  };

  // tab[n] = n(x)*h mod P, n = 0..15 (bit i of n the coefficient of x^i).
  function automatic void htab_build(input logic [127:0] h, output logic [127:0] tab [16]);
    tab[0] = '0;
    tab[1] = h;
    for (int n = 2; n < 16; n += 2) begin
      tab[n]     = {tab[n/2][126:0], 1'b0} ^ {120'd0, tab[n/2][127] ? 8'h87 : 8'h00};
      tab[n + 1] = tab[n] ^ h;
    end
  endfunction

  // x * H^(p+1) of flow fl, reduced, from its table. Four independent Horner chains, one per
  // 32-bit word of x (a single chain of 32 dependent table steps is latency bound), joined as
  // ((z3*x^32 ^ z2)*x^32 ^ z1)*x^32 ^ z0: the 32 bits shifted out each time fold back as
  // t*(x^7+x^2+x+1).
  function automatic logic [127:0] mul_htab(input logic [127:0] x, input logic [FLOW_W-1:0] fl,
                                            input logic [POW_W-1:0] p);
    logic [63:0] zl [4];
    logic [63:0] zh [4];
    logic [63:0] rl, rh;
    logic [38:0] fold;
    logic [3:0]  t, n;
    for (int w = 0; w < 4; w++) begin
      zl[w] = '0;
      zh[w] = '0;
    end
    for (int j = 7; j >= 0; j--) begin
      for (int w = 0; w < 4; w++) begin
        t     = zh[w][63:60];
        zh[w] = {zh[w][59:0], zl[w][63:60]};
        zl[w] = {zl[w][59:0], 4'd0} ^ {53'd0, R4[t]};
        n     = x[32*w + 4*j +: 4];
        zl[w] = zl[w] ^ ctx_tlo_q[fl][p][n];
        zh[w] = zh[w] ^ ctx_thi_q[fl][p][n];
      end
    end
    rl = zl[3];
    rh = zh[3];
    for (int w = 2; w >= 0; w--) begin
      fold = {7'd0, rh[63:32]} ^ {6'd0, rh[63:32], 1'b0} ^ {5'd0, rh[63:32], 2'b0}
           ^ {rh[63:32], 7'b0};
      rh   = {rh[31:0], rl[63:32]} ^ zh[w];
      rl   = {rl[31:0], 32'd0} ^ {25'd0, fold} ^ zl[w];
    end
    mul_htab = {rh, rl};
  endfunction
`endif

  // ---- pipeline registers ------------------------------------------------------------------
  logic              f_valid_q, f_reset_q, f_final_q;
  logic [FLOW_W-1:0] f_flow_q;
  logic [CNT_W-1:0]  f_cnt_q;
  logic [DW-1:0]     f_blk_q;       // blocks 0..cnt-1 in GHASH order, block byte order

  logic              m1_valid_q, m1_reset_q, m1_final_q, m1_nz_q;
  logic [FLOW_W-1:0] m1_flow_q;
  logic [254:0]      m1_s_q;
  logic [127:0]      m1_hk_q, m1_ekj0_q;

  logic              m2_valid_q, m2_reset_q, m2_final_q, m2_nz_q;
  logic [FLOW_W-1:0] m2_flow_q;
  logic [127:0]      m2_s_q, m2_hk_q, m2_ekj0_q;

  // spill of an item's block list beyond the first g-beat
  logic [1:0]        sp_cnt_q;
  logic [3*128-1:0]  sp_blk_q;
  logic [FLOW_W-1:0] sp_flow_q;
  logic              sp_final_q;

  // H-power computation
  logic              hp_busy_q;
  logic [CNT_W-1:0]  hp_idx_q;
  logic [127:0]      hp_prev_q;

  // tag FIFO
  logic [FLOW_W+127:0] tag_mem_q [TAG_DEPTH];
  logic [TAG_W:0]      tag_cnt_q;
  logic [TAG_W-1:0]    tag_wptr_q, tag_rptr_q;
  logic                tag_push, tag_pop;

  // ---- front: realign, block list, H powers -------------------------------------------------
  logic [FLOW_W-1:0] f;
  logic [127:0]      h_ref;
  logic              h_match, need_hp;
  logic [3:0]        r;
  logic [127:0]      res;
  logic [DW+127:0]   wide;
  logic [BYTES_W:0]  m;         // r + bytes, <= 15 + 16*LANES
  logic [CNT_W-1:0]  kc;        // complete blocks in wide
  logic              flush, has_part, has_aad, has_len;
  logic [15:0]       ct_cur, aad_cur, ct_new, aad_new;
  logic [127:0]      aad_blk, len_blk, new_res;
  logic [EXT*128-1:0] ext;
  logic [2:0]        ext_extra;  // blocks beyond kc: aad + part + len
  logic [CNT_W+1:0]  total;      // blocks in the list, <= LANES + 3
  logic              item_take, spill_emit, hp_step;
  logic [2:0]        fin_inflight;
  logic              tag_room;

  always_comb begin
    f       = it_flow_i;
    h_ref   = reflect(it_h_i);
    h_match = ctx_hv_q[f] && (ctx_h_q[f][0] == h_ref);
    need_hp = it_rec_first_i && !h_match && (LANES > 1);

    ct_cur  = it_rec_first_i ? 16'd0 : ctx_ctlen_q[f];
    aad_cur = it_rec_first_i ? {12'd0, it_aad_len_i} : ctx_aadlen_q[f];
    r       = it_rec_first_i ? 4'd0 : (it_aad_seg_i ? aad_cur[3:0] : ct_cur[3:0]);
    res     = it_rec_first_i ? 128'd0 : ctx_res_q[f];
    wide    = ({128'd0, it_data_i} << {r, 3'b000}) | {{DW{1'b0}}, res};
    m       = {{(BYTES_W - 3){1'b0}}, r} + {1'b0, it_bytes_i};
    kc      = CNT_W'(m >> 4);
    flush   = it_rec_last_i || (it_aad_seg_i && it_seg_last_i);
    has_part = flush && (m[3:0] != 4'd0);
    has_aad = it_rec_first_i && (it_aad_len_i != 4'd0);
    has_len = it_rec_last_i;
    if (it_aad_seg_i) begin
      aad_new = aad_cur + 16'(it_bytes_i);
      ct_new  = ct_cur;
    end else begin
      aad_new = aad_cur;
      ct_new  = ct_cur + 16'(it_bytes_i);
    end

    // In-command AAD, zero-padded to a block (only aad_len bytes count).
    aad_blk = '0;
    for (int i = 0; i < 13; i++) begin
      if (i < it_aad_len_i) aad_blk[8*i +: 8] = it_aad_i[8*i +: 8];
    end
    // Length block: len(A) || len(C) in bits, each 64-bit big-endian (SP 800-38D §7.1).
    len_blk = {bswap64({45'd0, ct_new, 3'd0}), bswap64({45'd0, aad_new, 3'd0})};

    // Residue for the next item: the incomplete block at index kc (bytes above are zero).
    new_res = '0;
    for (int b = 0; b <= LANES; b++) begin
      if (b == 32'(kc)) new_res = wide[128*b +: 128];
    end
    if (flush) new_res = '0;

    // Block list: [aad] ++ wide blocks 0..kc-1+has_part ++ [len].
    ext = '0;
    for (int i = 0; i < EXT; i++) begin
      if (has_aad && i == 0) begin
        ext[128*i +: 128] = aad_blk;
      end else begin
        // j = index into wide: i - has_aad
        for (int j = 0; j <= LANES; j++) begin
          if (j == i - (has_aad ? 1 : 0) && j < 32'(kc) + (has_part ? 1 : 0)) begin
            ext[128*i +: 128] = wide[128*j +: 128];
          end
        end
        if (has_len && i - (has_aad ? 1 : 0) == 32'(kc) + (has_part ? 1 : 0)) begin
          ext[128*i +: 128] = len_blk;
        end
      end
    end
    ext_extra = {2'b0, has_aad} + {2'b0, has_part} + {2'b0, has_len};
    total     = (CNT_W + 2)'(kc) + (CNT_W + 2)'(ext_extra);
  end

  // A final g-beat may leave the front only if the tag FIFO will have room for it.
  always_comb begin
    fin_inflight = {2'b0, f_valid_q & f_final_q} + {2'b0, m1_valid_q & m1_final_q}
                 + {2'b0, m2_valid_q & m2_final_q};
    tag_room     = (32'(tag_cnt_q) + 32'(fin_inflight)) < TAG_DEPTH;
  end

  always_comb begin
    spill_emit = (sp_cnt_q != 2'd0) && (!sp_final_q || tag_room);
    hp_step    = (sp_cnt_q == 2'd0) && it_valid_i && need_hp;
    item_take  = (sp_cnt_q == 2'd0) && it_valid_i && !need_hp && (!it_rec_last_i || tag_room);
    it_ready_o = item_take;
  end

  // H-power step: H^idx = H^(idx-1) * H, idx = 2..LANES, one per cycle. The product is computed
  // only in the cycles that use it (key installs), not every cycle.
  logic [127:0] hp_a;
  logic [CNT_W-1:0] hp_idx;
  always_comb begin
    hp_a   = hp_busy_q ? hp_prev_q : h_ref;
    hp_idx = hp_busy_q ? hp_idx_q : CNT_W'(2);
  end

  always_ff @(posedge clk_i) begin : b_hpow
    logic [127:0] hp_prod;
`ifdef NICSIM_SIM_FORMS
    logic [127:0] htab [16];
`endif
    if (hp_step) begin
      hp_prod   = gf128_mul(hp_a, h_ref);
      hp_idx_q  <= hp_idx + CNT_W'(1);
      hp_prev_q <= hp_prod;
      ctx_h_q[f][POW_W'(hp_idx - CNT_W'(1))] <= hp_prod;
      if (hp_idx == CNT_W'(LANES)) ctx_h_q[f][0] <= h_ref;  // set last: marks the set complete
`ifdef NICSIM_SIM_FORMS
      htab_build(hp_prod, htab);
      for (int n = 0; n < 16; n++) begin
        ctx_tlo_q[f][POW_W'(hp_idx - CNT_W'(1))][n] <= htab[n][63:0];
        ctx_thi_q[f][POW_W'(hp_idx - CNT_W'(1))][n] <= htab[n][127:64];
      end
`endif
    end else if (item_take && it_rec_first_i) begin
      ctx_h_q[f][0] <= h_ref;  // equal already unless LANES == 1
`ifdef NICSIM_SIM_FORMS
      // H's table: here rather than with the last H-power step (where ctx_h_q[f][0] is set),
      // one write site fewer; no g-beat of this flow reaches M1 in between (the front stalls
      // while it computes the powers, and older g-beats passed M1 before the first step).
      htab_build(h_ref, htab);
      for (int n = 0; n < 16; n++) begin
        ctx_tlo_q[f][0][n] <= htab[n][63:0];
        ctx_thi_q[f][0][n] <= htab[n][127:64];
      end
`endif
    end
  end

  // Next front g-beat.
  logic              g_valid, g_reset, g_final;
  logic [FLOW_W-1:0] g_flow;
  logic [CNT_W-1:0]  g_cnt;
  logic [DW-1:0]     g_blk;
  logic [1:0]        sp_cnt_d;
  logic [3*128-1:0]  sp_blk_d;
  logic              sp_final_d;
  logic [FLOW_W-1:0] sp_flow_d;
  always_comb begin
    g_valid    = 1'b0;
    g_reset    = 1'b0;
    g_final    = 1'b0;
    g_flow     = f;
    g_cnt      = '0;
    g_blk      = '0;
    sp_cnt_d   = sp_cnt_q;
    sp_blk_d   = sp_blk_q;
    sp_final_d = sp_final_q;
    sp_flow_d  = sp_flow_q;
    if (spill_emit) begin
      g_valid = 1'b1;
      g_flow  = sp_flow_q;
      if (32'(sp_cnt_q) > LANES) begin  // only possible for LANES < 3
        g_cnt    = CNT_W'(LANES);
        sp_cnt_d = 2'(32'(sp_cnt_q) - LANES);
      end else begin
        g_cnt    = CNT_W'(sp_cnt_q);
        sp_cnt_d = 2'd0;
        g_final  = sp_final_q;
      end
      for (int b = 0; b < SP_OUT; b++) begin
        if (b < sp_cnt_q) g_blk[128*b +: 128] = sp_blk_q[128*b +: 128];
      end
      sp_blk_d = (LANES < 3) ? (sp_blk_q >> (128 * LANES)) : '0;
    end else if (item_take) begin
      g_valid = 1'b1;
      g_reset = it_rec_first_i;
      g_blk   = ext[DW-1:0];
      if (total > (CNT_W + 2)'(LANES)) begin
        g_cnt      = CNT_W'(LANES);
        sp_cnt_d   = 2'(total - (CNT_W + 2)'(LANES));
        sp_blk_d   = ext[DW +: 3*128];
        sp_final_d = it_rec_last_i;
        sp_flow_d  = f;
      end else begin
        g_cnt   = CNT_W'(total);
        g_final = it_rec_last_i;
      end
    end
  end

  // Continuity checks (first payload item of a segment, and the record end).
  always_comb begin
    err_offset_o = item_take && it_seg_first_i && !it_aad_seg_i && (it_rec_off_i != ct_cur);
    err_length_o = item_take && it_rec_last_i && (ct_new != it_rec_len_i);
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      f_valid_q  <= 1'b0;
      sp_cnt_q   <= 2'd0;
      hp_busy_q  <= 1'b0;
      ctx_hv_q   <= '0;
    end else begin
      f_valid_q <= g_valid;
      sp_cnt_q  <= sp_cnt_d;
      if (hp_step) begin
        hp_busy_q <= (hp_idx != CNT_W'(LANES));
        if (hp_idx == CNT_W'(LANES)) ctx_hv_q[f] <= 1'b1;
      end else if (item_take && it_rec_first_i) begin
        ctx_hv_q[f] <= 1'b1;
      end
    end
  end

  always_ff @(posedge clk_i) begin
    f_flow_q   <= g_flow;
    f_cnt_q    <= g_cnt;
    f_blk_q    <= g_blk;
    f_reset_q  <= g_reset;
    f_final_q  <= g_final;
    sp_blk_q   <= sp_blk_d;
    sp_final_q <= sp_final_d;
    sp_flow_q  <= sp_flow_d;
    if (item_take) begin
      ctx_res_q[f]    <= new_res;
      ctx_ctlen_q[f]  <= ct_new;
      ctx_aadlen_q[f] <= aad_new;
      if (it_rec_first_i) ctx_ekj0_q[f] <= it_ekj0_i;
    end
  end

  // ---- M1: feed-forward products ------------------------------------------------------------
  // Block b (0-based) of a k-block g-beat is multiplied by H^(k-b); only when a g-beat is here,
  // and only its k blocks.
  always_ff @(posedge clk_i) begin : b_m1
    logic [254:0] acc;
`ifdef NICSIM_SIM_FORMS
    logic [DW-1:0] blk;
    logic [127:0]  acc_r;
`endif
    m1_flow_q  <= f_flow_q;
    m1_reset_q <= f_reset_q;
    m1_final_q <= f_final_q;
    m1_nz_q    <= (f_cnt_q != '0);
    m1_ekj0_q  <= ctx_ekj0_q[f_flow_q];
    if (f_valid_q) begin
      acc = '0;
`ifdef NICSIM_SIM_FORMS
      // Simulation form of the same sum (reduced already, see ctx_tlo_q): a loop bounded by the
      // block count at run time, so the C++ holds one copy of the product instead of LANES
      // unrolled ones (the per-cycle code is instruction-cache bound).
      blk   = f_blk_q;
      acc_r = '0;
      for (int b = 0; b < 32'(f_cnt_q); b++) begin
        acc_r = acc_r ^ mul_htab(reflect(blk[127:0]), f_flow_q,
                                 POW_W'(32'(f_cnt_q) - b - 1));
        blk   = blk >> 128;
      end
      acc = {127'd0, acc_r};
`else
      for (int b = 0; b < LANES; b++) begin
        if (b < 32'(f_cnt_q)) begin
          acc = acc ^ clmul128(reflect(f_blk_q[128*b +: 128]),
                               ctx_h_q[f_flow_q][32'(f_cnt_q) - b - 1]);
        end
      end
`endif
      m1_s_q  <= acc;
      m1_hk_q <= (f_cnt_q != '0) ? ctx_h_q[f_flow_q][POW_W'(f_cnt_q - CNT_W'(1))] : '0;
    end
  end

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      m1_valid_q <= 1'b0;
      m2_valid_q <= 1'b0;
    end else begin
      m1_valid_q <= f_valid_q;
      m2_valid_q <= m1_valid_q;
    end
  end


  // ---- M2: reduction ------------------------------------------------------------------------
  always_ff @(posedge clk_i) begin
    m2_flow_q  <= m1_flow_q;
    m2_reset_q <= m1_reset_q;
    m2_final_q <= m1_final_q;
    m2_nz_q    <= m1_nz_q;
    m2_ekj0_q  <= m1_ekj0_q;
    if (m1_valid_q) begin
      m2_s_q  <= gf128_reduce(m1_s_q);
      m2_hk_q <= m1_hk_q;
    end
  end

  // ---- L: the GHASH loop --------------------------------------------------------------------
  // Y' = Y*H^k ^ S, written back every g-beat; on the record's last g-beat the tag
  // Y' ^ E_K(J0) enters the tag FIFO (its room was reserved at the front).
  assign tag_push = m2_valid_q && m2_final_q;

  always_ff @(posedge clk_i) begin : b_loop
    logic [127:0] y_cur, y_new;
    if (m2_valid_q) begin
      y_cur = m2_reset_q ? 128'd0 : ctx_y_q[m2_flow_q];
      y_new = m2_nz_q ? (gf128_mul(y_cur, m2_hk_q) ^ m2_s_q) : y_cur;
      ctx_y_q[m2_flow_q] <= y_new;
      if (m2_final_q) tag_mem_q[tag_wptr_q] <= {m2_flow_q, reflect(y_new) ^ m2_ekj0_q};
    end
  end

  // ---- tag FIFO (room reserved at the front, so a push never finds it full) ----------------
  assign tag_pop     = tag_valid_o && tag_ready_i;
  assign tag_valid_o = (tag_cnt_q != '0);
  assign tag_flow_o  = tag_mem_q[tag_rptr_q][FLOW_W+127:128];
  assign tag_o       = tag_mem_q[tag_rptr_q][127:0];

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      tag_cnt_q  <= '0;
      tag_wptr_q <= '0;
      tag_rptr_q <= '0;
    end else begin
      tag_cnt_q <= tag_cnt_q + (TAG_W + 1)'(tag_push) - (TAG_W + 1)'(tag_pop);
      if (tag_push) tag_wptr_q <= tag_wptr_q + TAG_W'(1);
      if (tag_pop)  tag_rptr_q <= tag_rptr_q + TAG_W'(1);
    end
  end


  assign busy_o = f_valid_q || m1_valid_q || m2_valid_q || (sp_cnt_q != 2'd0) || hp_busy_q
               || (tag_cnt_q != '0);
endmodule
