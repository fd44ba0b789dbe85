#!/usr/bin/env bash
# Builds memberlist-member (hashicorp/memberlist at the version pinned in go.mod, for the
# side-by-side benchmark, docs/BENCHMARKS.md) into OUTDIR when Go is installed, and only when
# main.go, go.mod/go.sum or the Go version changed. Without Go it says so and exits 0: the
# comparison then runs esk8s alone and says memberlist is missing.
#   tests/bench/memberlist/build.sh [OUTDIR=build/bench]
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
out=${1:-$src/../../../build/bench}

# Go's own installer puts it in /usr/local/go, on the PATH only of login shells.
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
  export PATH=/usr/local/go/bin:$PATH
fi
if ! command -v go >/dev/null; then
  echo "memberlist: go not found: not building memberlist-member (the comparison benchmark stops" \
    "saying it is missing; install Go 1.26 or later and run this again)"
  exit 0
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
bin=$out/memberlist-member
stamp=$out/memberlist-member.inputs
inputs=$( (go version; cd "$src" && sha256sum build.sh go.mod go.sum ./*.go) | sha256sum | cut -d' ' -f1)
if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$inputs" ]; then
  echo "memberlist: memberlist-member is up to date ($bin)"
  exit 0
fi
echo "memberlist: building memberlist-member ($(grep -o 'hashicorp/memberlist v[^ ]*' "$src/go.mod" | cut -d" " -f2)) -> $bin"
t0=$SECONDS
# -mod=readonly: go.mod and go.sum are committed and complete; a build never edits them.
if ! (cd "$src" && GOFLAGS=-mod=readonly go build -p "${ESK8S_GO_JOBS:-2}" -trimpath -o "$bin.tmp" .); then
  echo "memberlist: building memberlist-member FAILED after $((SECONDS - t0)) s (output above)" >&2
  exit 1
fi
mv -f "$bin.tmp" "$bin"
echo "$inputs" >"$stamp"
echo "memberlist: built memberlist-member in $((SECONDS - t0)) s"
