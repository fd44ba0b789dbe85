# Shared by the scripts that build a Go tool for the tests and benchmarks (tests/cluster/build.sh,
# tests/helm/build.sh, tests/bench/memberlist/build.sh); sourced, not run. Each script says what
# it builds; these functions do what they all do alike: find Go, skip an up-to-date binary, and
# run a long build in the background with a progress line every minute.

# go_find: puts Go on the PATH (Go's own installer leaves it in /usr/local/go, on the PATH only of
# login shells); false when there is none.
go_find() {
  if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
    export PATH=/usr/local/go/bin:$PATH
  fi
  command -v go >/dev/null
}

# go_inputs_hash SRCDIR FILE...: one hash of the Go version and the files (relative to SRCDIR) a
# build depends on; the binary is rebuilt when it changes.
go_inputs_hash() {
  local src=$1
  shift
  ( (go version; cd "$src" && sha256sum "$@") | sha256sum | cut -d' ' -f1)
}

# go_up_to_date BIN HASH: BIN exists and was built from inputs with HASH (stamp BIN.inputs).
go_up_to_date() {
  [ -x "$1" ] && [ "$(cat "$1.inputs" 2>/dev/null)" = "$2" ]
}

# go_build_logged LABEL PREFIX BIN HASH LOG HINT -- COMMAND...: runs COMMAND (which writes
# BIN.tmp) in the background with its output in LOG and a "PREFIX: still building LABEL (N s)"
# line every 60 s; on success BIN.tmp becomes BIN and the stamp records HASH, on failure the log
# is printed with HINT and the shell exits 1.
go_build_logged() {
  local label=$1 prefix=$2 bin=$3 hash=$4 log=$5 hint=$6
  shift 7
  GO_BUILD_T0=$SECONDS
  "$@" >"$log" 2>&1 &
  local builder=$!
  while kill -0 "$builder" 2>/dev/null; do
    for _ in $(seq 60); do
      sleep 1
      kill -0 "$builder" 2>/dev/null || break
    done
    if kill -0 "$builder" 2>/dev/null; then
      echo "$prefix: still building $label ($((SECONDS - GO_BUILD_T0)) s)"
    fi
  done
  if ! wait "$builder"; then
    cat "$log" >&2
    echo "$prefix: building $label FAILED after $((SECONDS - GO_BUILD_T0)) s (log above$hint)" >&2
    exit 1
  fi
  mv -f "$bin.tmp" "$bin"
  echo "$hash" >"$bin.inputs"
}
