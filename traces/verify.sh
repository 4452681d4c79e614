#!/usr/bin/env bash
# verify.sh: check the committed captures against captures/MANIFEST.md with tshark (no root).
#
# For every row of the "Recorded traces" table: regenerates the payload from its size and seed
# and compares its SHA-256 with the table; decrypts the capture with its key log and checks
# that the server's stream, less the HTTP header, is that payload; checks the TLS version and
# cipher suite of the ServerHello, the frame count, the tcp.analysis.retransmission count and
# the re-sent segment count; for a lossy trace, that it has retransmissions. Then checks every
# row of the "File checksums" table. Prints one line per check and "N passed, N failed".
#
# Usage: traces/verify.sh [MANIFEST]   (default: the MANIFEST.md beside this script's captures/)
set -uo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
source "$here/lib.sh"
manifest=${1:-$here/captures/MANIFEST.md}
[[ -f "$manifest" ]] || { echo "verify.sh: error: no manifest '$manifest'" >&2; exit 2; }
for cmd in tshark perl openssl sha256sum; do
  command -v "$cmd" >/dev/null || { echo "verify.sh: error: '$cmd' not found (apt-get install tshark)" >&2; exit 2; }
done

ip_srv=10.99.0.1
port=4433
passed=0
failed=0
check() {  # check NAME EXPECTED ACTUAL
  if [[ "$2" == "$3" ]]; then
    passed=$((passed + 1)); echo "ok    $1: $3"
  else
    failed=$((failed + 1)); echo "FAIL  $1: expected '$2', got '$3'"
  fi
}
tshark_count() { tshark "$@" 2>/dev/null | wc -l; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

rows=0
# | `captures/x` | TLS | suite (0xNNNN) | bytes | seed | sha256 | loss % | frames | retrans | re-sent |
while IFS='|' read -r _ trace tls suite size_bytes seed payload_sha loss frames retrans resent _; do
  trace=$(echo "$trace" | tr -d ' `')
  payload_sha=$(echo "$payload_sha" | tr -d ' ')
  [[ "$trace" == captures/* && "$payload_sha" =~ ^[0-9a-f]{64}$ ]] || continue
  rows=$((rows + 1))
  tls=$(echo "$tls" | tr -d ' '); size_bytes=$(echo "$size_bytes" | tr -d ' ')
  seed=$(echo "$seed" | tr -d ' ')
  loss=$(echo "$loss" | tr -d ' '); frames=$(echo "$frames" | tr -d ' ')
  retrans=$(echo "$retrans" | tr -d ' '); resent=$(echo "$resent" | tr -d ' ')
  suite_id=$(echo "$suite" | sed -n 's/.*(\(0x[0-9a-f]*\)).*/\1/p')
  pcap="$here/$trace.pcapng"; keys="$here/$trace.keys"
  name=${trace#captures/}

  nicsim_payload "$size_bytes" "$seed" > "$tmp/payload"
  check "$name payload regenerated from seed" "$payload_sha" "$(sha256sum < "$tmp/payload" | cut -d' ' -f1)"
  if nicsim_server_body "$pcap" "$keys" "$ip_srv" "$port" > "$tmp/body"; then
    check "$name decrypted server stream" "$payload_sha" "$(sha256sum < "$tmp/body" | cut -d' ' -f1)"
  else
    check "$name decrypted server stream" "$payload_sha" "not decrypted"
  fi
  hello=$(tshark -r "$pcap" -Y 'tls.handshake.type == 2' -T fields -E separator=' ' \
    -e tls.handshake.extensions.supported_version -e tls.handshake.version -e tls.handshake.ciphersuite 2>/dev/null \
    | head -1 | awk '{ if (NF == 3) print $1 " " $3; else print $1 " " $2 }')
  want_ver=$([[ "$tls" == 1.3 ]] && echo 0x0304 || echo 0x0303)
  check "$name ServerHello version and suite" "$want_ver $suite_id" "$hello"
  check "$name frames" "$frames" "$(tshark_count -r "$pcap")"
  got_retrans=$(tshark_count -r "$pcap" -Y tcp.analysis.retransmission)
  check "$name tcp.analysis.retransmission" "$retrans" "$got_retrans"
  check "$name server re-sent segments" "$resent" \
    "$(tshark_count -r "$pcap" -Y "ip.src == $ip_srv && (tcp.analysis.retransmission || tcp.analysis.out_of_order)")"
  if [[ "$loss" != 0 ]]; then
    check "$name lossy trace has retransmissions" "yes" "$( (( got_retrans > 0 )) && echo yes || echo no)"
  fi
done < "$manifest"
check "recorded traces in the manifest" "yes" "$( (( rows >= 4 )) && echo yes || echo "only $rows")"

# | `path` | sha256 |
while IFS='|' read -r _ file sha _; do
  file=$(echo "$file" | tr -d ' `'); sha=$(echo "$sha" | tr -d ' ')
  [[ "$sha" =~ ^[0-9a-f]{64}$ ]] || continue
  if [[ -f "$here/$file" ]]; then
    check "sha256 $file" "$sha" "$(sha256sum < "$here/$file" | cut -d' ' -f1)"
  else
    check "sha256 $file" "$sha" "missing file"
  fi
done < "$manifest"

echo "$passed passed, $failed failed"
(( failed == 0 ))
