// 128x128 -> 255-bit carry-less multiply, one level of Karatsuba (three 64x64 products instead
// of four): a*b = hi*x^128 + (mid + hi + lo)*x^64 + lo with mid = (a1+a0)(b1+b0).
// Operands are in the reflected GHASH representation (bit i = coefficient of x^i, see
// tls_gcm_ghash.sv); the product is left unreduced so several lanes can be XOR-accumulated
// before one reduction (crypto-engine.md §7.4b).
module gf128_clmul (
  input  logic [127:0] a_i,
  input  logic [127:0] b_i,
  output logic [254:0] p_o
);
  logic [126:0] lo, hi, mid;

  gf128_clmul64 u_lo (.a_i(a_i[63:0]),   .b_i(b_i[63:0]),   .p_o(lo));
  gf128_clmul64 u_hi (.a_i(a_i[127:64]), .b_i(b_i[127:64]), .p_o(hi));
  gf128_clmul64 u_mid (
    .a_i(a_i[127:64] ^ a_i[63:0]),
    .b_i(b_i[127:64] ^ b_i[63:0]),
    .p_o(mid)
  );

  always_comb begin
    p_o = {128'b0, lo};
    p_o = p_o ^ {64'b0, mid ^ lo ^ hi, 64'b0};
    p_o = p_o ^ {hi, 128'b0};
  end
endmodule
