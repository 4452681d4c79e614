// tls_gcm_engine: pipelined AES-GCM encryption engine for TLS records (transmit offload).
// See rtl/README.md for the port protocol; crypto-engine.md §7 for the microarchitecture.
//
//   cmd ──► command FIFO ──► keystream generator ──► AES-CTR pipeline (15 stages, key expanded
//                  │           (counter blocks,        alongside, LANES blocks per beat)
//                  │            E_K(0) / E_K(J0))               │
//                  │                                            ▼
//                  └──────► XOR stage ◄── in ◄──────── keystream FIFO (KS_DEPTH beats)
//                             │   │
//                    out FIFO ◄   └─► ct FIFO ─► tls_gcm_ghash (realign, GHASH, tag) ─► tag
//
// The generator works from the command alone (counter values depend only on the record
// position), so with the command at least ~16 cycles ahead of the data the keystream is waiting
// and plaintext-to-ciphertext latency is the XOR stage plus the output register.
//
// Byte order on every multi-byte port: byte i of the field is bits [8i+7:8i] (memcpy-able into the
// Verilated model's little-endian word arrays). Data beats are packed: byte 0 of a segment is byte 0
// of its first beat and every beat but the last carries LANES*16 bytes.
// Simulation forms (rtl/README "Simulation forms"): Verilator builds read the keystream FIFO's
// words directly where the hardware form builds a peek array; same values.
`ifdef VERILATOR
`ifndef NICSIM_SYNTH_FORMS
`ifndef NICSIM_SIM_FORMS
`define NICSIM_SIM_FORMS
`endif
`endif
`endif

module tls_gcm_engine #(
  parameter int unsigned LANES     = 4,   // 128-bit blocks per beat: 1, 2, 4 or 8
  parameter int unsigned FLOWS     = 16,  // flow contexts (>= 2, power of two)
  parameter int unsigned CMD_DEPTH = 8,   // commands buffered ahead of their data (power of 2)
  parameter int unsigned KS_DEPTH  = 32,  // keystream FIFO beats incl. in flight (power of 2)
  parameter int unsigned CT_DEPTH  = 4,   // XOR stage -> GHASH decoupling (power of 2)
  parameter int unsigned TAG_DEPTH = 4    // tags buffered (power of 2)
) (
  input  logic                              clk_i,
  input  logic                              rst_ni,

  // per-segment command, accepted before the segment's data
  input  logic                              cmd_valid_i,
  output logic                              cmd_ready_o,
  input  logic [$clog2(FLOWS)-1:0]          cmd_flow_i,
  input  logic [255:0]                      cmd_key_i,      // AES-128: bytes 0..15
  input  logic                              cmd_key256_i,   // 1: AES-256, 0: AES-128
  input  logic [95:0]                       cmd_nonce_i,    // 12-byte GCM IV
  input  logic [15:0]                       cmd_rec_off_i,  // record payload offset of byte 0
  input  logic [15:0]                       cmd_rec_len_i,  // record payload length
  input  logic [15:0]                       cmd_seg_len_i,  // bytes of data in this segment
  input  logic [103:0]                      cmd_aad_i,      // in-command AAD (TLS: 5 or 13 B)
  input  logic [3:0]                        cmd_aad_len_i,  // 0..13
  input  logic                              cmd_first_i,    // segment starts the record
  input  logic                              cmd_last_i,     // segment ends the record -> tag
  input  logic                              cmd_dump_i,     // hash/advance only, no data out
  input  logic                              cmd_aad_seg_i,  // segment data is AAD (see README)

  // plaintext in
  input  logic                              in_valid_i,
  output logic                              in_ready_o,
  input  logic [LANES*128-1:0]              in_data_i,
  input  logic [$clog2(LANES*16+1)-1:0]     in_bytes_i,
  input  logic                              in_last_i,

  // ciphertext out (dump and AAD segments produce no beats)
  output logic                              out_valid_o,
  input  logic                              out_ready_i,
  output logic [LANES*128-1:0]              out_data_o,     // zero above out_bytes_o
  output logic [$clog2(LANES*16+1)-1:0]     out_bytes_o,
  output logic                              out_last_o,
  output logic [$clog2(FLOWS)-1:0]          out_flow_o,

  // tags, one per completed record
  output logic                              tag_valid_o,
  input  logic                              tag_ready_i,
  output logic [$clog2(FLOWS)-1:0]          tag_flow_o,
  output logic [127:0]                      tag_o,

  output logic [3:0]                        err_o,   // sticky, see README
  output logic                              busy_o
);
  localparam int unsigned FLOW_W  = $clog2(FLOWS);
  localparam int unsigned BB      = LANES * 16;          // bytes per beat
  localparam int unsigned LOG_BB  = $clog2(BB);
  localparam int unsigned DW      = LANES * 128;
  localparam int unsigned BYTES_W = $clog2(BB + 1);
  localparam int unsigned HKB     = (LANES == 1) ? 2 : 1;  // beats for E_K(0), E_K(J0)
`ifndef NICSIM_SIM_FORMS
  localparam int unsigned PEEK    = HKB + 2;  // keystream beats the XOR stage looks at
