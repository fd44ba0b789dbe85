#!/usr/bin/env bash
# libesk8s.so must define esk8s_* dynamic symbols only (third-party code stays hidden so it
# cannot clash with the host's own OpenSSL, Boost or JSON library).
set -euo pipefail
lib="$1"
symbols=$(nm -D --defined-only "$lib" | awk '{print $3}')
[ -n "$symbols" ] || { echo "no dynamic symbols in $lib"; exit 1; }
bad=$(echo "$symbols" | grep -v '^esk8s_' || true)
if [ -n "$bad" ]; then
  echo "libesk8s.so exports symbols outside esk8s_*:"; echo "$bad" | head -20; exit 1
fi
echo "$symbols" | grep -qx 'esk8s_init' || { echo "esk8s_init is not exported"; exit 1; }
echo "exports: $(echo "$symbols" | tr '\n' ' ')"
