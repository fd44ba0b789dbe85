#!/usr/bin/env bash
# Builds memberlist-member (hashicorp/memberlist at the version pinned in go.mod, for the
# side-by-side benchmark, docs/BENCHMARKS.md) into OUTDIR when Go is installed, and only when
# main.go, go.mod/go.sum, this script or the Go version changed. Without Go it says so and exits
# 0: the comparison then stops saying memberlist-member is missing, and its smoke test skips.
#   tests/bench/memberlist/build.sh [OUTDIR=build/bench]
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
out=${1:-$src/../../../build/bench}

# shellcheck source=../../go_build.sh
. "$src/../../go_build.sh"
if ! go_find; then
  echo "memberlist: go not found: not building memberlist-member (the comparison benchmark stops" \
    "saying it is missing; install Go 1.26 or later and run this again)"
  exit 0
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
bin=$out/memberlist-member
inputs=$(go_inputs_hash "$src" build.sh ../../go_build.sh main.go go.mod go.sum)
if go_up_to_date "$bin" "$inputs"; then
  echo "memberlist: memberlist-member is up to date ($bin)"
  exit 0
fi
version=$(awk 'NF >= 2 && $(NF-1) == "github.com/hashicorp/memberlist" { print $NF }' "$src/go.mod")
echo "memberlist: building memberlist-member (hashicorp/memberlist $version) -> $bin"
build_member() {
  cd "$src"
  # -mod=readonly: go.mod and go.sum are committed and complete; a build never edits them.
  GOFLAGS=-mod=readonly go build -p "${ESK8S_GO_JOBS:-2}" -trimpath -o "$bin.tmp" .
}
go_build_logged memberlist-member memberlist "$bin" "$inputs" "$out/memberlist-member.log" "" \
  -- build_member
echo "memberlist: built memberlist-member in $((SECONDS - GO_BUILD_T0)) s"
