#!/usr/bin/env bash
# The README's configuration table and the plugin's key table (`esk8s config keys`) list the same
# keys: every key the plugin accepts is documented, and every documented key is accepted.
set -euo pipefail
cli="$1"; readme="$2"
keys=$("$cli" config keys | grep -E '^ESK8S_' | awk '{print $1}' | sort -u)
documented=$(grep -oE '^\| `ESK8S_[A-Z0-9_]+` \|' "$readme" | tr -d '|` ' | sort -u)
[ -n "$keys" ] || { echo "esk8s config keys printed no ESK8S_ key"; exit 1; }
missing=0
for key in $(comm -23 <(echo "$keys") <(echo "$documented")); do
  echo "README.md configuration table lacks $key"; missing=1
done
for key in $(comm -13 <(echo "$keys") <(echo "$documented")); do
  echo "README.md documents $key, which esk8s does not accept (esk8s config keys)"; missing=1
done
exit $missing
