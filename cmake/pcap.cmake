pkg_check_modules(PCAP REQUIRED IMPORTED_TARGET libpcap)
add_library(nicsim_pcap INTERFACE)
target_link_libraries(nicsim_pcap INTERFACE PkgConfig::PCAP)
