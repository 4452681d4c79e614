// Full GF(2^128) multiply (carry-less Karatsuba product + reduction) in one combinational
// block: used by the GHASH loop (Y*H^k, the only recurrence) and by the H-power unit.
module gf128_mul (
  input  logic [127:0] a_i,
  input  logic [127:0] b_i,
  output logic [127:0] r_o
);
  logic [254:0] p;

  gf128_clmul  u_clmul  (.a_i(a_i), .b_i(b_i), .p_o(p));
  gf128_reduce u_reduce (.p_i(p), .r_o(r_o));
endmodule
