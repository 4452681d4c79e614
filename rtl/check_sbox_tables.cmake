# ctest rtl_sbox_tables: the AES tables of the simulation forms (rtl/aes_sim_pkg.sv, Verilator
# builds only) against the hardware form (the case ROM sbox_case in rtl/aes_round_stage.sv, what
# synthesis reads), entry by entry:
#   SBOX_TABLE[x] == sbox_case(x) for all 256 x (the simulated S-box is the synthesized one);
#   TE0[x] == {3*S, S, S, 2*S} with S = sbox_case(x), products in GF(2^8) mod
#   x^8+x^4+x^3+x+1 (the T-table is SubBytes followed by MixColumns of one byte in row 0),
#   TEk[x] == TE0[x] rotated left by 8k bits, k = 1..3 (the same for a byte in row k).
# The NIST/Wycheproof tests then exercise both forms (test_rtl_engine: simulation forms,
# test_rtl_engine_synthforms: hardware forms).
#   cmake -DSV=path/to/aes_round_stage.sv -DPKG=path/to/aes_sim_pkg.sv -P check_sbox_tables.cmake
if(NOT SV OR NOT PKG)
  message(FATAL_ERROR "usage: cmake -DSV=aes_round_stage.sv -DPKG=aes_sim_pkg.sv -P check_sbox_tables.cmake")
endif()
cmake_minimum_required(VERSION 3.16)
file(READ "${SV}" text)
file(READ "${PKG}" pkg)

# Case ROM: "8'hXX: sbox_case = 8'hYY;" for every XX
# (matched without the ';', which would split a CMake list)
string(REGEX MATCHALL "8'h[0-9a-fA-F][0-9a-fA-F]: sbox_case = 8'h[0-9a-fA-F][0-9a-fA-F]" arms "${text}")
list(LENGTH arms n_arms)
if(NOT n_arms EQUAL 256)
  message(FATAL_ERROR "rtl_sbox_tables: ${n_arms} case arms in ${SV}, expected 256")
endif()

# The values of a table "NAME [256] = '{ ... };" in index order (WIDTH'hXX.. literals).
function(read_table name width hexdigits out)
  string(FIND "${pkg}" "${name} [256] = '{" t0)
  if(t0 LESS 0)
    message(FATAL_ERROR "rtl_sbox_tables: no ${name} in ${PKG}")
  endif()
  string(SUBSTRING "${pkg}" ${t0} -1 rest)
  string(FIND "${rest}" "};" t1)
  string(SUBSTRING "${rest}" 0 ${t1} table)
  string(REPEAT "[0-9a-fA-F]" ${hexdigits} hexre)
  string(REGEX MATCHALL "${width}'h${hexre}" entries "${table}")
  list(LENGTH entries n)
  if(NOT n EQUAL 256)
    message(FATAL_ERROR "rtl_sbox_tables: ${n} ${name} entries in ${PKG}, expected 256")
  endif()
  set(${out} "${entries}" PARENT_SCOPE)
endfunction()
read_table(SBOX_TABLE 8 2 sbox_entries)
read_table(TE0 32 8 te0_entries)
read_table(TE1 32 8 te1_entries)
read_table(TE2 32 8 te2_entries)
read_table(TE3 32 8 te3_entries)

# xtime in GF(2^8): multiply by x, reduce by 0x11b.
function(xtime v out)
  math(EXPR r "(${v} << 1) & 255")
  if(v GREATER_EQUAL 128)
    math(EXPR r "${r} ^ 27")
  endif()
  set(${out} ${r} PARENT_SCOPE)
endfunction()

set(seen "")
foreach(arm IN LISTS arms)
  string(REGEX REPLACE "^8'h([0-9a-fA-F]+): sbox_case = 8'h([0-9a-fA-F]+)$" "\\1" x "${arm}")
  string(REGEX REPLACE "^8'h([0-9a-fA-F]+): sbox_case = 8'h([0-9a-fA-F]+)$" "\\2" y "${arm}")
  string(TOLOWER "${x}" x)
  string(TOLOWER "${y}" y)
  math(EXPR i "0x${x}")
  if(i IN_LIST seen)
    message(FATAL_ERROR "rtl_sbox_tables: case arm 8'h${x} appears twice")
  endif()
  list(APPEND seen ${i})
  list(GET sbox_entries ${i} e)
  string(TOLOWER "${e}" e)
  if(NOT e STREQUAL "8'h${y}")
    message(FATAL_ERROR "rtl_sbox_tables: S(0x${x}): case ROM 8'h${y}, SBOX_TABLE ${e}")
  endif()
  # T-table entry from the case ROM's value.
  math(EXPR s "0x${y}")
  xtime(${s} s2)
  math(EXPR s3 "${s2} ^ ${s}")
  # Row k: bytes {b3, b2, b1, b0} = {3S, S, S, 2S} rotated left by k bytes.
  set(row_bytes ${s2} ${s} ${s} ${s3})
  foreach(k 0 1 2 3)
    set(word 0)
    foreach(r 0 1 2 3)
      math(EXPR src "(${r} - ${k} + 4) % 4")
      list(GET row_bytes ${src} byte)
      math(EXPR word "${word} | (${byte} << (8 * ${r}))")
    endforeach()
    math(EXPR te "${word}" OUTPUT_FORMAT HEXADECIMAL)
    list(GET te${k}_entries ${i} t)
    string(TOLOWER "${t}" t)
    string(REGEX REPLACE "^32'h" "" t "${t}")
    math(EXPR tv "0x${t}" OUTPUT_FORMAT HEXADECIMAL)
    if(NOT tv STREQUAL te)
      message(FATAL_ERROR "rtl_sbox_tables: TE${k}[0x${x}] = ${tv}, expected ${te} from S(0x${x}) = 0x${y}")
    endif()
  endforeach()
endforeach()
message(STATUS "rtl_sbox_tables: case ROM, SBOX_TABLE and TE0..TE3 agree on all 256 entries")
