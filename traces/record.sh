#!/usr/bin/env bash
# record.sh: record a real TLS download as a user would see it on the wire, with its key log.
#
# Two network namespaces (server and client) joined by one veth pair; `openssl s_server -WWW`
# serves a generated file in the server namespace, `curl` fetches it in the client namespace
# with SSLKEYLOGFILE set, and `dumpcap` captures on the server's veth. Optionally nftables in
# the client namespace drops a share of the server's packets (or chosen ones) on arrival, so the
# real Linux TCP stack of the server retransmits; the capture, taken on the sender's side, has
# both the lost frames and their retransmissions, which is what a NIC transmit path sees.
#
# Network: everything happens inside the two namespaces this script creates. The veth pair is
# created inside the server namespace with its peer put straight into the client namespace, so
# the host's own network is never touched; neither namespace has a default route, so no packet
# can go anywhere but the other namespace.
#
# Frames are MSS-sized: TSO/GSO/GRO and transmit checksum offload are turned off on both veth
# ends with ethtool, so the capture holds wire-sized frames with real (software-computed)
# TCP checksums instead of 64 KB super-frames with partial checksums.
#
# Usage (as root):
#   traces/record.sh --out PREFIX [--tls 1.2|1.3] [--cipher aes128|aes256] [--size BYTES]
#                    [--loss PERCENT] [--drop N[,N...]] [--mtu BYTES] [--port PORT]
#                    [--seed N] [--payload-out FILE] [--no-install]
# Writes PREFIX.pcapng and PREFIX.keys (NSS key-log format), checks with tshark that the
# capture decrypts to the served file, and prints a summary (versions, sizes, sha256s, frame
# and retransmission counts) on stdout.
set -Eeuo pipefail
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

die() { echo "record.sh: error: $*" >&2; exit 1; }
log() { echo "record.sh: $*" >&2; }

usage() {
  sed -n '2,/^set -Eeuo/p' "$0" | sed -e '/^set -Eeuo/d' -e 's/^# \{0,1\}//'
  exit "${1:-0}"
}

# ---------------------------------------------------------------- options
orig_args=("$@")
tls=1.3
cipher=aes128
size_bytes=131072
loss_pct=0
drop_list=""
mtu_bytes=1500
port=4433
seed=1
out=""
payload_out=""
install=1

while [[ $# -gt 0 ]]; do
  case "$1" in
    --tls) tls=${2:?}; shift 2 ;;
    --cipher) cipher=${2:?}; shift 2 ;;
    --size) size_bytes=${2:?}; shift 2 ;;
    --loss) loss_pct=${2:?}; shift 2 ;;
    --drop) drop_list=${2:?}; shift 2 ;;
    --mtu) mtu_bytes=${2:?}; shift 2 ;;
    --port) port=${2:?}; shift 2 ;;
    --seed) seed=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --payload-out) payload_out=${2:?}; shift 2 ;;
    --no-install) install=0; shift ;;
    -h|--help) usage 0 ;;
    *) echo "record.sh: error: unknown option '$1'" >&2; usage 2 >&2 ;;
  esac
done