`endif
  localparam int unsigned CMD_W   = $clog2(CMD_DEPTH);
  localparam int unsigned KS_W    = $clog2(KS_DEPTH);

  function automatic logic [31:0] bswap32(input logic [31:0] v);
    bswap32 = {v[7:0], v[15:8], v[23:16], v[31:24]};
  endfunction

  // Keystream beats needed by a segment: blocks from floor(off/16) covering off..off+len-1,
  // LANES per beat, i.e. ceil((off%16 + len) / BB).
  function automatic logic [16:0] ks_beats(input logic [3:0] off4, input logic [15:0] len);
    logic [16:0] span;
    span     = {13'd0, off4} + {1'b0, len} + 17'(BB - 1);
    ks_beats = span >> LOG_BB;
  endfunction

  // ---- command FIFO: one writer, two readers (generator runs ahead of the XOR stage) ------
  logic [FLOW_W-1:0] cq_flow    [CMD_DEPTH];
  logic [255:0]      cq_key     [CMD_DEPTH];
  logic [95:0]       cq_nonce   [CMD_DEPTH];
  logic [15:0]       cq_off     [CMD_DEPTH];
  logic [15:0]       cq_rlen    [CMD_DEPTH];
  logic [15:0]       cq_slen    [CMD_DEPTH];
  logic [103:0]      cq_aad     [CMD_DEPTH];
  logic [3:0]        cq_aadlen  [CMD_DEPTH];
  logic [5:0]        cq_flags   [CMD_DEPTH];  // {aad_seg, dump, last, first, key256, spare}

  logic [CMD_W:0] cq_wptr_q, cq_gptr_q, cq_dptr_q;
  logic           cmd_push;

  assign cmd_ready_o = ((cq_wptr_q - cq_dptr_q) != (CMD_W + 1)'(CMD_DEPTH));
  assign cmd_push    = cmd_valid_i && cmd_ready_o;

  always_ff @(posedge clk_i) begin
    if (cmd_push) begin
      cq_flow[cq_wptr_q[CMD_W-1:0]]   <= cmd_flow_i;
      cq_key[cq_wptr_q[CMD_W-1:0]]    <= cmd_key_i;
      cq_nonce[cq_wptr_q[CMD_W-1:0]]  <= cmd_nonce_i;
      cq_off[cq_wptr_q[CMD_W-1:0]]    <= cmd_rec_off_i;
      cq_rlen[cq_wptr_q[CMD_W-1:0]]   <= cmd_rec_len_i;
      cq_slen[cq_wptr_q[CMD_W-1:0]]   <= cmd_seg_len_i;
      cq_aad[cq_wptr_q[CMD_W-1:0]]    <= cmd_aad_i;
      cq_aadlen[cq_wptr_q[CMD_W-1:0]] <= cmd_aad_len_i;
      cq_flags[cq_wptr_q[CMD_W-1:0]]  <= {cmd_aad_seg_i, cmd_dump_i, cmd_last_i, cmd_first_i,
                                          cmd_key256_i, 1'b0};
    end
  end

  // Illegal command combinations (err_o[0]); the engine still processes the command as told.
  logic        cmd_bad;
  logic [16:0] cmd_end;
  always_comb begin
    cmd_end = {1'b0, cmd_rec_off_i} + {1'b0, cmd_seg_len_i};
    cmd_bad = (cmd_aad_len_i > 4'd13);
    if (cmd_aad_seg_i) begin
      cmd_bad = cmd_bad || !cmd_first_i || (cmd_aad_len_i != 4'd0)
             || (cmd_last_i && cmd_rec_len_i != 16'd0);
    end else begin
      cmd_bad = cmd_bad || (cmd_first_i && cmd_rec_off_i != 16'd0)
             || (cmd_end > {1'b0, cmd_rec_len_i})
             || (cmd_last_i && cmd_end != {1'b0, cmd_rec_len_i});
    end
  end

  // ---- keystream generator ------------------------------------------------------------------
  logic [CMD_W-1:0] gi;
  logic             g_has, g_first, g_key256, g_aad_seg;
  logic [16:0]      g_nks, g_total, g_hkb;
  logic [16:0]      g_beat_q;          // beat index within the command
  logic [KS_W:0]    ks_used_q;         // keystream FIFO entries + beats in the AES pipeline
  logic             g_issue, g_done;
  logic [DW-1:0]    g_blocks;
  logic [31:0]      g_ctr0;
  logic [16:0]      g_m;

  always_comb begin
    gi        = cq_gptr_q[CMD_W-1:0];
    g_has     = (cq_gptr_q != cq_wptr_q);
    g_first   = cq_flags[gi][2];
    g_key256  = cq_flags[gi][1];
    g_aad_seg = cq_flags[gi][5];
    g_hkb     = g_first ? 17'(HKB) : 17'd0;
    g_nks     = (g_aad_seg || cq_slen[gi] == 16'd0) ? 17'd0 : ks_beats(cq_off[gi][3:0], cq_slen[gi]);
    g_total   = g_hkb + g_nks;
    g_issue   = g_has && (g_total != 17'd0) && (ks_used_q < (KS_W + 1)'(KS_DEPTH));
    g_done    = g_has && ((g_total == 17'd0) || (g_issue && (g_beat_q == g_total - 17'd1)));

    // Counter blocks: J0 = nonce || 0x00000001; payload block b uses inc32^(b+1)(J0), i.e.
    // the low word 2 + b, big-endian in bytes 12..15.
    g_m    = g_beat_q - g_hkb;
    g_ctr0 = 32'd2 + {20'd0, cq_off[gi][15:4]} + 32'(g_m) * 32'(LANES);
    g_blocks = '0;
    if (g_beat_q < g_hkb) begin
      // E_K(0^128) -> H in lane 0; E_K(J0) in lane 1 (LANES == 1: in the second beat).
      if (LANES > 1) begin
        g_blocks[DW-1:0] = DW'({bswap32(32'd1), cq_nonce[gi], 128'd0});
      end else if (g_beat_q == 17'd1) begin
        g_blocks[DW-1:0] = DW'({bswap32(32'd1), cq_nonce[gi]});
      end
    end else begin
      for (int l = 0; l < LANES; l++) begin
        g_blocks[128*l +: 128] = {bswap32(g_ctr0 + 32'(l)), cq_nonce[gi]};
      end
    end
  end

  logic          aes_valid;
  logic [DW-1:0] aes_blocks;
  aes_ctr_pipe #(.LANES(LANES)) u_aes (
    .clk_i,
    .rst_ni,
    .valid_i  (g_issue),
    .key256_i (g_key256),
    .key_i    (cq_key[gi]),
    .blocks_i (g_blocks),
    .valid_o  (aes_valid),
    .blocks_o (aes_blocks)
  );

  // ---- keystream FIFO (written by the AES pipeline, popped 0..PEEK per cycle) ---------------
  logic [DW-1:0]   ks_mem_q [KS_DEPTH];
  logic [KS_W-1:0] ks_wptr_q, ks_rptr_q;
  logic [KS_W:0]   ks_cnt_q;
  logic [KS_W:0]   ks_pop;
`ifdef NICSIM_SIM_FORMS
  logic [DW-1:0]   ks_peek [1];
