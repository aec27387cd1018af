// Container healthcheck: GET http://127.0.0.1:$PORT/health, healthy on HTTP 2xx.
// The slim Node image has no curl/wget, so this uses Node's built-in fetch.
//
// It also restarts a hung service. Docker and Compose never restart an *unhealthy* container:
// a restart policy only fires when the main process exits. A service whose event loop is stuck
// (for example spinning after a V8 fatal error, see deploy/README.md) keeps its listening socket,
// so connections are accepted but nothing answers. After GOVMESH_HANG_KILL_AFTER consecutive
// probes that time out without any HTTP answer (default 3, 0 disables this), the service
// process gets SIGKILL: the container exits and its restart policy starts a new one.
// Any HTTP answer, a 503 included (e.g. Postgres down), proves the process alive and resets the
// count, so dependency outages never cause restarts. A refused connection (still starting) does
// not count either. The kill needs an init process as PID 1 (compose `init: true`, `docker run
// --init`): the kernel ignores SIGKILL sent to PID 1 from inside the container.
//
// `node healthcheck.js --liveness` exits 0 on any HTTP answer (for a Kubernetes livenessProbe;
// use the plain mode, or httpGet /health, as the readinessProbe).
'use strict';

const { appendFileSync, readFileSync, readdirSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');

const DEFAULT_PORTS = {
  policy: 8081,
  orchestrator: 8082,
  'model-router': 8083,
  context: 8084,
  'tool-gateway': 8085,
  verifier: 8086,
  telemetry: 8087,
};
const TIMEOUT_MS = 4000; // below the HEALTHCHECK/compose timeout of 5s

const port = process.env.PORT || DEFAULT_PORTS[process.env.APP];
if (!port) {
  console.error('healthcheck: neither PORT nor a known APP is set');
  process.exit(1);
}
const liveness = process.argv.includes('--liveness');
const killAfter = Number.parseInt(process.env.GOVMESH_HANG_KILL_AFTER ?? '3', 10) || 0;

/** The service process: the one running dist/apps/$APP/main.js (the entrypoint execs it). */
function servicePid() {
  const suffix = process.env.APP ? `dist/apps/${process.env.APP}/main.js` : undefined;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let argv;
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv.some((a) => (suffix ? a.endsWith(suffix) : /dist\/apps\/[^/]+\/main\.js$/.test(a)))) return Number(entry);
  }
  return undefined;
}

/** Start time of a process (clock ticks since boot), so a new process never inherits a count. */
function startTime(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function stateFile(pid) {
  let key = `port${port}`;
  try {
    if (pid) key += `-${pid}-${startTime(pid)}`;
  } catch {
    // the process is gone; the port alone is the key
  }
  return join(tmpdir(), `govmesh-healthcheck-${key}.count`);
}

function answered() {
  if (!killAfter) return;
  for (const name of readdirSync(tmpdir())) {
    if (name.startsWith(`govmesh-healthcheck-port${port}-`) || name === `govmesh-healthcheck-port${port}.count`) {
      rmSync(join(tmpdir(), name), { force: true });
    }
  }
}

function noAnswer(reason) {
  if (!killAfter) return fail(`healthcheck: ${reason}`);
  const pid = servicePid();
  const file = stateFile(pid);
  let count = 1;
  try {
    count += Number.parseInt(readFileSync(file, 'utf8'), 10) || 0;
  } catch {
    // first miss
  }
  try {
    writeFileSync(file, String(count));
  } catch (err) {
    return fail(`healthcheck: ${reason} (cannot record it: ${err.message})`);
  }
  if (count < killAfter) return fail(`healthcheck: ${reason} (${count}/${killAfter} before the service is killed)`);
  if (!pid) return fail(`healthcheck: ${reason}; no process runs dist/apps/${process.env.APP ?? '*'}/main.js`);
  if (pid === 1) {
    return fail(`healthcheck: ${reason} ${count} times in a row, but the service is PID 1 and cannot be killed from inside; run the container with an init (compose \`init: true\`, \`docker run --init\`)`);
  }
  const message = `healthcheck: /health gave no answer in ${count} consecutive probes (${reason}); the event loop is stuck, killing pid ${pid} so the restart policy replaces it\n`;
  try {
    appendFileSync(`/proc/${pid}/fd/2`, message); // into the container log, next to the service's last words
  } catch {
    // not our process, or no stderr: the message is still in the health log
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch (err) {
    return fail(`${message.trim()}: ${err.message}`);
  }
  rmSync(file, { force: true });
  return fail(message.trim());
}

function fail(message) {
  console.error(message);
  process.exit(1);
}

fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(TIMEOUT_MS) })
  .then((res) => {
    answered();
    if (liveness || res.ok) process.exit(0);
    fail(`healthcheck: /health answered ${res.status}`);
  })
  .catch((err) => {
    if (err && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
      noAnswer(`no answer within ${TIMEOUT_MS} ms`);
    } else {
      fail(`healthcheck: ${err?.cause?.code ?? err?.message ?? err}`);
    }
  });
