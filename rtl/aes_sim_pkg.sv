// Tables and helpers of the simulation form of the AES pipeline (aes_ctr_pipe, rtl/README
// "Simulation forms"); Verilator builds only. Synthesis (yosys: no VERILATOR) and the verilated
// build with +define+NICSIM_SYNTH_FORMS read the hardware form (aes_round_stage.sv: case-ROM
// S-box, xtime MixColumns), and this file is empty for them. A package, so the verilated model
// holds one copy of each table.
//
// The ctest rtl_sbox_tables (rtl/check_sbox_tables.cmake) proves, entry by entry, against the
// hardware form in aes_round_stage.sv:
//   SBOX_TABLE[x] == the case ROM sbox_case(x),
//   TE0[x] == {3*S[x], S[x], S[x], 2*S[x]} in GF(2^8) (SubBytes+MixColumns of one byte in row 0),
//   TEk[x] == TE0[x] rotated left by 8k bits (the same for a byte in row k),
//   RCON[j] == rcon(j).
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
    8'h41, 8'h99, 8'h2d, 8'h0f, 8'hb0, 8'h54, 8'hbb, 8'h16
  };

  // "T-table": SubBytes and MixColumns of one byte at once. A byte s = S[x] in row r of a
  // column contributes 2s to row r, s to rows r+1 and r+2, 3s to row r+3 (rows mod 4;
  // MixColumns out_r = 2a_r ^ 3a_(r+1) ^ a_(r+2) ^ a_(r+3), FIPS-197 §5.1.3). With row r at
  // bits [8r+7:8r], the row-0 contribution is TE0[x] = {3s, s, s, 2s} and the row-r one is
  // TEr[x] = TE0[x] rotated left by 8r bits (four tables, 4 KB, rather than one table and three
  // rotations per column: 7 % fewer instructions per engine cycle, 6 % faster measured).
  // Generated from SBOX_TABLE, checked by rtl_sbox_tables.
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

  localparam logic [31:0] TE1 [256] = '{
    32'h6363c6a5, 32'h7c7cf884, 32'h7777ee99, 32'h7b7bf68d, 32'hf2f2ff0d, 32'h6b6bd6bd,
    32'h6f6fdeb1, 32'hc5c59154, 32'h30306050, 32'h01010203, 32'h6767cea9, 32'h2b2b567d,
    32'hfefee719, 32'hd7d7b562, 32'habab4de6, 32'h7676ec9a, 32'hcaca8f45, 32'h82821f9d,
    32'hc9c98940, 32'h7d7dfa87, 32'hfafaef15, 32'h5959b2eb, 32'h47478ec9, 32'hf0f0fb0b,
    32'hadad41ec, 32'hd4d4b367, 32'ha2a25ffd, 32'hafaf45ea, 32'h9c9c23bf, 32'ha4a453f7,
    32'h7272e496, 32'hc0c09b5b, 32'hb7b775c2, 32'hfdfde11c, 32'h93933dae, 32'h26264c6a,
    32'h36366c5a, 32'h3f3f7e41, 32'hf7f7f502, 32'hcccc834f, 32'h3434685c, 32'ha5a551f4,
    32'he5e5d134, 32'hf1f1f908, 32'h7171e293, 32'hd8d8ab73, 32'h31316253, 32'h15152a3f,
    32'h0404080c, 32'hc7c79552, 32'h23234665, 32'hc3c39d5e, 32'h18183028, 32'h969637a1,
    32'h05050a0f, 32'h9a9a2fb5, 32'h07070e09, 32'h12122436, 32'h80801b9b, 32'he2e2df3d,
    32'hebebcd26, 32'h27274e69, 32'hb2b27fcd, 32'h7575ea9f, 32'h0909121b, 32'h83831d9e,
    32'h2c2c5874, 32'h1a1a342e, 32'h1b1b362d, 32'h6e6edcb2, 32'h5a5ab4ee, 32'ha0a05bfb,
    32'h5252a4f6, 32'h3b3b764d, 32'hd6d6b761, 32'hb3b37dce, 32'h2929527b, 32'he3e3dd3e,
    32'h2f2f5e71, 32'h84841397, 32'h5353a6f5, 32'hd1d1b968, 32'h00000000, 32'hededc12c,
    32'h20204060, 32'hfcfce31f, 32'hb1b179c8, 32'h5b5bb6ed, 32'h6a6ad4be, 32'hcbcb8d46,
    32'hbebe67d9, 32'h3939724b, 32'h4a4a94de, 32'h4c4c98d4, 32'h5858b0e8, 32'hcfcf854a,
    32'hd0d0bb6b, 32'hefefc52a, 32'haaaa4fe5, 32'hfbfbed16, 32'h434386c5, 32'h4d4d9ad7,
    32'h33336655, 32'h85851194, 32'h45458acf, 32'hf9f9e910, 32'h02020406, 32'h7f7ffe81,
    32'h5050a0f0, 32'h3c3c7844, 32'h9f9f25ba, 32'ha8a84be3, 32'h5151a2f3, 32'ha3a35dfe,
    32'h404080c0, 32'h8f8f058a, 32'h92923fad, 32'h9d9d21bc, 32'h38387048, 32'hf5f5f104,
    32'hbcbc63df, 32'hb6b677c1, 32'hdadaaf75, 32'h21214263, 32'h10102030, 32'hffffe51a,
    32'hf3f3fd0e, 32'hd2d2bf6d, 32'hcdcd814c, 32'h0c0c1814, 32'h13132635, 32'hececc32f,
    32'h5f5fbee1, 32'h979735a2, 32'h444488cc, 32'h17172e39, 32'hc4c49357, 32'ha7a755f2,
    32'h7e7efc82, 32'h3d3d7a47, 32'h6464c8ac, 32'h5d5dbae7, 32'h1919322b, 32'h7373e695,
    32'h6060c0a0, 32'h81811998, 32'h4f4f9ed1, 32'hdcdca37f, 32'h22224466, 32'h2a2a547e,
    32'h90903bab, 32'h88880b83, 32'h46468cca, 32'heeeec729, 32'hb8b86bd3, 32'h1414283c,
    32'hdedea779, 32'h5e5ebce2, 32'h0b0b161d, 32'hdbdbad76, 32'he0e0db3b, 32'h32326456,
    32'h3a3a744e, 32'h0a0a141e, 32'h494992db, 32'h06060c0a, 32'h2424486c, 32'h5c5cb8e4,
    32'hc2c29f5d, 32'hd3d3bd6e, 32'hacac43ef, 32'h6262c4a6, 32'h919139a8, 32'h959531a4,
    32'he4e4d337, 32'h7979f28b, 32'he7e7d532, 32'hc8c88b43, 32'h37376e59, 32'h6d6ddab7,
    32'h8d8d018c, 32'hd5d5b164, 32'h4e4e9cd2, 32'ha9a949e0, 32'h6c6cd8b4, 32'h5656acfa,
    32'hf4f4f307, 32'heaeacf25, 32'h6565caaf, 32'h7a7af48e, 32'haeae47e9, 32'h08081018,
    32'hbaba6fd5, 32'h7878f088, 32'h25254a6f, 32'h2e2e5c72, 32'h1c1c3824, 32'ha6a657f1,
    32'hb4b473c7, 32'hc6c69751, 32'he8e8cb23, 32'hdddda17c, 32'h7474e89c, 32'h1f1f3e21,
    32'h4b4b96dd, 32'hbdbd61dc, 32'h8b8b0d86, 32'h8a8a0f85, 32'h7070e090, 32'h3e3e7c42,
    32'hb5b571c4, 32'h6666ccaa, 32'h484890d8, 32'h03030605, 32'hf6f6f701, 32'h0e0e1c12,
    32'h6161c2a3, 32'h35356a5f, 32'h5757aef9, 32'hb9b969d0, 32'h86861791, 32'hc1c19958,
    32'h1d1d3a27, 32'h9e9e27b9, 32'he1e1d938, 32'hf8f8eb13, 32'h98982bb3, 32'h11112233,
    32'h6969d2bb, 32'hd9d9a970, 32'h8e8e0789, 32'h949433a7, 32'h9b9b2db6, 32'h1e1e3c22,
    32'h87871592, 32'he9e9c920, 32'hcece8749, 32'h5555aaff, 32'h28285078, 32'hdfdfa57a,
    32'h8c8c038f, 32'ha1a159f8, 32'h89890980, 32'h0d0d1a17, 32'hbfbf65da, 32'he6e6d731,
    32'h424284c6, 32'h6868d0b8, 32'h414182c3, 32'h999929b0, 32'h2d2d5a77, 32'h0f0f1e11,
    32'hb0b07bcb, 32'h5454a8fc, 32'hbbbb6dd6, 32'h16162c3a
  };

  localparam logic [31:0] TE2 [256] = '{
    32'h63c6a563, 32'h7cf8847c, 32'h77ee9977, 32'h7bf68d7b, 32'hf2ff0df2, 32'h6bd6bd6b,
    32'h6fdeb16f, 32'hc59154c5, 32'h30605030, 32'h01020301, 32'h67cea967, 32'h2b567d2b,
    32'hfee719fe, 32'hd7b562d7, 32'hab4de6ab, 32'h76ec9a76, 32'hca8f45ca, 32'h821f9d82,
    32'hc98940c9, 32'h7dfa877d, 32'hfaef15fa, 32'h59b2eb59, 32'h478ec947, 32'hf0fb0bf0,
    32'had41ecad, 32'hd4b367d4, 32'ha25ffda2, 32'haf45eaaf, 32'h9c23bf9c, 32'ha453f7a4,
    32'h72e49672, 32'hc09b5bc0, 32'hb775c2b7, 32'hfde11cfd, 32'h933dae93, 32'h264c6a26,
    32'h366c5a36, 32'h3f7e413f, 32'hf7f502f7, 32'hcc834fcc, 32'h34685c34, 32'ha551f4a5,
    32'he5d134e5, 32'hf1f908f1, 32'h71e29371, 32'hd8ab73d8, 32'h31625331, 32'h152a3f15,
    32'h04080c04, 32'hc79552c7, 32'h23466523, 32'hc39d5ec3, 32'h18302818, 32'h9637a196,
    32'h050a0f05, 32'h9a2fb59a, 32'h070e0907, 32'h12243612, 32'h801b9b80, 32'he2df3de2,
    32'hebcd26eb, 32'h274e6927, 32'hb27fcdb2, 32'h75ea9f75, 32'h09121b09, 32'h831d9e83,
    32'h2c58742c, 32'h1a342e1a, 32'h1b362d1b, 32'h6edcb26e, 32'h5ab4ee5a, 32'ha05bfba0,
    32'h52a4f652, 32'h3b764d3b, 32'hd6b761d6, 32'hb37dceb3, 32'h29527b29, 32'he3dd3ee3,
    32'h2f5e712f, 32'h84139784, 32'h53a6f553, 32'hd1b968d1, 32'h00000000, 32'hedc12ced,
    32'h20406020, 32'hfce31ffc, 32'hb179c8b1, 32'h5bb6ed5b, 32'h6ad4be6a, 32'hcb8d46cb,
    32'hbe67d9be, 32'h39724b39, 32'h4a94de4a, 32'h4c98d44c, 32'h58b0e858, 32'hcf854acf,
    32'hd0bb6bd0, 32'hefc52aef, 32'haa4fe5aa, 32'hfbed16fb, 32'h4386c543, 32'h4d9ad74d,
    32'h33665533, 32'h85119485, 32'h458acf45, 32'hf9e910f9, 32'h02040602, 32'h7ffe817f,
    32'h50a0f050, 32'h3c78443c, 32'h9f25ba9f, 32'ha84be3a8, 32'h51a2f351, 32'ha35dfea3,
    32'h4080c040, 32'h8f058a8f, 32'h923fad92, 32'h9d21bc9d, 32'h38704838, 32'hf5f104f5,
    32'hbc63dfbc, 32'hb677c1b6, 32'hdaaf75da, 32'h21426321, 32'h10203010, 32'hffe51aff,
    32'hf3fd0ef3, 32'hd2bf6dd2, 32'hcd814ccd, 32'h0c18140c, 32'h13263513, 32'hecc32fec,
    32'h5fbee15f, 32'h9735a297, 32'h4488cc44, 32'h172e3917, 32'hc49357c4, 32'ha755f2a7,
    32'h7efc827e, 32'h3d7a473d, 32'h64c8ac64, 32'h5dbae75d, 32'h19322b19, 32'h73e69573,
    32'h60c0a060, 32'h81199881, 32'h4f9ed14f, 32'hdca37fdc, 32'h22446622, 32'h2a547e2a,
    32'h903bab90, 32'h880b8388, 32'h468cca46, 32'heec729ee, 32'hb86bd3b8, 32'h14283c14,
    32'hdea779de, 32'h5ebce25e, 32'h0b161d0b, 32'hdbad76db, 32'he0db3be0, 32'h32645632,
    32'h3a744e3a, 32'h0a141e0a, 32'h4992db49, 32'h060c0a06, 32'h24486c24, 32'h5cb8e45c,
    32'hc29f5dc2, 32'hd3bd6ed3, 32'hac43efac, 32'h62c4a662, 32'h9139a891, 32'h9531a495,
    32'he4d337e4, 32'h79f28b79, 32'he7d532e7, 32'hc88b43c8, 32'h376e5937, 32'h6ddab76d,
    32'h8d018c8d, 32'hd5b164d5, 32'h4e9cd24e, 32'ha949e0a9, 32'h6cd8b46c, 32'h56acfa56,
    32'hf4f307f4, 32'heacf25ea, 32'h65caaf65, 32'h7af48e7a, 32'hae47e9ae, 32'h08101808,
    32'hba6fd5ba, 32'h78f08878, 32'h254a6f25, 32'h2e5c722e, 32'h1c38241c, 32'ha657f1a6,
    32'hb473c7b4, 32'hc69751c6, 32'he8cb23e8, 32'hdda17cdd, 32'h74e89c74, 32'h1f3e211f,
    32'h4b96dd4b, 32'hbd61dcbd, 32'h8b0d868b, 32'h8a0f858a, 32'h70e09070, 32'h3e7c423e,
    32'hb571c4b5, 32'h66ccaa66, 32'h4890d848, 32'h03060503, 32'hf6f701f6, 32'h0e1c120e,
    32'h61c2a361, 32'h356a5f35, 32'h57aef957, 32'hb969d0b9, 32'h86179186, 32'hc19958c1,
    32'h1d3a271d, 32'h9e27b99e, 32'he1d938e1, 32'hf8eb13f8, 32'h982bb398, 32'h11223311,
    32'h69d2bb69, 32'hd9a970d9, 32'h8e07898e, 32'h9433a794, 32'h9b2db69b, 32'h1e3c221e,
    32'h87159287, 32'he9c920e9, 32'hce8749ce, 32'h55aaff55, 32'h28507828, 32'hdfa57adf,
    32'h8c038f8c, 32'ha159f8a1, 32'h89098089, 32'h0d1a170d, 32'hbf65dabf, 32'he6d731e6,
    32'h4284c642, 32'h68d0b868, 32'h4182c341, 32'h9929b099, 32'h2d5a772d, 32'h0f1e110f,
    32'hb07bcbb0, 32'h54a8fc54, 32'hbb6dd6bb, 32'h162c3a16
  };

  localparam logic [31:0] TE3 [256] = '{
    32'hc6a56363, 32'hf8847c7c, 32'hee997777, 32'hf68d7b7b, 32'hff0df2f2, 32'hd6bd6b6b,
    32'hdeb16f6f, 32'h9154c5c5, 32'h60503030, 32'h02030101, 32'hcea96767, 32'h567d2b2b,
    32'he719fefe, 32'hb562d7d7, 32'h4de6abab, 32'hec9a7676, 32'h8f45caca, 32'h1f9d8282,
    32'h8940c9c9, 32'hfa877d7d, 32'hef15fafa, 32'hb2eb5959, 32'h8ec94747, 32'hfb0bf0f0,
    32'h41ecadad, 32'hb367d4d4, 32'h5ffda2a2, 32'h45eaafaf, 32'h23bf9c9c, 32'h53f7a4a4,
    32'he4967272, 32'h9b5bc0c0, 32'h75c2b7b7, 32'he11cfdfd, 32'h3dae9393, 32'h4c6a2626,
    32'h6c5a3636, 32'h7e413f3f, 32'hf502f7f7, 32'h834fcccc, 32'h685c3434, 32'h51f4a5a5,
    32'hd134e5e5, 32'hf908f1f1, 32'he2937171, 32'hab73d8d8, 32'h62533131, 32'h2a3f1515,
    32'h080c0404, 32'h9552c7c7, 32'h46652323, 32'h9d5ec3c3, 32'h30281818, 32'h37a19696,
    32'h0a0f0505, 32'h2fb59a9a, 32'h0e090707, 32'h24361212, 32'h1b9b8080, 32'hdf3de2e2,
    32'hcd26ebeb, 32'h4e692727, 32'h7fcdb2b2, 32'hea9f7575, 32'h121b0909, 32'h1d9e8383,
    32'h58742c2c, 32'h342e1a1a, 32'h362d1b1b, 32'hdcb26e6e, 32'hb4ee5a5a, 32'h5bfba0a0,
    32'ha4f65252, 32'h764d3b3b, 32'hb761d6d6, 32'h7dceb3b3, 32'h527b2929, 32'hdd3ee3e3,
    32'h5e712f2f, 32'h13978484, 32'ha6f55353, 32'hb968d1d1, 32'h00000000, 32'hc12ceded,
    32'h40602020, 32'he31ffcfc, 32'h79c8b1b1, 32'hb6ed5b5b, 32'hd4be6a6a, 32'h8d46cbcb,
    32'h67d9bebe, 32'h724b3939, 32'h94de4a4a, 32'h98d44c4c, 32'hb0e85858, 32'h854acfcf,
    32'hbb6bd0d0, 32'hc52aefef, 32'h4fe5aaaa, 32'hed16fbfb, 32'h86c54343, 32'h9ad74d4d,
    32'h66553333, 32'h11948585, 32'h8acf4545, 32'he910f9f9, 32'h04060202, 32'hfe817f7f,
    32'ha0f05050, 32'h78443c3c, 32'h25ba9f9f, 32'h4be3a8a8, 32'ha2f35151, 32'h5dfea3a3,
    32'h80c04040, 32'h058a8f8f, 32'h3fad9292, 32'h21bc9d9d, 32'h70483838, 32'hf104f5f5,
    32'h63dfbcbc, 32'h77c1b6b6, 32'haf75dada, 32'h42632121, 32'h20301010, 32'he51affff,
    32'hfd0ef3f3, 32'hbf6dd2d2, 32'h814ccdcd, 32'h18140c0c, 32'h26351313, 32'hc32fecec,
    32'hbee15f5f, 32'h35a29797, 32'h88cc4444, 32'h2e391717, 32'h9357c4c4, 32'h55f2a7a7,
    32'hfc827e7e, 32'h7a473d3d, 32'hc8ac6464, 32'hbae75d5d, 32'h322b1919, 32'he6957373,
    32'hc0a06060, 32'h19988181, 32'h9ed14f4f, 32'ha37fdcdc, 32'h44662222, 32'h547e2a2a,
    32'h3bab9090, 32'h0b838888, 32'h8cca4646, 32'hc729eeee, 32'h6bd3b8b8, 32'h283c1414,
    32'ha779dede, 32'hbce25e5e, 32'h161d0b0b, 32'had76dbdb, 32'hdb3be0e0, 32'h64563232,
    32'h744e3a3a, 32'h141e0a0a, 32'h92db4949, 32'h0c0a0606, 32'h486c2424, 32'hb8e45c5c,
    32'h9f5dc2c2, 32'hbd6ed3d3, 32'h43efacac, 32'hc4a66262, 32'h39a89191, 32'h31a49595,
    32'hd337e4e4, 32'hf28b7979, 32'hd532e7e7, 32'h8b43c8c8, 32'h6e593737, 32'hdab76d6d,
    32'h018c8d8d, 32'hb164d5d5, 32'h9cd24e4e, 32'h49e0a9a9, 32'hd8b46c6c, 32'hacfa5656,
    32'hf307f4f4, 32'hcf25eaea, 32'hcaaf6565, 32'hf48e7a7a, 32'h47e9aeae, 32'h10180808,
    32'h6fd5baba, 32'hf0887878, 32'h4a6f2525, 32'h5c722e2e, 32'h38241c1c, 32'h57f1a6a6,
    32'h73c7b4b4, 32'h9751c6c6, 32'hcb23e8e8, 32'ha17cdddd, 32'he89c7474, 32'h3e211f1f,
    32'h96dd4b4b, 32'h61dcbdbd, 32'h0d868b8b, 32'h0f858a8a, 32'he0907070, 32'h7c423e3e,
    32'h71c4b5b5, 32'hccaa6666, 32'h90d84848, 32'h06050303, 32'hf701f6f6, 32'h1c120e0e,
    32'hc2a36161, 32'h6a5f3535, 32'haef95757, 32'h69d0b9b9, 32'h17918686, 32'h9958c1c1,
    32'h3a271d1d, 32'h27b99e9e, 32'hd938e1e1, 32'heb13f8f8, 32'h2bb39898, 32'h22331111,
    32'hd2bb6969, 32'ha970d9d9, 32'h07898e8e, 32'h33a79494, 32'h2db69b9b, 32'h3c221e1e,
    32'h15928787, 32'hc920e9e9, 32'h8749cece, 32'haaff5555, 32'h50782828, 32'ha57adfdf,
    32'h038f8c8c, 32'h59f8a1a1, 32'h09808989, 32'h1a170d0d, 32'h65dabfbf, 32'hd731e6e6,
    32'h84c64242, 32'hd0b86868, 32'h82c34141, 32'h29b09999, 32'h5a772d2d, 32'h1e110f0f,
    32'h7bcbb0b0, 32'ha8fc5454, 32'h6dd6bbbb, 32'h2c3a1616
  };
  function automatic logic [7:0] sbox(input logic [7:0] x);
    sbox = SBOX_TABLE[x];
  endfunction

  // SubWord with ShiftRows' byte gather: bytes b0..b3 (b0 -> [7:0]) through the S-box.
  function automatic logic [31:0] sub4(input logic [7:0] b0, input logic [7:0] b1,
                                       input logic [7:0] b2, input logic [7:0] b3);
    sub4 = {sbox(b3), sbox(b2), sbox(b1), sbox(b0)};
  endfunction

  // SubBytes+ShiftRows+MixColumns of one output column from the four bytes ShiftRows brings to
  // it (b_r in row r): four lookups, one per row, XORed.
  function automatic logic [31:0] te_column(input logic [7:0] b0, input logic [7:0] b1,
                                            input logic [7:0] b2, input logic [7:0] b3);
    te_column = TE0[b0] ^ TE1[b1] ^ TE2[b2] ^ TE3[b3];
  endfunction

  // Round constants Rcon[j] = x^(j-1) in GF(2^8), j = 1..10 (FIPS-197 §5.2); index 0 and 11..15
  // unused (0). The same values as the case in aes_round_stage (checked by rtl_sbox_tables).
  localparam logic [7:0] RCON [16] = '{
    8'h00, 8'h01, 8'h02, 8'h04, 8'h08, 8'h10, 8'h20, 8'h40,
    8'h80, 8'h1b, 8'h36, 8'h00, 8'h00, 8'h00, 8'h00, 8'h00
  };
endpackage
`endif
