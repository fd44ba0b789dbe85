#!/usr/bin/env bash
# package.install_*: `cmake --install BUILD --prefix TMP` lays out what a database's build needs
# (header, versioned library, pkg-config file) plus the CLI, esk8s-node, the manifests, the RBAC
# files, the chart and the rules; the C example host builds against TMP alone and runs; the
# installed esk8s-node finds the installed library by itself; the installed manifests still
# build with kustomize (their relative paths survived the install).
#   install_test.sh SOURCE_DIR BUILD_DIR
source "$(dirname "$0")/lib.sh"
src=$(realpath "$1")
build=$(realpath "$2")
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >"$tmp/install.log" ||
  fail "cmake --install failed: $(tail -20 "$tmp/install.log")"

# The header, and the ABI version it declares.
header=$prefix/include/esk8s/plugin.h
[ -f "$header" ] || fail "no $header"
cmp -s "$header" "$src/plugin/include/esk8s/plugin.h" || fail "$header differs from the source's"
major=$(sed -n 's/^#define ESK8S_ABI_MAJOR \([0-9]*\)$/\1/p' "$header")
minor=$(sed -n 's/^#define ESK8S_ABI_MINOR \([0-9]*\)$/\1/p' "$header")
[ -n "$major" ] && [ -n "$minor" ] || fail "no ESK8S_ABI_MAJOR/MINOR in $header"

# The library: a file named by the ABI, its SONAME link, the link -lesk8s finds.
pc=$(find "$prefix" -name esk8s.pc -print -quit)
[ -n "$pc" ] || fail "no esk8s.pc installed: $(cd "$prefix" && find . | sort)"
libdir=$(dirname "$(dirname "$pc")")
real=$libdir/libesk8s.so.$major.$minor
[ -f "$real" ] && [ ! -L "$real" ] || fail "no library file $real: $(ls -l "$libdir")"
[ "$(readlink "$libdir/libesk8s.so.$major")" = "libesk8s.so.$major.$minor" ] ||
  fail "libesk8s.so.$major is not a link to libesk8s.so.$major.$minor: $(ls -l "$libdir")"
[ "$(readlink "$libdir/libesk8s.so")" = "libesk8s.so.$major" ] ||
  fail "libesk8s.so is not a link to libesk8s.so.$major: $(ls -l "$libdir")"
soname=$(readelf -d "$real" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libesk8s.so.$major" ] || fail "SONAME of $real is '$soname', want libesk8s.so.$major"
echo "library: $(cd "$libdir" && ls -l libesk8s.so* | awk '{print $9, $10, $11}' | tr '\n' ' ')SONAME $soname"

# The binaries, the manifests, RBAC, chart and rules (each a copy of the source tree's).
for bin in esk8s esk8s-node; do
  [ -x "$prefix/bin/$bin" ] || fail "no executable $prefix/bin/$bin"
done
"$prefix/bin/esk8s" version >/dev/null || fail "the installed esk8s CLI does not run"
share=$prefix/share/esk8s
diff -r "$src/examples/kubernetes" "$share/examples/kubernetes" >/dev/null ||
  fail "share/esk8s/examples/kubernetes is not the source's examples/kubernetes"
diff -r "$src/rbac" "$share/rbac" >/dev/null || fail "share/esk8s/rbac is not the source's rbac/"
for dir in charts/esk8s monitoring; do
  if [ -d "$src/$dir" ]; then
    diff -r "$src/$dir" "$share/$dir" >/dev/null || fail "share/esk8s/$dir is not the source's $dir"
  fi
done
if command -v kubectl >/dev/null; then
  for overlay in "$share"/examples/kubernetes/overlays/*/kustomization.yaml; do
    kubectl kustomize "$(dirname "$overlay")" >/dev/null ||
      fail "the installed overlay $(dirname "$overlay") does not build"
  done
else
  fail "kubectl not found (scripts/setup says how to get it): the installed overlays are built with kubectl kustomize"
fi

# A database's build: the C example host against the prefix alone.
build_and_run_c_host "$prefix" "$src" "$build"

# The installed esk8s-node loads the installed library (bin/../lib), not the build tree's.
ip=$(loopback_ip)
"$prefix/bin/esk8s" cert create-ca --out "$tmp/ca-node" >/dev/null || fail "esk8s cert create-ca failed"
env -i PATH=/usr/bin:/bin ESK8S_SERVICE=esdb ESK8S_NAMESPACE=pkg ESK8S_POD_NAME=esdb-0 \
  ESK8S_CLUSTER_DOMAIN=cluster.local ESK8S_DISCOVERY=static \
  ESK8S_STATIC_PEERS="esdb-0.esdb.pkg.svc.cluster.local=$ip:2114" ESK8S_BIND_ADDRESS="$ip" \
  ESK8S_HTTP_PORT=0 ESK8S_HTTPS_PORT=off ESK8S_PRESET=local ESK8S_TLS_CA_DIR="$tmp/ca-node" \
  timeout 30 "$prefix/bin/esk8s-node" --log-format json >"$tmp/node.log" 2>&1 &
node=$!
for _ in $(seq 100); do
  grep -q '"message":"running; SIGTERM' "$tmp/node.log" && break
  kill -0 "$node" 2>/dev/null || break
  sleep 0.1
done
kill -TERM "$node" 2>/dev/null || true
wait "$node" || fail "the installed esk8s-node failed: $(cat "$tmp/node.log")"
loaded=$(jq -r 'select(.message == "loaded the plugin") | .fields.plugin' "$tmp/node.log") ||
  fail "esk8s-node --log-format json wrote a line that is not JSON: $(cat "$tmp/node.log")"
[ -n "$loaded" ] && [ "$(realpath "$loaded")" = "$(realpath "$real")" ] ||
  fail "the installed esk8s-node loaded '$loaded', not $real: $(cat "$tmp/node.log")"
echo "esk8s-node: loaded $loaded"
echo "PASS"
