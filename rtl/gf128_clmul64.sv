// 64x64 -> 127-bit carry-less (GF(2)[x]) multiply. Bit i of each operand is the coefficient of
// x^i. Word-level: per multiplier bit, the multiplicand shifted into a low and a high 64-bit
// word is XORed in, so Verilator emits 64-bit operations only (a 127-bit {127{b[i]}} mask costs
// it a bit-by-bit replicate per step and made this the hottest code of the model); synthesis
// still sees the plain AND/XOR array.
module gf128_clmul64 (
  input  logic [63:0]  a_i,
  input  logic [63:0]  b_i,
  output logic [126:0] p_o
);
  logic [63:0] lo, hi;

  always_comb begin
    lo = '0;
    hi = '0;
    for (int i = 0; i < 64; i++) begin
      if (b_i[i]) begin
        lo = lo ^ (a_i << i);
        hi = hi ^ (a_i >> (64 - i));  // a shift by 64 (i = 0) gives 0
      end
    end
    p_o = {hi[62:0], lo};
  end

  // hi[63] is always 0 (the product has 127 bits).
  logic unused_hi;
  assign unused_hi = hi[63];
endmodule
