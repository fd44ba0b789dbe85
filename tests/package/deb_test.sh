#!/usr/bin/env bash
# package.deb_*: `cpack -G DEB` on the build tree makes one .deb whose control fields name the
# package, version, architecture, maintainer and runtime dependencies, and whose files are the
# header, the versioned library and its links, the .pc, both binaries and the manifests under
# /usr. Unpacked into a temporary root (dpkg-deb -x: the real system is never touched), the C
# example host builds against that root's /usr alone and runs.
#   deb_test.sh SOURCE_DIR BUILD_DIR
source "$(dirname "$0")/lib.sh"
need dpkg-deb dpkg
need cpack cmake
src=$(realpath "$1")
build=$(realpath "$2")

(cd "$tmp" && cpack --config "$build/CPackConfig.cmake" -G DEB -B "$tmp/out" >"$tmp/cpack.log" 2>&1) ||
  fail "cpack -G DEB failed: $(tail -30 "$tmp/cpack.log")"
debs=("$tmp"/out/*.deb)
[ "${#debs[@]}" -eq 1 ] && [ -f "${debs[0]}" ] || fail "want one .deb in $tmp/out: $(ls "$tmp/out")"
deb=${debs[0]}
echo "deb: $(basename "$deb"), $(stat -c %s "$deb") bytes"

# Control fields.
field() { dpkg-deb -f "$deb" "$1"; }
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
[ "$(field Package)" = esk8s ] || fail "Package is '$(field Package)', want esk8s"
[ "$(field Version)" = "$version" ] || fail "Version is '$(field Version)', want $version"
if command -v dpkg >/dev/null; then
  [ "$(field Architecture)" = "$(dpkg --print-architecture)" ] ||
    fail "Architecture is '$(field Architecture)', want $(dpkg --print-architecture)"
fi
[[ "$(field Maintainer)" =~ ^.+\ \<[^@\ ]+@[^@\ ]+\>$ ]] ||
  fail "Maintainer '$(field Maintainer)' is not 'name <email>'"
[ -n "$(field Description)" ] || fail "no Description"
depends=$(field Depends)
for lib in libc6 libstdc\\+\\+6 libssl3 libyaml-cpp0\\.7; do
  [[ "$depends" =~ (^|, )$lib( |,|$) ]] || fail "Depends '$depends' does not name $lib"
done
echo "control: $(field Package) $(field Version) $(field Architecture); Depends: $depends"

# Contents.
dpkg-deb -c "$deb" >"$tmp/contents"
header=$(grep -o '\./usr/include/esk8s/plugin\.h$' "$tmp/contents") || fail "no header in the .deb"
pc=$(grep -o '\./usr/lib.*/pkgconfig/esk8s\.pc$' "$tmp/contents") || fail "no esk8s.pc in the .deb"
libdir=${pc%/pkgconfig/esk8s.pc}
major=$(sed -n 's/^#define ESK8S_ABI_MAJOR \([0-9]*\)$/\1/p' "$src/plugin/include/esk8s/plugin.h")
minor=$(sed -n 's/^#define ESK8S_ABI_MINOR \([0-9]*\)$/\1/p' "$src/plugin/include/esk8s/plugin.h")
want=(
  "^-.* $libdir/libesk8s\.so\.$major\.$minor\$"
  "^l.* $libdir/libesk8s\.so\.$major -> libesk8s\.so\.$major\.$minor\$"
  "^l.* $libdir/libesk8s\.so -> libesk8s\.so\.$major\$"
  "^-rwxr-xr-x .* \./usr/bin/esk8s\$"
  "^-rwxr-xr-x .* \./usr/bin/esk8s-node\$"
  " \./usr/share/esk8s/examples/kubernetes/base/statefulset\.yaml\$"
  " \./usr/share/esk8s/examples/kubernetes/overlays/single-namespace/kustomization\.yaml\$"
  " \./usr/share/esk8s/rbac/role\.yaml\$"
  " \./usr/share/esk8s/examples/c-host/esk8s_host\.c\$"
)
[ -d "$src/charts/esk8s" ] && want+=(" \./usr/share/esk8s/charts/esk8s/Chart\.yaml\$")
[ -d "$src/monitoring" ] && want+=(" \./usr/share/esk8s/monitoring/")
for pattern in "${want[@]}"; do
  grep -qE "$pattern" "$tmp/contents" || fail "the .deb has no entry matching '$pattern': $(cat "$tmp/contents")"
done
grep -qE ' \./usr/local/' "$tmp/contents" && fail "the .deb installs under /usr/local"
echo "contents: $(grep -c . "$tmp/contents") entries, $header, $pc"

# Unpacked into a root of its own: the library is stripped and keeps its SONAME, and a host
# builds against the root's /usr through its relocatable esk8s.pc.
root=$tmp/root
dpkg-deb -x "$deb" "$root"
lib=$root/${libdir#./}/libesk8s.so.$major.$minor
[ "$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')" = "libesk8s.so.$major" ] ||
  fail "the packaged library's SONAME is not libesk8s.so.$major"
readelf -S "$lib" | grep -q '\.debug_info' && fail "the packaged library is not stripped"
build_and_run_c_host "$root/usr" "$src" "$build"
echo "PASS"