`else
  logic [DW-1:0]   ks_peek [PEEK];
`endif

`ifdef NICSIM_SIM_FORMS
  // Simulation form: the words used are read directly (the verilated model would copy all PEEK
  // beats into the array on every evaluation, twice a cycle); ks_peek[0] only.
  assign ks_peek[0] = ks_mem_q[ks_rptr_q];
`else
  always_comb begin
    for (int k = 0; k < PEEK; k++) ks_peek[k] = ks_mem_q[ks_rptr_q + KS_W'(k)];
  end
`endif

  always_ff @(posedge clk_i) begin
    if (aes_valid) ks_mem_q[ks_wptr_q] <= aes_blocks;
  end

  // ---- XOR stage ----------------------------------------------------------------------------
  logic [CMD_W-1:0]   di;
  logic               d_has, d_first, d_last, d_dump, d_aad_seg, d_can_pop;
  logic [15:0]        d_off, d_slen;
  logic [16:0]        d_nd, d_nks, d_j_q;
  logic               d_last_beat, d_need_next, d_empty_seg;
  logic [KS_W:0]      d_hkb, d_ks_need, d_ks_pop;
  logic [BYTES_W-1:0] d_n;
  logic [DW-1:0]      d_mask, d_ks, d_ct;
  logic [2*DW-1:0]    d_ks_pair;
  logic               d_ks_ok, d_out_ok, d_ct_ok, d_step, d_beat, d_emit_out, d_emit_item;
  logic [127:0]       d_h, d_ekj0;
  logic               out_full, ct_full;

  always_comb begin
    di          = cq_dptr_q[CMD_W-1:0];
    d_has       = (cq_dptr_q != cq_wptr_q);
    d_can_pop   = (cq_dptr_q != cq_gptr_q);  // the generator is done with this command
    d_first     = cq_flags[di][2];
    d_last      = cq_flags[di][3];
    d_dump      = cq_flags[di][4];
    d_aad_seg   = cq_flags[di][5];
    d_off       = cq_off[di];
    d_slen      = cq_slen[di];
    d_nd        = ({1'b0, d_slen} + 17'(BB - 1)) >> LOG_BB;
    d_nks       = (d_aad_seg || d_slen == 16'd0) ? 17'd0 : ks_beats(d_off[3:0], d_slen);
    d_empty_seg = (d_slen == 16'd0);
    d_last_beat = d_empty_seg || (d_j_q == d_nd - 17'd1);
    d_need_next = !d_aad_seg && !d_empty_seg && (d_j_q + 17'd1 < d_nks);
    d_hkb       = (d_first && d_j_q == 17'd0) ? (KS_W + 1)'(HKB) : '0;
    d_ks_need   = d_hkb + (KS_W + 1)'(!d_aad_seg && !d_empty_seg) + (KS_W + 1)'(d_need_next);
    // The last beat also retires the extra keystream beat a mid-block start needs.
    d_ks_pop    = d_hkb + (KS_W + 1)'(!d_aad_seg && !d_empty_seg)
                + (KS_W + 1)'(d_last_beat && d_need_next);
    d_n         = (d_last_beat && !d_empty_seg)
                ? BYTES_W'(d_slen - 16'(d_j_q[15:0] << LOG_BB)) : BYTES_W'(BB);
    if (d_empty_seg) d_n = '0;

    d_ks_ok  = (ks_cnt_q >= d_ks_need);
    d_out_ok = !out_full || d_dump || d_aad_seg;
    d_ct_ok  = !ct_full;
    d_emit_item = !d_empty_seg || d_first || d_last;
    // One step = one data beat, or the whole of a zero-length segment.
    d_step   = d_has && d_ks_ok && d_out_ok && (d_ct_ok || !d_emit_item)
            && (!d_last_beat || d_can_pop) && (d_empty_seg || in_valid_i);
    in_ready_o = d_has && !d_empty_seg && d_ks_ok && d_out_ok && d_ct_ok
              && (!d_last_beat || d_can_pop);
    d_beat   = d_step && !d_empty_seg;
    d_emit_out = d_beat && !d_dump && !d_aad_seg;

    // Keystream aligned to the segment's bytes: the segment starts off%16 bytes into block
    // floor(off/16), which is byte 0 of the first keystream beat of the segment.
`ifdef NICSIM_SIM_FORMS
    // d_hkb is 0 or HKB = PEEK - 2, so the hardware form's select always takes k = d_hkb.
    d_ks_pair = {ks_mem_q[ks_rptr_q + KS_W'(d_hkb) + KS_W'(1)], ks_mem_q[ks_rptr_q + KS_W'(d_hkb)]};
`else
    d_ks_pair = '0;
    for (int k = 0; k < PEEK - 1; k++) begin
      if (KS_W'(k) == KS_W'(d_hkb)) d_ks_pair = {ks_peek[k + 1], ks_peek[k]};
    end
`endif
    d_ks   = DW'(d_ks_pair >> {d_off[3:0], 3'b000});
    // Bytes [0, d_n) (d_n <= BB): one wide shift rather than BB conditional byte inserts,
    // which is what the verilated model evaluates cheaply; the same mask.
    d_mask = ~({DW{1'b1}} << {d_n, 3'b000});
    d_ct   = (in_data_i ^ (d_aad_seg ? '0 : d_ks)) & d_mask;
    d_h    = ks_peek[0][127:0];
  end

  if (LANES > 1) begin : g_ekj0_lane1
    assign d_ekj0 = ks_peek[0][255:128];
  end else begin : g_ekj0_beat1
`ifdef NICSIM_SIM_FORMS
    assign d_ekj0 = ks_mem_q[ks_rptr_q + KS_W'(1)][127:0];
`else
    assign d_ekj0 = ks_peek[1][127:0];
`endif
  end

  // ---- output FIFO ------------------------------------------------------------------------
  localparam int unsigned OW = DW + BYTES_W + 1 + FLOW_W;
  logic [OW-1:0] out_word;
  logic          out_empty;
  tls_gcm_fifo #(.WIDTH(OW), .DEPTH(2)) u_out_fifo (
    .clk_i,
    .rst_ni,
    .push_i  (d_emit_out),
    .data_i  ({cq_flow[di], d_last_beat, d_n, d_ct}),
    .pop_i   (out_valid_o && out_ready_i),
    .data_o  (out_word),
    .empty_o (out_empty),
    .full_o  (out_full)
  );
  assign out_valid_o = !out_empty;
  assign {out_flow_o, out_last_o, out_bytes_o, out_data_o} = out_word;

  // ---- ct FIFO to the GHASH unit ----------------------------------------------------------
  localparam int unsigned IW = FLOW_W + DW + BYTES_W + 5 + 16 + 16 + 104 + 4 + 128 + 128;
  logic [IW-1:0]      it_in, it_out;
  logic               it_empty, it_ready;
  logic [FLOW_W-1:0]  it_flow;
  logic [DW-1:0]      it_data;
  logic [BYTES_W-1:0] it_bytes;
  logic               it_rec_first, it_rec_last, it_seg_first, it_seg_last, it_aad_seg;
  logic [15:0]        it_rec_off, it_rec_len;
  logic [103:0]       it_aad;
  logic [3:0]         it_aad_len;
  logic [127:0]       it_h, it_ekj0;

  always_comb begin
    // The wide fields first (from bit 0), so each starts on a 32-bit boundary: the verilated
    // model then packs and unpacks them as whole words instead of shifting every word.
    it_in = {cq_flow[di], d_n,
             d_first && d_j_q == 17'd0, d_last && d_last_beat, d_j_q == 17'd0, d_last_beat,
             d_aad_seg, d_off, cq_rlen[di], cq_aadlen[di], cq_aad[di], d_ekj0, d_h, d_ct};
  end

  tls_gcm_fifo #(.WIDTH(IW), .DEPTH(CT_DEPTH)) u_ct_fifo (
    .clk_i,
    .rst_ni,
    .push_i  (d_step && d_emit_item),
    .data_i  (it_in),
    .pop_i   (!it_empty && it_ready),
    .data_o  (it_out),
    .empty_o (it_empty),
    .full_o  (ct_full)
  );
  assign {it_flow, it_bytes, it_rec_first, it_rec_last, it_seg_first, it_seg_last,
          it_aad_seg, it_rec_off, it_rec_len, it_aad_len, it_aad, it_ekj0, it_h, it_data} = it_out;

  logic ghash_busy, err_offset, err_length;
  tls_gcm_ghash #(
    .LANES     (LANES),
    .FLOWS     (FLOWS),
    .TAG_DEPTH (TAG_DEPTH)
  ) u_ghash (
    .clk_i,
    .rst_ni,
    .it_valid_i     (!it_empty),
    .it_ready_o     (it_ready),
    .it_flow_i      (it_flow),
    .it_data_i      (it_data),
    .it_bytes_i     (it_bytes),
    .it_rec_first_i (it_rec_first),
    .it_rec_last_i  (it_rec_last),
    .it_seg_first_i (it_seg_first),
    .it_seg_last_i  (it_seg_last),
    .it_aad_seg_i   (it_aad_seg),
    .it_rec_off_i   (it_rec_off),
    .it_rec_len_i   (it_rec_len),
    .it_aad_i       (it_aad),
    .it_aad_len_i   (it_aad_len),
    .it_h_i         (it_h),
    .it_ekj0_i      (it_ekj0),
    .tag_valid_o,
    .tag_ready_i,
    .tag_flow_o,
    .tag_o,
    .err_offset_o   (err_offset),
    .err_length_o   (err_length),
    .busy_o         (ghash_busy)
  );

  assign ks_pop = d_step ? d_ks_pop : '0;

  // ---- state ------------------------------------------------------------------------------
  logic in_bad;
  assign in_bad = d_beat && ((in_bytes_i != d_n) || (in_last_i != d_last_beat));

  always_ff @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      cq_wptr_q <= '0;
      cq_gptr_q <= '0;
      cq_dptr_q <= '0;
      g_beat_q  <= '0;
      ks_used_q <= '0;
      ks_wptr_q <= '0;
      ks_rptr_q <= '0;
      ks_cnt_q  <= '0;
      d_j_q     <= '0;
      err_o     <= '0;
    end else begin
      if (cmd_push) cq_wptr_q <= cq_wptr_q + (CMD_W + 1)'(1);
      if (g_done) begin
        cq_gptr_q <= cq_gptr_q + (CMD_W + 1)'(1);
        g_beat_q  <= '0;
      end else if (g_issue) begin
        g_beat_q  <= g_beat_q + 17'd1;
      end
      ks_used_q <= ks_used_q + (KS_W + 1)'(g_issue) - ks_pop;
      if (aes_valid) ks_wptr_q <= ks_wptr_q + KS_W'(1);
      ks_rptr_q <= ks_rptr_q + KS_W'(ks_pop);
      ks_cnt_q  <= ks_cnt_q + (KS_W + 1)'(aes_valid) - ks_pop;
      if (d_step) begin
        if (d_last_beat) begin
          cq_dptr_q <= cq_dptr_q + (CMD_W + 1)'(1);
          d_j_q     <= '0;
        end else begin
          d_j_q     <= d_j_q + 17'd1;
        end
      end
      err_o <= err_o | {err_length, err_offset, in_bad, cmd_push && cmd_bad};
    end
  end

  assign busy_o = (cq_wptr_q != cq_dptr_q) || (ks_used_q != '0) || !out_empty || !it_empty
               || ghash_busy;
endmodule
