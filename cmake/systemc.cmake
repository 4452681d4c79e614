# Debian's libsystemc-dev ships a pkg-config file but no CMake package.
pkg_check_modules(SYSTEMC REQUIRED IMPORTED_TARGET systemc>=2.3.3)
add_library(nicsim_systemc INTERFACE)
target_link_libraries(nicsim_systemc INTERFACE PkgConfig::SYSTEMC)
# SystemC's sc_report macros and deprecated TLM helpers warn under -Wpedantic; keep them quiet as
# system headers so -Werror applies to our own code only.
target_include_directories(nicsim_systemc SYSTEM INTERFACE ${SYSTEMC_INCLUDE_DIRS})
