#!/usr/bin/env bash
# Builds a libFuzzer target with clang++ (ASan+UBSan) and runs it for a bounded time over its
# seed corpus. usage: run_fuzz.sh SOURCE_DIR OUT_DIR TARGET SECONDS
set -euo pipefail
src="$1"; out="$2"; target="$3"; seconds="$4"
max_len=8192
mkdir -p "$out"
case "$target" in
  watch_stream)
    sources=("$src/common/status.cc" "$src/common/escape.cc" "$src/common/text.cc"
             "$src/kube/json_read.cc" "$src/kube/watch_stream.cc" "$src/discovery/endpointslice.cc"
             "$src/tests/fuzz/watch_stream_fuzz.cc") ;;
  gossip_wire)
    sources=("$src/common/status.cc" "$src/gossip/message.cc" "$src/gossip/bounded_cbor.cc"
             "$src/gossip/wire.cc" "$src/gossip/host_status.cc" "$src/plugin/esdb_gossip.cc"
             "$src/tests/fuzz/gossip_wire_fuzz.cc") ;;
  signed_claim)
    sources=("$src/common/status.cc" "$src/gossip/message.cc" "$src/gossip/bounded_cbor.cc"
             "$src/gossip/wire.cc" "$src/gossip/claim.cc" "$src/gossip/config.cc"
             "$src/gossip/awareness.cc" "$src/gossip/broadcast_queue.cc" "$src/gossip/membership.cc"
             "$src/gossip/probe_scheduler.cc" "$src/gossip/push_pull.cc" "$src/gossip/suspicion.cc"
             "$src/gossip/core.cc" "$src/gossip/tls_snapshot.cc" "$src/gossip/tls_claims.cc"
             "$src/tests/fuzz/signed_claim_fuzz.cc")
    libs=(-lssl -lcrypto) ;;
  http_request)
    # Inputs past the 8 KiB head limit reach the 431 path.
    max_len=20000
    sources=("$src/common/status.cc" "$src/common/escape.cc" "$src/plugin/http_request_parser.cc"
             "$src/plugin/http_router.cc" "$src/plugin/http_refusals.cc" "$src/plugin/health.cc"
             "$src/plugin/metrics.cc" "$src/plugin/modes.cc" "$src/tests/fuzz/http_request_fuzz.cc")
    ;;
  *) echo "unknown fuzz target $target" >&2; exit 2 ;;
esac
clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I"$src" -I"$src/plugin/include" "${sources[@]}" ${libs[@]+"${libs[@]}"} -o "$out/$target-fuzz"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src/tests/fuzz/corpus/$target/." "$work/"
"$out/$target-fuzz" -max_total_time="$seconds" -max_len="$max_len" -print_final_stats=1 "$work" 2>&1 | tail -n 12
