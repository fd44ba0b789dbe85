#!/usr/bin/env bash
# Builds esk8s-cluster (the real Kubernetes control plane, docs/CLUSTER.md) into OUTDIR when Go
# is installed, and only when its sources, go.mod/go.sum or the Go version changed. Without Go it
# says so and exits 0: the tests labelled "cluster" are then skipped. A cold build (empty module
# and build caches) downloads ~160 modules and compiles k8s.io/kubernetes: minutes, so it prints
# progress. Go's module and build caches make later builds fast.
#   tests/cluster/build.sh OUTDIR        (scripts/setup runs it with OUTDIR=build/cluster)
#   ESK8S_SKIP_CLUSTER=1                 skip the build (the cluster tests are then skipped)
set -euo pipefail
src=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build.sh OUTDIR}

if [ -n "${ESK8S_SKIP_CLUSTER:-}" ]; then
  echo "setup: ESK8S_SKIP_CLUSTER is set: not building esk8s-cluster (the cluster tests will be skipped)"
  exit 0
fi
# shellcheck source=../go_build.sh
. "$src/../go_build.sh"
if ! go_find; then
  echo "setup: go not found: not building esk8s-cluster, the real control plane (the cluster tests" \
    "will be skipped; docs/CLUSTER.md)"
  exit 0
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
bin=$out/esk8s-cluster
inputs=$(go_inputs_hash "$src" build.sh ../go_build.sh netns-run go.mod go.sum $(cd "$src" && echo ./*.go))
if go_up_to_date "$bin" "$inputs"; then
  echo "setup: esk8s-cluster is up to date ($bin)"
  exit 0
fi

echo "setup: building esk8s-cluster (k8s.io/kubernetes v1.37 and etcd, with Go; a cold build takes" \
  "several minutes, a cached one seconds) -> $bin"
build_cluster() {
  (
    cd "$src"
    # -mod=readonly: go.mod and go.sum are committed and complete; a build never edits them.
    # The version the servers report (/version, kubectl version) is stamped at link time, as
    # Kubernetes' own build does; a module build would otherwise say v0.0.0-master.
    k8s=$(awk '$1 == "k8s.io/kubernetes" { print $2 }' go.mod)
    minor=${k8s#v1.}
    minor=${minor%%.*}
    pkg=k8s.io/component-base/version
    # The Go files by name: the directory also holds the C++ fixture (cluster_process.cc), which
    # `go build .` refuses in a package without cgo.
    GOFLAGS=-mod=readonly go build -p "${ESK8S_GO_JOBS:-2}" -trimpath -o "$bin.tmp" \
      -ldflags="-s -w -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean" ./*.go
  )
}
go_build_logged esk8s-cluster setup "$bin" "$inputs" "$out/build.log" \
  "; ESK8S_SKIP_CLUSTER=1 skips it" -- build_cluster
echo "setup: built esk8s-cluster in $((SECONDS - GO_BUILD_T0)) s ($(du -m "$bin" | cut -f1) MB)"
