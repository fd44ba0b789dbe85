#!/usr/bin/env bash
# ctest takes ';' as a list separator, so a doctest case whose name holds one is registered as
# filters that match nothing and "pass" without running. Refuse such names.
set -euo pipefail
bad=$(grep -rn 'TEST_CASE("[^"]*;' "$1" || true)
if [ -n "$bad" ]; then echo "test case names must not contain ';':"; echo "$bad"; exit 1; fi
echo "no test case name contains ';'"
