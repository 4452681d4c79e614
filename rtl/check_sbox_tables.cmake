# ctest rtl_sbox_tables: the S-box in rtl/aes_round_stage.sv is written twice, as a case ROM
# (what synthesis reads) and, for Verilator only, as the constant array SBOX_TABLE (what the
# simulation uses). This checks that both list the same 256 values, entry by entry, so the
# simulated table (exercised by the NIST/Wycheproof tests) is the synthesized one.
#   cmake -DSV=path/to/aes_round_stage.sv -P check_sbox_tables.cmake
if(NOT SV)
  message(FATAL_ERROR "usage: cmake -DSV=aes_round_stage.sv -P check_sbox_tables.cmake")
endif()
cmake_minimum_required(VERSION 3.16)
file(READ "${SV}" text)

# Case ROM: "8'hXX: sbox_case = 8'hYY;" for every XX
# (matched without the ';', which would split a CMake list)
string(REGEX MATCHALL "8'h[0-9a-fA-F][0-9a-fA-F]: sbox_case = 8'h[0-9a-fA-F][0-9a-fA-F]" arms "${text}")
list(LENGTH arms n_arms)
if(NOT n_arms EQUAL 256)
  message(FATAL_ERROR "rtl_sbox_tables: ${n_arms} case arms in ${SV}, expected 256")
endif()

# Table: the 8'hYY values between "SBOX_TABLE [256] = '{" and the closing "};", in index order.
string(FIND "${text}" "SBOX_TABLE [256] = '{" t0)
if(t0 LESS 0)
  message(FATAL_ERROR "rtl_sbox_tables: no SBOX_TABLE in ${SV}")
endif()
string(SUBSTRING "${text}" ${t0} -1 rest)
string(FIND "${rest}" "};" t1)
string(SUBSTRING "${rest}" 0 ${t1} table)
string(REGEX MATCHALL "8'h[0-9a-fA-F][0-9a-fA-F]" entries "${table}")
list(LENGTH entries n_entries)
if(NOT n_entries EQUAL 256)
  message(FATAL_ERROR "rtl_sbox_tables: ${n_entries} SBOX_TABLE entries in ${SV}, expected 256")
endif()

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
  list(GET entries ${i} e)
  string(TOLOWER "${e}" e)
  if(NOT e STREQUAL "8'h${y}")
    message(FATAL_ERROR "rtl_sbox_tables: S(0x${x}): case ROM 8'h${y}, SBOX_TABLE ${e}")
  endif()
endforeach()
message(STATUS "rtl_sbox_tables: case ROM and SBOX_TABLE agree on all 256 entries")
