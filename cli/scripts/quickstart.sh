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

# Wait until the API answers, `dispatch up` exits with its reason, or the
# start-up limit passes (DISPATCH_START_TIMEOUT seconds, default 120): each
# probe is bounded too, so a port that accepts and never answers cannot hang it.
limit=${DISPATCH_START_TIMEOUT:-120}
SECONDS=0
until dispatch status --request-timeout 5s >/dev/null 2>&1; do
  if ! kill -0 "$up" 2>/dev/null; then
    wait "$up" || true
    echo "error: dispatch up stopped before Dispatch answered; its reason is above" >&2
    exit 1
  fi
  if ((SECONDS >= limit)); then
    echo "error: Dispatch did not answer within ${limit}s (\"dispatch status\" got no answer from its API)." >&2
    echo "  the output of dispatch up is above; \"dispatch status\" shows what it reaches now." >&2
    echo "  on a slow machine, wait longer: DISPATCH_START_TIMEOUT=300 npm run quickstart" >&2
    kill -TERM "$up" 2>/dev/null || true
    wait "$up" || true
    exit 1
  fi
  sleep 0.5
done

step status
step apply -f docs/examples/quickstart.yaml --wait
step apply -f docs/examples/quickstart.yaml
step get functions
step exec hello --input '{"name":"Jon","place":"Winterfell"}'
step get endpoints
gateway=$(dispatch status -o json | node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>console.log(JSON.parse(s).gateway))')
printf '\n\033[1m$ curl -s "%s/hello?name=Arya&place=Braavos"\033[0m\n' "$gateway"
if command -v curl >/dev/null; then
  curl -s "$gateway/hello?name=Arya&place=Braavos"
else
  node -e 'fetch(process.argv[1]).then((r) => r.text()).then((t) => process.stdout.write(t))' "$gateway/hello?name=Arya&place=Braavos"
fi
echo
step emit com.example.greeting --data '{"name":"Sansa","place":"the Eyrie"}'
# Delivered in the background: wait (bounded) for its run before showing the runs.
for _ in $(seq 1 60); do
  dispatch get runs hello -o json 2>/dev/null | grep -q TRIGGER_EVENT && break
  sleep 0.5
done
step get runs hello
step logs hello
step get secret open-sesame --reveal -o yaml

printf '\nDispatch is running (data in %s). In another terminal, from %s, try:\n' \
  "${DISPATCH_DATA_DIR:-~/.dispatch/data}" "$PWD"
printf '%s\n' "  alias dispatch=\"node $PWD/cli/bin/dispatch.js\"" \
  "  dispatch create function hello-py docs/examples/hello.py --wait" \
  "  dispatch exec hello-py --input '{\"name\":\"Arya\"}'" \
  "  dispatch create endpoint hello-py hello-py --path /hello-py --wait && curl -s $gateway/hello-py" \
  "  dispatch logs hello -f"
printf 'README.md goes on from here ("The dispatch command"). Press Ctrl-C to stop Dispatch.\n'
wait "$up"
