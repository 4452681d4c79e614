# shellcheck shell=bash
# lib.sh: helpers shared by record.sh and verify.sh (sourced, not run).

# nicsim_payload SIZE SEED > FILE
# The served payload: the AES-128-CTR keystream (IV 0) under the key made of the first 16 bytes
# of SHA-256("nicsim-record-seed-SEED"). Pseudo-random, so nothing in it compresses or repeats,
# and the same bytes for the same size and seed, so a trace's payload can be regenerated.
nicsim_payload() {
  local size_bytes=$1 seed=$2 key
  key=$(printf 'nicsim-record-seed-%s' "$seed" | openssl dgst -sha256 -r | cut -c1-32)
  head -c "$size_bytes" /dev/zero \
    | openssl enc -aes-128-ctr -nosalt -K "$key" -iv 00000000000000000000000000000000
}

# Hex lines on stdin to bytes on stdout (perl-base is always on Debian; xxd may not be).
nicsim_unhex() { perl -ne 'chomp; print pack("H*", $_)'; }

# nicsim_server_body PCAP KEYS SERVER_IP PORT > FILE
# What the server sent inside TLS, decrypted by tshark with the key log, less the HTTP header
# that `openssl s_server -WWW` puts in front of the file. Fails if tshark cannot decrypt.
#
# `follow,tls,raw` prints Node 0's data unindented and Node 1's indented by a tab. Node 0 is
# whoever tshark saw send data first, which is not always the client (a retransmitted
# ClientHello can make it the server), and tshark 4.0 sometimes prints Node 1 as ":0", so the
# server's lines are picked by Node 0's address.
nicsim_server_body() {
  local pcap=$1 keys=$2 ip_srv=$3 port=$4 follow stream hdr_len
  follow=$(tshark -r "$pcap" -o "tls.keylog_file:$keys" -q -z follow,tls,raw,0 2>/dev/null) || return 1
  if grep -q "^Node 0: $ip_srv:$port\$" <<<"$follow"; then
    stream=$(sed -n -e '/^Node 1:/,/^====/{/^[0-9a-f]/p}' <<<"$follow")
  elif grep -q "^Node 0: [0-9.]*:[0-9]*\$" <<<"$follow"; then
    stream=$(sed -n -e '/^Node 1:/,/^====/{s/^\t\([0-9a-f]\)/\1/p}' <<<"$follow")
  else
    echo "nicsim_server_body: tshark's follow,tls output of $pcap has no Node 0 (not decrypted?)" >&2
    return 1
  fi
  # Byte offset just past the first CRLF CRLF (-1 + 4 = 3 when there is none).
  hdr_len=$(nicsim_unhex <<<"$stream" | perl -0777 -ne 'print index($_, "\r\n\r\n") + 4')
  if (( hdr_len <= 3 )); then
    echo "nicsim_server_body: no HTTP header in the decrypted server stream of $pcap" >&2
    return 1
  fi
  nicsim_unhex <<<"$stream" | tail -c +"$((hdr_len + 1))"
}
