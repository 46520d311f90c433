#!/bin/sh
# The entry point of the runtime images. A function pod starts it with the
# environment of runtimes/CONTRACT.md and the bundle variables of
# deploy/README.md: it fetches the function's bundle from the control plane
# (verified by its digest) unless the bundle directory already holds it (an
# init container fetched it, or this container was restarted), then becomes
# the runtime's worker, so the kubelet's signals reach the worker itself.
set -eu

dir="${DISPATCH_FUNCTION_DIR:-/function}"
fetcher=/app/runtimes/dist/src/bundle/fetch-bundle-main.js

if [ -n "${DISPATCH_BUNDLE_DIGEST:-}" ] && [ -z "$(ls -A "$dir" 2>/dev/null)" ]; then
  if [ ! -f "$fetcher" ]; then
    echo "dispatch-runtime: this image has no bundle fetcher ($fetcher): build it from a tree that has runtimes/src/bundle/" >&2
    exit 1
  fi
  node "$fetcher"
fi

case "${DISPATCH_RUNTIME:-}" in
  nodejs) exec node /app/runtimes/dist/src/node/worker.js ;;
  python3) exec python3 /app/runtimes/python/worker.py ;;
  *)
    echo "dispatch-runtime: DISPATCH_RUNTIME is \"${DISPATCH_RUNTIME:-}\": use nodejs or python3" >&2
    exit 1
    ;;
esac
