# Shared by the package tests: failing, temporary directories, and building and running the C
# example host against an installed esk8s (a prefix from cmake --install, or a .deb's /usr).
set -euo pipefail

fail() { echo "FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/esk8s-package-XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# Tools these tests need; a missing one fails the test, naming the Debian package.
need() {
  command -v "$1" >/dev/null || fail "$1 not found: install the Debian package '$2'"
}
need pkg-config pkg-config
need readelf binutils
need cc gcc
need jq jq

# A loopback address of this run's own, so the gossip port does not meet another test's.
loopback_ip() { echo "127.77.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))"; }

# build_and_run_c_host PREFIX SOURCE_TREE BUILD_TREE
# Copies the installed example host out of PREFIX, compiles it with nothing but
# `pkg-config --cflags --libs esk8s` found under PREFIX, and runs it for 2 s as a one-member
# static cluster with a CA made by PREFIX's own `esk8s cert create-ca`.
build_and_run_c_host() {
  local prefix=$1 src=$2 build=$3
  local pcdir work ip libdir major minor version
  pcdir=$(dirname "$(find "$prefix" -name esk8s.pc -print -quit)")
  [ -f "$pcdir/esk8s.pc" ] || fail "no esk8s.pc under $prefix"
  work=$(mktemp -d "$tmp/host-XXXXXX")
  cp "$prefix/share/esk8s/examples/c-host/esk8s_host.c" "$work/" ||
    fail "the example host is not installed under $prefix/share/esk8s/examples/c-host"

  # Only this prefix's .pc: PKG_CONFIG_LIBDIR replaces the default search path.
  local -a pc=(env PKG_CONFIG_PATH="$pcdir" PKG_CONFIG_LIBDIR="$pcdir" pkg-config)
  local flags
  flags=$("${pc[@]}" --cflags --libs esk8s) || fail "pkg-config cannot find esk8s in $pcdir"
  libdir=$("${pc[@]}" --variable=libdir esk8s)
  major=$("${pc[@]}" --variable=abi_major esk8s)
  minor=$("${pc[@]}" --variable=abi_minor esk8s)
  version=$("${pc[@]}" --modversion esk8s)
  [ "$(realpath "$("${pc[@]}" --variable=plugin esk8s)")" = "$(realpath "$libdir/libesk8s.so.$major.$minor")" ] ||
    fail "pkg-config --variable=plugin does not name $libdir/libesk8s.so.$major (the SONAME)"

  # Compiled in a directory outside both trees; the dependency list proves which header it used.
  (cd "$work" && cc -std=c99 -Wall -Wextra -Werror -pedantic -MD -MF deps.d -o esk8s-c-host esk8s_host.c $flags) ||
    fail "the example host does not compile against the installed files (flags: $flags)"
  local header
  header=$(tr ' \\' '\n\n' <"$work/deps.d" | grep 'esk8s/plugin\.h$' || true)
  [[ -n "$header" && "$(realpath "$header")" == "$(realpath "$prefix")"/* ]] ||
    fail "the host included $header, not the installed header under $prefix"
  if grep -qF -e "$src/" -e "$build/" "$work/deps.d"; then
    fail "the host's build read files from the source or build tree: $(cat "$work/deps.d")"
  fi
  readelf -d "$work/esk8s-c-host" | grep -q "(NEEDED).*\[libesk8s\.so\.$major\]" ||
    fail "the host does not link libesk8s.so.$major by its SONAME: $(readelf -d "$work/esk8s-c-host" | grep NEEDED)"
  # The dynamic loader takes the installed library, and nothing from the build tree.
  LD_LIBRARY_PATH="$libdir" ldd "$work/esk8s-c-host" | grep -q "libesk8s\.so\.$major => $libdir/libesk8s\.so\.$major " ||
    fail "ldd does not resolve libesk8s.so.$major to $libdir: $(LD_LIBRARY_PATH="$libdir" ldd "$work/esk8s-c-host")"
  if ldd "$work/esk8s-c-host" | grep -qF "$build/"; then
    fail "the host finds a library in the build tree without LD_LIBRARY_PATH (an rpath?)"
  fi

  "$prefix/bin/esk8s" cert create-ca --out "$work/ca" >/dev/null ||
    fail "the installed esk8s CLI cannot create a CA"
  ip=$(loopback_ip)
  local id="esdb-0.esdb.pkg.svc.cluster.local"
  (cd "$work" && env -i PATH=/usr/bin:/bin LD_LIBRARY_PATH="$libdir" \
    ESK8S_SERVICE=esdb ESK8S_NAMESPACE=pkg ESK8S_POD_NAME=esdb-0 ESK8S_CLUSTER_DOMAIN=cluster.local \
    ESK8S_DISCOVERY=static ESK8S_STATIC_PEERS="$id=$ip:2114" ESK8S_BIND_ADDRESS="$ip" \
    ESK8S_HTTP_PORT=0 ESK8S_HTTPS_PORT=off ESK8S_PRESET=local ESK8S_TLS_CA_DIR="$work/ca" \
    timeout 60 ./esk8s-c-host --seconds 2 >out.txt 2>err.txt) ||
    fail "the example host failed (exit $?): $(cat "$work/out.txt" "$work/err.txt")"
  grep -qx "esk8s-c-host: esk8s $version, plugin ABI $major.$minor, compiled against ABI $major.$minor" "$work/out.txt" ||
    fail "the host did not report esk8s $version ABI $major.$minor: $(cat "$work/out.txt")"
  grep -qx "  $id alive (self)" "$work/out.txt" ||
    fail "the host never saw itself alive: $(cat "$work/out.txt" "$work/err.txt")"
  grep -qx "esk8s-c-host: stopped" "$work/out.txt" || fail "the host did not stop cleanly"
  echo "c host: built with '$flags', ran with $libdir/libesk8s.so.$major: $(grep -c . "$work/out.txt") lines"
}
