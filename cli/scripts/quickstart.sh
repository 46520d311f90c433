#!/usr/bin/env bash
# `npm run quickstart`: installs what is missing, builds, starts `dispatch up`
# and walks through an example. Dispatch keeps running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."

bash testkit/scripts/ensure-deps.sh
echo "building..." >&2
npm run build --silent

dispatch() { node cli/bin/dispatch.js "$@"; }
source cli/scripts/shell-quote.sh
step() { printf '\n\033[1m$ dispatch %s\033[0m\n' "$(quoted "$@")"; dispatch "$@"; }

node cli/bin/dispatch.js up &
up=$!
# Ctrl-C reaches `dispatch up` directly (same process group); a TERM sent to
# this script alone is passed on.
trap 'wait $up' INT
trap 'kill -TERM $up 2>/dev/null; wait $up' TERM

# Wait until the API answers (or `dispatch up` exits with its reason).
for _ in $(seq 1 150); do
  if ! kill -0 "$up" 2>/dev/null; then wait "$up"; exit 1; fi
  if dispatch status >/dev/null 2>&1; then break; fi
  sleep 0.2
done

step status
step apply -f docs/examples/quickstart.yaml --wait
step apply -f docs/examples/quickstart.yaml
step get functions
step exec hello --input '{"name":"Jon","place":"Winterfell"}'
step get runs hello
step logs hello
step get secret open-sesame --reveal -o yaml

printf '\nDispatch is running (data in %s). In another terminal, from %s, try:\n' \
  "${DISPATCH_DATA_DIR:-~/.dispatch/data}" "$PWD"
printf '%s\n' "  npx dispatch create function hello-py docs/examples/hello.py --wait" \
  "  npx dispatch exec hello-py --input '{\"name\":\"Arya\"}'" \
  "  npx dispatch logs hello -f" \
  "  npx dispatch delete -f docs/examples/quickstart.yaml"
printf '(npx finds dispatch only inside this directory; for a dispatch command anywhere, run "npm link -w cli" here once.)\n'
printf 'Press Ctrl-C to stop it.\n'
wait "$up"
