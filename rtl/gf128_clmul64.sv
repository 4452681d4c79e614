// 64x64 -> 127-bit carry-less (GF(2)[x]) multiply. Bit i of each operand is the coefficient of
// x^i. Written as one word-level loop (shift, mask, XOR per multiplier bit) rather than a
// 64x64 bit-level AND/XOR netlist so that Verilator emits 64 wide-word steps per instance and
// synthesis still sees the plain AND/XOR array.
module gf128_clmul64 (
  input  logic [63:0]  a_i,
  input  logic [63:0]  b_i,
  output logic [126:0] p_o
);
  always_comb begin
    p_o = '0;
    for (int i = 0; i < 64; i++) begin
      p_o = p_o ^ (({63'b0, a_i} << i) & {127{b_i[i]}});
    end
  end
endmodule
