// Reduction of a 255-bit carry-less product modulo the GCM polynomial
// P(x) = x^128 + x^7 + x^2 + x + 1 (reflected representation: bit i = coefficient of x^i).
// x^128 = x^7 + x^2 + x + 1, so the high half folds back twice: the first fold spills at most
// 6 bits above bit 127 (126 + 7 = 133), the second fold cannot spill.
module gf128_reduce (
  input  logic [254:0] p_i,
  output logic [127:0] r_o
);
  logic [126:0] hi;
  logic [133:0] fold1;
  logic [5:0]   hi2;
  logic [12:0]  fold2;

  always_comb begin
    hi    = p_i[254:128];
    fold1 = {7'b0, hi} ^ {6'b0, hi, 1'b0} ^ {5'b0, hi, 2'b0} ^ {hi, 7'b0};
    hi2   = fold1[133:128];
    fold2 = {7'b0, hi2} ^ {6'b0, hi2, 1'b0} ^ {5'b0, hi2, 2'b0} ^ {hi2, 7'b0};
    r_o   = p_i[127:0] ^ fold1[127:0] ^ {115'b0, fold2};
  end
endmodule
