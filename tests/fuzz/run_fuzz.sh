#!/usr/bin/env bash
# Builds a libFuzzer target with clang++ (ASan+UBSan) and runs it for a bounded time over its
# seed corpus. usage: run_fuzz.sh SOURCE_DIR OUT_DIR TARGET SECONDS
set -euo pipefail
src="$1"; out="$2"; target="$3"; seconds="$4"
mkdir -p "$out"
case "$target" in
  watch_stream)
    sources=("$src/common/status.cc" "$src/discovery/endpointslice.cc" "$src/tests/fuzz/watch_stream_fuzz.cc") ;;
  gossip_wire)
    sources=("$src/common/status.cc" "$src/gossip/message.cc" "$src/gossip/bounded_cbor.cc"
             "$src/gossip/wire.cc" "$src/gossip/host_status.cc" "$src/gossip/esdb_gossip.cc"
             "$src/tests/fuzz/gossip_wire_fuzz.cc") ;;
  *) echo "unknown fuzz target $target" >&2; exit 2 ;;
esac
clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -I"$src" "${sources[@]}" -o "$out/$target-fuzz"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src/tests/fuzz/corpus/$target/." "$work/"
"$out/$target-fuzz" -max_total_time="$seconds" -max_len=8192 -print_final_stats=1 "$work" 2>&1 | tail -n 12
