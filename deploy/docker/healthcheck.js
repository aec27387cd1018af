// Container healthcheck: GET http://127.0.0.1:$PORT/health, healthy on HTTP 2xx.
// The slim Node image has no curl/wget, so this uses Node's built-in fetch (Node 20).
'use strict';

const DEFAULT_PORTS = {
  policy: 8081,
  orchestrator: 8082,
  'model-router': 8083,
  context: 8084,
  'tool-gateway': 8085,
  verifier: 8086,
  telemetry: 8087,
};

const port = process.env.PORT || DEFAULT_PORTS[process.env.APP];
if (!port) {
  console.error('healthcheck: neither PORT nor a known APP is set');
  process.exit(1);
}

fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(4000) })
  .then((res) => {
    if (!res.ok) console.error(`healthcheck: /health answered ${res.status}`);
    process.exit(res.ok ? 0 : 1);
  })
  .catch((err) => {
    console.error(`healthcheck: ${err.message}`);
    process.exit(1);
  });
