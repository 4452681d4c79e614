// 64x64 -> 127-bit carry-less (GF(2)[x]) multiply. Bit i of each operand is the coefficient of
// x^i.
//
// 4-bit window formulation: the 16 multiples a*k, k = 0..15 (67 bits: low word + 3 carry-out
// bits), are built with shifts and XORs, then each nibble of b selects one multiple, which is
// XORed in at 4*j. Synthesis sees the same function as the bit-serial AND/XOR array: a small
// XOR network for the multiples and a 16:1 mux per nibble (somewhat more cells than the plain
// AND array, see rtl/README.md "Area"). It is written so for Verilator: the multiples live in
// unpacked arrays of 64-bit words (plain uint64_t arrays in the C++), each nibble is one table
// load, and there is no data-dependent branch. The bit-serial `if (b[i]) acc ^= a << i` loop it
// replaces cost ~1 900 instructions and many mispredicted branches per product in the verilated
// model (18 of these products are evaluated every cycle at LANES = 4); this costs ~250.
module gf128_clmul64 (
  input  logic [63:0]  a_i,
  input  logic [63:0]  b_i,
  output logic [126:0] p_o
);
  logic [63:0] mul_lo [16];  // (a * k) mod x^64
  logic [2:0]  mul_hi [16];  // (a * k) div x^64: k has degree <= 3, so at most 3 bits
  logic [63:0] lo, hi;
  logic [3:0]  nib;

  always_comb begin
    mul_lo[0] = '0;
    mul_hi[0] = '0;
    mul_lo[1] = a_i;
    mul_hi[1] = '0;
    for (int k = 2; k < 16; k += 2) begin
      // a*k = (a*(k/2)) * x; a*(k+1) = a*k + a.
      mul_lo[k]     = {mul_lo[k/2][62:0], 1'b0};
      mul_hi[k]     = {mul_hi[k/2][1:0], mul_lo[k/2][63]};
      mul_lo[k + 1] = mul_lo[k] ^ a_i;
      mul_hi[k + 1] = mul_hi[k];
    end
    lo = '0;
    hi = '0;
    for (int j = 0; j < 16; j++) begin
      nib = b_i[4*j +: 4];
      lo  = lo ^ (mul_lo[nib] << (4*j));
      // The part of the 67-bit multiple that lands above bit 63 (a shift by 64, j = 0, gives 0).
      hi  = hi ^ (mul_lo[nib] >> (64 - 4*j)) ^ (64'(mul_hi[nib]) << (4*j));
    end
    p_o = {hi[62:0], lo};
  end

  // hi[63] is always 0 (the product has 127 bits).
  logic unused_hi;
  assign unused_hi = hi[63];
endmodule
