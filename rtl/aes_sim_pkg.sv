// Tables for the simulation forms of the AES round (rtl/README "Simulation forms"); Verilator
// builds only. A package, so the verilated model holds one copy of each table (a localparam in
// aes_round_stage would be a member of every one of the 14 stage instances: 14 copies in the
// data cache). Synthesis (yosys: no VERILATOR) and the verilated build with
// +define+NICSIM_SYNTH_FORMS read the hardware forms in aes_round_stage.sv, and this file is
// empty for them.
//
// The ctest rtl_sbox_tables (rtl/check_sbox_tables.cmake) proves, entry by entry, that
//   SBOX_TABLE[x] equals the case ROM sbox_case in aes_round_stage.sv (what synthesis reads),
//   TE0[x] equals {3*S[x], S[x], S[x], 2*S[x]} in GF(2^8) (SubBytes+MixColumns of one byte).
`ifdef VERILATOR
`ifndef NICSIM_SYNTH_FORMS
`ifndef NICSIM_SIM_FORMS
`define NICSIM_SIM_FORMS
`endif
`endif
`endif

`ifdef NICSIM_SIM_FORMS
package aes_sim_pkg;
  // AES S-box (FIPS-197 §5.1.1), the same 256 values as the case ROM: one byte load in the C++
  // (a case inside a function becomes a tree of eight nested conditionals there).
  localparam logic [7:0] SBOX_TABLE [256] = '{
    8'h63, 8'h7c, 8'h77, 8'h7b, 8'hf2, 8'h6b, 8'h6f, 8'hc5,
    8'h30, 8'h01, 8'h67, 8'h2b, 8'hfe, 8'hd7, 8'hab, 8'h76,
    8'hca, 8'h82, 8'hc9, 8'h7d, 8'hfa, 8'h59, 8'h47, 8'hf0,
    8'had, 8'hd4, 8'ha2, 8'haf, 8'h9c, 8'ha4, 8'h72, 8'hc0,
    8'hb7, 8'hfd, 8'h93, 8'h26, 8'h36, 8'h3f, 8'hf7, 8'hcc,
    8'h34, 8'ha5, 8'he5, 8'hf1, 8'h71, 8'hd8, 8'h31, 8'h15,
    8'h04, 8'hc7, 8'h23, 8'hc3, 8'h18, 8'h96, 8'h05, 8'h9a,
    8'h07, 8'h12, 8'h80, 8'he2, 8'heb, 8'h27, 8'hb2, 8'h75,
    8'h09, 8'h83, 8'h2c, 8'h1a, 8'h1b, 8'h6e, 8'h5a, 8'ha0,
    8'h52, 8'h3b, 8'hd6, 8'hb3, 8'h29, 8'he3, 8'h2f, 8'h84,
    8'h53, 8'hd1, 8'h00, 8'hed, 8'h20, 8'hfc, 8'hb1, 8'h5b,
    8'h6a, 8'hcb, 8'hbe, 8'h39, 8'h4a, 8'h4c, 8'h58, 8'hcf,
    8'hd0, 8'hef, 8'haa, 8'hfb, 8'h43, 8'h4d, 8'h33, 8'h85,
    8'h45, 8'hf9, 8'h02, 8'h7f, 8'h50, 8'h3c, 8'h9f, 8'ha8,
    8'h51, 8'ha3, 8'h40, 8'h8f, 8'h92, 8'h9d, 8'h38, 8'hf5,
    8'hbc, 8'hb6, 8'hda, 8'h21, 8'h10, 8'hff, 8'hf3, 8'hd2,
    8'hcd, 8'h0c, 8'h13, 8'hec, 8'h5f, 8'h97, 8'h44, 8'h17,
    8'hc4, 8'ha7, 8'h7e, 8'h3d, 8'h64, 8'h5d, 8'h19, 8'h73,
    8'h60, 8'h81, 8'h4f, 8'hdc, 8'h22, 8'h2a, 8'h90, 8'h88,
    8'h46, 8'hee, 8'hb8, 8'h14, 8'hde, 8'h5e, 8'h0b, 8'hdb,
    8'he0, 8'h32, 8'h3a, 8'h0a, 8'h49, 8'h06, 8'h24, 8'h5c,
    8'hc2, 8'hd3, 8'hac, 8'h62, 8'h91, 8'h95, 8'he4, 8'h79,
    8'he7, 8'hc8, 8'h37, 8'h6d, 8'h8d, 8'hd5, 8'h4e, 8'ha9,
    8'h6c, 8'h56, 8'hf4, 8'hea, 8'h65, 8'h7a, 8'hae, 8'h08,
    8'hba, 8'h78, 8'h25, 8'h2e, 8'h1c, 8'ha6, 8'hb4, 8'hc6,
    8'he8, 8'hdd, 8'h74, 8'h1f, 8'h4b, 8'hbd, 8'h8b, 8'h8a,
    8'h70, 8'h3e, 8'hb5, 8'h66, 8'h48, 8'h03, 8'hf6, 8'h0e,
    8'h61, 8'h35, 8'h57, 8'hb9, 8'h86, 8'hc1, 8'h1d, 8'h9e,
    8'he1, 8'hf8, 8'h98, 8'h11, 8'h69, 8'hd9, 8'h8e, 8'h94,
    8'h9b, 8'h1e, 8'h87, 8'he9, 8'hce, 8'h55, 8'h28, 8'hdf,
    8'h8c, 8'ha1, 8'h89, 8'h0d, 8'hbf, 8'he6, 8'h42, 8'h68,
    8'h41, 8'h99, 8'h2d, 8'h0f, 8'hb0, 8'h54, 8'hbb, 8'h16  };

  // "T-table": SubBytes and MixColumns of one byte at once. A byte s = S[x] in row r of a
  // column contributes 2s to row r, s to rows r+1 and r+2, 3s to row r+3 (rows mod 4;
  // MixColumns out_r = 2a_r ^ 3a_(r+1) ^ a_(r+2) ^ a_(r+3), FIPS-197 §5.1.3). With row r at
  // bits [8r+7:8r], the row-0 contribution is TE0[x] = {3s, s, s, 2s} and the row-r one is
  // TE0[x] rotated left by 8r bits. Generated from SBOX_TABLE, checked by rtl_sbox_tables.
  localparam logic [31:0] TE0 [256] = '{
    32'ha56363c6, 32'h847c7cf8, 32'h997777ee, 32'h8d7b7bf6, 32'h0df2f2ff, 32'hbd6b6bd6,
    32'hb16f6fde, 32'h54c5c591, 32'h50303060, 32'h03010102, 32'ha96767ce, 32'h7d2b2b56,
    32'h19fefee7, 32'h62d7d7b5, 32'he6abab4d, 32'h9a7676ec, 32'h45caca8f, 32'h9d82821f,
    32'h40c9c989, 32'h877d7dfa, 32'h15fafaef, 32'heb5959b2, 32'hc947478e, 32'h0bf0f0fb,
    32'hecadad41, 32'h67d4d4b3, 32'hfda2a25f, 32'heaafaf45, 32'hbf9c9c23, 32'hf7a4a453,
    32'h967272e4, 32'h5bc0c09b, 32'hc2b7b775, 32'h1cfdfde1, 32'hae93933d, 32'h6a26264c,
    32'h5a36366c, 32'h413f3f7e, 32'h02f7f7f5, 32'h4fcccc83, 32'h5c343468, 32'hf4a5a551,
    32'h34e5e5d1, 32'h08f1f1f9, 32'h937171e2, 32'h73d8d8ab, 32'h53313162, 32'h3f15152a,
    32'h0c040408, 32'h52c7c795, 32'h65232346, 32'h5ec3c39d, 32'h28181830, 32'ha1969637,
    32'h0f05050a, 32'hb59a9a2f, 32'h0907070e, 32'h36121224, 32'h9b80801b, 32'h3de2e2df,
    32'h26ebebcd, 32'h6927274e, 32'hcdb2b27f, 32'h9f7575ea, 32'h1b090912, 32'h9e83831d,
    32'h742c2c58, 32'h2e1a1a34, 32'h2d1b1b36, 32'hb26e6edc, 32'hee5a5ab4, 32'hfba0a05b,
    32'hf65252a4, 32'h4d3b3b76, 32'h61d6d6b7, 32'hceb3b37d, 32'h7b292952, 32'h3ee3e3dd,
    32'h712f2f5e, 32'h97848413, 32'hf55353a6, 32'h68d1d1b9, 32'h00000000, 32'h2cededc1,
    32'h60202040, 32'h1ffcfce3, 32'hc8b1b179, 32'hed5b5bb6, 32'hbe6a6ad4, 32'h46cbcb8d,
    32'hd9bebe67, 32'h4b393972, 32'hde4a4a94, 32'hd44c4c98, 32'he85858b0, 32'h4acfcf85,
    32'h6bd0d0bb, 32'h2aefefc5, 32'he5aaaa4f, 32'h16fbfbed, 32'hc5434386, 32'hd74d4d9a,
    32'h55333366, 32'h94858511, 32'hcf45458a, 32'h10f9f9e9, 32'h06020204, 32'h817f7ffe,
    32'hf05050a0, 32'h443c3c78, 32'hba9f9f25, 32'he3a8a84b, 32'hf35151a2, 32'hfea3a35d,
    32'hc0404080, 32'h8a8f8f05, 32'had92923f, 32'hbc9d9d21, 32'h48383870, 32'h04f5f5f1,
    32'hdfbcbc63, 32'hc1b6b677, 32'h75dadaaf, 32'h63212142, 32'h30101020, 32'h1affffe5,
    32'h0ef3f3fd, 32'h6dd2d2bf, 32'h4ccdcd81, 32'h140c0c18, 32'h35131326, 32'h2fececc3,
    32'he15f5fbe, 32'ha2979735, 32'hcc444488, 32'h3917172e, 32'h57c4c493, 32'hf2a7a755,
    32'h827e7efc, 32'h473d3d7a, 32'hac6464c8, 32'he75d5dba, 32'h2b191932, 32'h957373e6,
    32'ha06060c0, 32'h98818119, 32'hd14f4f9e, 32'h7fdcdca3, 32'h66222244, 32'h7e2a2a54,
    32'hab90903b, 32'h8388880b, 32'hca46468c, 32'h29eeeec7, 32'hd3b8b86b, 32'h3c141428,
    32'h79dedea7, 32'he25e5ebc, 32'h1d0b0b16, 32'h76dbdbad, 32'h3be0e0db, 32'h56323264,
    32'h4e3a3a74, 32'h1e0a0a14, 32'hdb494992, 32'h0a06060c, 32'h6c242448, 32'he45c5cb8,
    32'h5dc2c29f, 32'h6ed3d3bd, 32'hefacac43, 32'ha66262c4, 32'ha8919139, 32'ha4959531,
    32'h37e4e4d3, 32'h8b7979f2, 32'h32e7e7d5, 32'h43c8c88b, 32'h5937376e, 32'hb76d6dda,
    32'h8c8d8d01, 32'h64d5d5b1, 32'hd24e4e9c, 32'he0a9a949, 32'hb46c6cd8, 32'hfa5656ac,
    32'h07f4f4f3, 32'h25eaeacf, 32'haf6565ca, 32'h8e7a7af4, 32'he9aeae47, 32'h18080810,
    32'hd5baba6f, 32'h887878f0, 32'h6f25254a, 32'h722e2e5c, 32'h241c1c38, 32'hf1a6a657,
    32'hc7b4b473, 32'h51c6c697, 32'h23e8e8cb, 32'h7cdddda1, 32'h9c7474e8, 32'h211f1f3e,
    32'hdd4b4b96, 32'hdcbdbd61, 32'h868b8b0d, 32'h858a8a0f, 32'h907070e0, 32'h423e3e7c,
    32'hc4b5b571, 32'haa6666cc, 32'hd8484890, 32'h05030306, 32'h01f6f6f7, 32'h120e0e1c,
    32'ha36161c2, 32'h5f35356a, 32'hf95757ae, 32'hd0b9b969, 32'h91868617, 32'h58c1c199,
    32'h271d1d3a, 32'hb99e9e27, 32'h38e1e1d9, 32'h13f8f8eb, 32'hb398982b, 32'h33111122,
    32'hbb6969d2, 32'h70d9d9a9, 32'h898e8e07, 32'ha7949433, 32'hb69b9b2d, 32'h221e1e3c,
    32'h92878715, 32'h20e9e9c9, 32'h49cece87, 32'hff5555aa, 32'h78282850, 32'h7adfdfa5,
    32'h8f8c8c03, 32'hf8a1a159, 32'h80898909, 32'h170d0d1a, 32'hdabfbf65, 32'h31e6e6d7,
    32'hc6424284, 32'hb86868d0, 32'hc3414182, 32'hb0999929, 32'h772d2d5a, 32'h110f0f1e,
    32'hcbb0b07b, 32'hfc5454a8, 32'hd6bbbb6d, 32'h3a16162c  };
endpackage
`endif