[[ -n "$out" ]] || die "--out PREFIX is required (writes PREFIX.pcapng and PREFIX.keys)"
[[ "$tls" == 1.2 || "$tls" == 1.3 ]] || die "--tls must be 1.2 or 1.3, got '$tls'"
[[ "$cipher" == aes128 || "$cipher" == aes256 ]] || die "--cipher must be aes128 or aes256, got '$cipher'"
[[ "$size_bytes" =~ ^[0-9]+$ && "$size_bytes" -ge 1 ]] || die "--size must be a positive byte count, got '$size_bytes'"
[[ "$mtu_bytes" =~ ^[0-9]+$ && "$mtu_bytes" -ge 576 && "$mtu_bytes" -le 9000 ]] || die "--mtu must be 576..9000, got '$mtu_bytes'"
[[ "$port" =~ ^[0-9]+$ && "$port" -ge 1 && "$port" -le 65535 ]] || die "--port must be 1..65535, got '$port'"
[[ "$seed" =~ ^[0-9]+$ ]] || die "--seed must be a non-negative integer, got '$seed'"
# Loss is a percentage with at most one decimal; nftables draws `numgen random mod 1000` and
# drops below loss*10, so 2.5 means 25 in 1000.
[[ "$loss_pct" =~ ^[0-9]+(\.[0-9])?$ ]] || die "--loss must be a percentage like 2 or 2.5, got '$loss_pct'"
loss_permille=$(( ${loss_pct%.*} * 10 ))
[[ "$loss_pct" == *.* ]] && loss_permille=$(( loss_permille + ${loss_pct#*.} ))
(( loss_permille < 1000 )) || die "--loss must be below 100, got '$loss_pct'"
if [[ -n "$drop_list" ]]; then
  [[ "$drop_list" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "--drop must be packet numbers like 5,17 (1 = first server packet), got '$drop_list'"
fi

case "$tls/$cipher" in
  1.2/aes128) suite=ECDHE-ECDSA-AES128-GCM-SHA256 ;;
  1.2/aes256) suite=ECDHE-ECDSA-AES256-GCM-SHA384 ;;
  1.3/aes128) suite=TLS_AES_128_GCM_SHA256 ;;
  1.3/aes256) suite=TLS_AES_256_GCM_SHA384 ;;
esac

# ---------------------------------------------------------------- root and packages
[[ $(id -u) -eq 0 ]] || die "must run as root: it creates network namespaces, a veth pair, nftables rules and captures packets (try: sudo $0 ...)"

# command -> Debian package that provides it.
declare -A pkg_of=(
  [ip]=iproute2 [ss]=iproute2 [nft]=nftables [openssl]=openssl [curl]=curl
  [dumpcap]=wireshark-common [tshark]=tshark [ethtool]=ethtool [perl]=perl-base [sha256sum]=coreutils
)
missing_pkgs=()
for cmd in "${!pkg_of[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing_pkgs+=("${pkg_of[$cmd]}")
done
if [[ ${#missing_pkgs[@]} -gt 0 ]]; then
  mapfile -t missing_pkgs < <(printf '%s\n' "${missing_pkgs[@]}" | sort -u)
  [[ $install -eq 1 ]] || die "missing packages: ${missing_pkgs[*]} (run without --no-install, or apt-get install them)"
  command -v apt-get >/dev/null 2>&1 || die "missing packages: ${missing_pkgs[*]} and no apt-get to install them"
  log "installing ${missing_pkgs[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >&2 \
    || die "apt-get install ${missing_pkgs[*]} failed"
  for cmd in "${!pkg_of[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || die "'$cmd' still missing after installing ${pkg_of[$cmd]}"
  done
fi

# ---------------------------------------------------------------- names and cleanup
ns_srv=nicsim-srv
ns_cli=nicsim-cli
veth_srv=nicsim-s0
veth_cli=nicsim-c0
ip_srv=10.99.0.1
ip_cli=10.99.0.2

work=$(mktemp -d /tmp/nicsim-record.XXXXXX)
created_ns=()
server_pid=""
dumpcap_pid=""
curl_pid=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM ERR
  # Only what this run started: its own PIDs and the namespaces it created.
  for pid in $curl_pid $server_pid $dumpcap_pid; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  wait 2>/dev/null || true
  for ns in "${created_ns[@]}"; do
    ip netns del "$ns" 2>/dev/null || log "warning: could not delete namespace $ns"
  done
  if [[ -n "${NICSIM_RECORD_KEEP_WORK:-}" ]]; then log "kept work folder $work"; else rm -rf "$work"; fi
  if [[ $rc -ne 0 ]]; then
    # Nothing half-written may look like a result.
    rm -f "$out.pcapng" "$out.keys"
    [[ -n "$payload_out" ]] && rm -f "$payload_out"
    log "failed (exit $rc); cleaned up, no output left"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for ns in $ns_srv $ns_cli; do
  [[ ! -e /var/run/netns/$ns ]] || die "namespace $ns already exists (another recording running, or left over: 'ip netns del $ns')"
done

out_dir=$(dirname -- "$out")
[[ -d "$out_dir" ]] || die "output folder '$out_dir' does not exist"
rm -f "$out.pcapng" "$out.keys"

# ---------------------------------------------------------------- payload, certificate
# The payload (nicsim_payload in lib.sh) is the same bytes for the same --size and --seed.
mkdir -p "$work/www"
payload="$work/www/payload.bin"
nicsim_payload "$size_bytes" "$seed" > "$payload"
[[ $(stat -c %s "$payload") -eq $size_bytes ]] || die "payload generation gave the wrong size"
payload_sha256=$(sha256sum "$payload" | cut -d' ' -f1)

# Self-signed P-256 certificate made for this run only (ECDSA, as the ECDHE-ECDSA suites need).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj "/CN=nicsim-record" -keyout "$work/key.pem" -out "$work/cert.pem" 2>"$work/req.log" \
  || { cat "$work/req.log" >&2; die "openssl req failed"; }

# ---------------------------------------------------------------- namespaces and link
for ns in $ns_srv $ns_cli; do
  ip netns add "$ns" || die "cannot create network namespace $ns (this sandbox may not allow it)"
  created_ns+=("$ns")
  # No IPv6: keeps router solicitations and MLD reports off the link.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 || true
  ip -n "$ns" link set lo up
done
# Created inside the server namespace with the peer placed directly in the client namespace:
# the host namespace never holds either end.
ip -n $ns_srv link add $veth_srv mtu "$mtu_bytes" type veth peer name $veth_cli mtu "$mtu_bytes" netns $ns_cli \
  || die "cannot create the veth pair"
ip -n $ns_srv addr add $ip_srv/24 dev $veth_srv
ip -n $ns_cli addr add $ip_cli/24 dev $veth_cli
ip -n $ns_srv link set $veth_srv up
ip -n $ns_cli link set $veth_cli up

offload_note="TSO/GSO/GRO and tx checksum offload off (ethtool)"
for pair in "$ns_srv:$veth_srv" "$ns_cli:$veth_cli"; do
  ns=${pair%%:*}; dev=${pair#*:}
  if ! ip netns exec "$ns" ethtool -K "$dev" tso off gso off gro off tx off >/dev/null 2>"$work/ethtool.log"; then
    offload_note="WARNING: ethtool could not turn offloads off on $dev; frames may be larger than the MSS"
    log "$offload_note: $(cat "$work/ethtool.log")"
  fi
done

# ---------------------------------------------------------------- receiver-side loss
nft_rules=""
if [[ -n "$drop_list" || $loss_permille -gt 0 ]]; then
  match="ip saddr $ip_srv tcp sport $port"
  {
    echo "table ip nicsim_loss {"
    echo "  chain prerouting {"
    echo "    type filter hook prerouting priority -300; policy accept;"
    if [[ -n "$drop_list" ]]; then
      # numgen inc counts only the packets that reached it (the ones from the server port),
      # from 0: packet N (1-based) is counter value N-1. It comes first so the numbering
      # includes every server packet, not only those the random rule let through.
      nums=$(echo "$drop_list" | tr ',' '\n' | awk '{printf "%s%d", (NR>1?", ":""), $1-1}')
      echo "    $match numgen inc mod 4294967295 { $nums } drop"
    fi
    if [[ $loss_permille -gt 0 ]]; then
      echo "    $match numgen random mod 1000 < $loss_permille drop"
    fi
    echo "  }"
    echo "}"
  } > "$work/loss.nft"
  ip netns exec $ns_cli nft -f "$work/loss.nft" || { cat "$work/loss.nft" >&2; die "nft rules failed"; }
  nft_rules=$(ip netns exec $ns_cli nft list table ip nicsim_loss)
fi

# ---------------------------------------------------------------- server
case "$tls" in
  1.2) srv_ver=(-tls1_2 -cipher "$suite"); cli_ver=(--tlsv1.2 --tls-max 1.2 --ciphers "$suite") ;;
  1.3) srv_ver=(-tls1_3 -ciphersuites "$suite"); cli_ver=(--tlsv1.3 --tls-max 1.3 --tls13-ciphers "$suite") ;;
esac
srv_opts=()
openssl s_server -help 2>&1 | grep -q -- '-num_tickets' && srv_opts+=(-num_tickets 0)
openssl s_server -help 2>&1 | grep -q -- '-http_server_binmode' && srv_opts+=(-http_server_binmode)

(cd "$work/www" && exec ip netns exec $ns_srv openssl s_server -quiet -naccept 1 -WWW \
   -accept "$ip_srv:$port" -cert "$work/cert.pem" -key "$work/key.pem" \
   "${srv_ver[@]}" "${srv_opts[@]}") >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 50); do
  ip netns exec $ns_srv ss -Hltn "sport = :$port" | grep -q . && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; die "openssl s_server exited early"; }
  sleep 0.1
done
ip netns exec $ns_srv ss -Hltn "sport = :$port" | grep -q . || die "openssl s_server is not listening on $ip_srv:$port"

# ---------------------------------------------------------------- capture
ip netns exec $ns_srv dumpcap -q -i $veth_srv -f "tcp port $port" -w "$work/capture.pcapng" \
  >"$work/dumpcap.log" 2>&1 &
dumpcap_pid=$!
for _ in $(seq 100); do
  grep -q "^File:" "$work/dumpcap.log" 2>/dev/null && break
  kill -0 "$dumpcap_pid" 2>/dev/null || { cat "$work/dumpcap.log" >&2; die "dumpcap exited early"; }
  sleep 0.1
done
grep -q "^File:" "$work/dumpcap.log" || { cat "$work/dumpcap.log" >&2; die "dumpcap did not start"; }

# ---------------------------------------------------------------- client
: > "$work/keys"
log "fetching $size_bytes bytes over TLS $tls ($suite), loss ${loss_pct}%${drop_list:+, dropping server packets $drop_list}"
# In the background and waited for, so that a signal runs the cleanup at once (bash defers
# traps until a foreground child ends).
ip netns exec $ns_cli env SSLKEYLOGFILE="$work/keys" curl -sS -k --http1.1 "${cli_ver[@]}" \
  --connect-timeout 10 --max-time 120 -o "$work/got.bin" "https://$ip_srv:$port/payload.bin" \
  2>"$work/curl.log" &
curl_pid=$!
wait "$curl_pid" || { cat "$work/curl.log" >&2; die "curl failed"; }
curl_pid=""

# s_server -naccept 1 exits once its one connection is done; then wait until the server
# socket has left every state but TIME-WAIT (its FIN was acknowledged) so the capture ends
# with the closing handshake, retransmitted FINs included.
for _ in $(seq 200); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.05; done
for _ in $(seq 200); do
  ip netns exec $ns_srv ss -Htn state all "sport = :$port" | grep -v -E '^(LISTEN|TIME-WAIT)' | grep -q . || break
  sleep 0.05
done
sleep 0.2
kill -INT "$dumpcap_pid"
wait "$dumpcap_pid" || true
dumpcap_pid=""
# "Packets received/dropped on interface 'x': 353/0 (...)": a capture that lost packets
# in the kernel buffer would be incomplete.
drops=$(sed -n 's/.*received\/dropped on interface[^:]*: [0-9]*\/\([0-9]*\).*/\1/p' "$work/dumpcap.log" | head -1)
[[ "$drops" == 0 ]] || { cat "$work/dumpcap.log" >&2; die "dumpcap reports dropped packets ('${drops:-unknown}')"; }

cmp -s "$work/got.bin" "$payload" || die "curl did not receive the served file"
grep -q . "$work/keys" || die "curl wrote no key log (SSLKEYLOGFILE unsupported by this curl?)"

# ---------------------------------------------------------------- verify with tshark
tshark_q() { tshark "$@" 2> >(grep -v -E 'Running as user "root"|^$' >&2); }
frames=$(tshark_q -r "$work/capture.pcapng" | wc -l)
retrans=$(tshark_q -r "$work/capture.pcapng" -Y tcp.analysis.retransmission | wc -l)
# tshark labels a segment that is re-sent sooner than one handshake RTT after the highest
# sequence "out-of-order" instead of "retransmission"; on a veth the RTT is microseconds, so
# most fast retransmissions get that label. In a capture taken at the sender, which never
# reorders its own segments, both labels mean the segment was sent again.
resent=$(tshark_q -r "$work/capture.pcapng" \
  -Y "ip.src == $ip_srv && (tcp.analysis.retransmission || tcp.analysis.out_of_order)" | wc -l)
bad_csum=$(tshark_q -r "$work/capture.pcapng" -o tcp.check_checksum:TRUE -o ip.check_checksum:TRUE \
  -Y 'tcp.checksum.status == 0 || ip.checksum.status == 0' | wc -l)
(( bad_csum == 0 )) || log "warning: $bad_csum frames with a wrong IP/TCP checksum"
# What the ServerHello really chose (TLS 1.3 puts its version in supported_versions).
neg_ver=$(tshark_q -r "$work/capture.pcapng" -Y 'tls.handshake.type == 2' -T fields -E separator=' ' \
  -e tls.handshake.extensions.supported_version -e tls.handshake.version -e tls.handshake.ciphersuite \
  | head -1 | awk '{ if (NF == 3) print "version " $1 ", suite " $3; else print "version " $1 ", suite " $2 }')
nicsim_server_body "$work/capture.pcapng" "$work/keys" "$ip_srv" "$port" > "$work/stream_body.bin" \
  || die "tshark could not decrypt the capture with its key log"
cmp -s "$work/stream_body.bin" "$payload" \
  || die "tshark's decryption of the capture ($(stat -c %s "$work/stream_body.bin") bytes) is not the served file ($size_bytes bytes)"
if (( loss_permille > 0 )) || [[ -n "$drop_list" ]]; then
  (( resent > 0 )) || log "warning: loss was requested but the server re-sent no segment"
fi

# ---------------------------------------------------------------- results
cp "$work/capture.pcapng" "$out.pcapng"
cp "$work/keys" "$out.keys"
chmod 644 "$out.pcapng" "$out.keys"  # dumpcap makes its file 0600
if [[ -n "$payload_out" ]]; then cp "$payload" "$payload_out"; fi

cat <<EOF
command:           traces/record.sh ${orig_args[*]}
tls:               $tls
suite:             $suite
server hello:      $neg_ver
payload bytes:     $size_bytes
payload sha256:    $payload_sha256
loss percent:      $loss_pct
drop packets:      ${drop_list:-none}
mtu:               $mtu_bytes
frames:            $frames
retransmissions:   $retrans (tcp.analysis.retransmission)
server re-sent:    $resent (server segments flagged retransmission or out_of_order)
bad checksums:     $bad_csum
offloads:          $offload_note
pcapng:            $out.pcapng
pcapng bytes:      $(stat -c %s "$out.pcapng")
pcapng sha256:     $(sha256sum "$out.pcapng" | cut -d' ' -f1)
keys:              $out.keys
keys sha256:       $(sha256sum "$out.keys" | cut -d' ' -f1)
date:              $(date -u +%Y-%m-%dT%H:%M:%SZ)
kernel:            $(uname -r)
openssl:           $(openssl version)
curl:              $(curl --version | head -1)
dumpcap:           $(dumpcap --version | head -1)
nft rules:         $(echo "${nft_rules:-none}" | tr -s ' \n' ' ')
EOF
