#!/usr/bin/env bash
# Builds the real helm CLI (helm.sh/helm/v4, pinned in go.mod and go.sum; tools.go names it) into
# OUTDIR/helm when Go is installed, and only when go.mod, go.sum, this script or the Go version
# changed. Without Go it says so and exits 0: the tests labelled "helm" are then skipped (exit
# 77). A cold build (empty module and build caches) downloads ~120 modules and compiles helm and
# client-go: a few minutes, so it prints progress.
#   tests/helm/build.sh OUTDIR        (scripts/setup runs it with OUTDIR=build/helm)
#   ESK8S_SKIP_HELM=1                 skip the build
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}

if [ -n "${ESK8S_SKIP_HELM:-}" ]; then
  echo "setup: ESK8S_SKIP_HELM is set: not building helm (the helm tests will be skipped)"
  exit 0
fi
# Go's own installer puts it in /usr/local/go, on the PATH only of login shells.
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
  export PATH=/usr/local/go/bin:$PATH
fi
if ! command -v go >/dev/null; then
  echo "setup: go not found: not building helm (the helm tests, ctest -L helm, are skipped" \
    "until Go is installed and setup runs again)"
  exit 0
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
bin=$out/helm
stamp=$out/helm.inputs
inputs=$( (go version; cd "$src" && sha256sum build.sh tools.go go.mod go.sum) | sha256sum | cut -d' ' -f1)
if [ -x "$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$inputs" ]; then
  echo "setup: helm is up to date ($bin)"
  exit 0
fi

version=$(awk '$1 == "require" && $2 == "helm.sh/helm/v4" { print $3 }' "$src/go.mod")
echo "setup: building helm $version (helm.sh/helm/v4 with Go; a cold build takes a few minutes," \
  "a cached one seconds) -> $bin"
log=$out/build.log
t0=$SECONDS
(
  cd "$src"
  # -mod=readonly: go.mod and go.sum are committed and complete; a build never edits them.
  # helm reports its version from this variable, as its own Makefile stamps it.
  GOFLAGS=-mod=readonly go build -p "${ESK8S_GO_JOBS:-2}" -trimpath -o "$bin.tmp" \
    -ldflags="-s -w -X helm.sh/helm/v4/internal/version.version=$version" helm.sh/helm/v4/cmd/helm
) >"$log" 2>&1 &
builder=$!
while kill -0 "$builder" 2>/dev/null; do
  for _ in $(seq 60); do
    sleep 1
    kill -0 "$builder" 2>/dev/null || break
  done
  if kill -0 "$builder" 2>/dev/null; then
    echo "setup: still building helm ($((SECONDS - t0)) s)"
  fi
done
if ! wait "$builder"; then
  cat "$log" >&2
  echo "setup: building helm FAILED after $((SECONDS - t0)) s (log above; ESK8S_SKIP_HELM=1 skips it)" >&2
  exit 1
fi
mv -f "$bin.tmp" "$bin"
echo "$inputs" >"$stamp"
echo "setup: built helm in $((SECONDS - t0)) s ($("$bin" version --short 2>/dev/null || echo "version unknown"))"
