#!/usr/bin/env bash
# The README's configuration table lists every key the plugin accepts (from `esk8s config keys`).
set -euo pipefail
cli="$1"; readme="$2"
missing=0
for key in $("$cli" config keys | grep -E '^ESK8S_'); do
  grep -q "| \`$key\` |" "$readme" || { echo "README.md configuration table lacks $key"; missing=1; }
done
exit $missing
