#!/bin/sh
# Starts one govmesh service: node dist/apps/$APP/main.js (exec, so node receives signals).
set -eu

case "${APP:-}" in
  policy|orchestrator|model-router|context|tool-gateway|verifier|telemetry) ;;
  "")
    echo "govmesh: APP is not set (one of: policy orchestrator model-router context tool-gateway verifier telemetry)" >&2
    exit 64
    ;;
  *)
    echo "govmesh: unknown APP '${APP}'" >&2
    exit 64
    ;;
esac

main="/app/dist/apps/${APP}/main.js"
if [ ! -f "$main" ]; then
  echo "govmesh: $main not found in this image" >&2
  exit 66
fi

exec node "$main" "$@"
