/**
 * `npm run bench:embedded`: govmesh's embedded mode (one process, PGlite on disk, in-process
 * transport) under load through its HTTP ingress, next to a bare PGlite loop doing the same
 * Postgres work as the peers in ../shared/bench-peers. See tools/bench/README.md.
 */
import { Cleanups, withTimeout } from './cleanup';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomUUID, type KeyObject } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import * as os from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { checkGrant, issueGrant, type SignedGrant } from '@govmesh/action-grants';
import { generateApiKey, generateKeyPair, loadPrivateKey, loadPublicKey, signIntent, verifyIntentSignature } from '@govmesh/signing';
import { now } from './load';
import { cpuDelta, cpuSnapshot, parsePrometheus, type CpuGroup, type CpuSnapshot } from './probes';
import { ProfileControl, summarizeProfile, type ProfileSummary } from './profile';
import { fmt, ms, pct, sleep, summarize, table } from './stats';

const ROOT = resolve(__dirname, '../..');
const T0 = Date.now();
const APP_MAIN = join(ROOT, 'dist/apps/embedded/main.js');

// ------------------------------------------------------------------------------------ config

function envNumber(name: string, fallback: number, allowZero = false): number {
  const raw = process.env[name];
  const v = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(v) || v < 0 || (v === 0 && !allowZero)) throw new Error(`${name} must be a positive number (got "${raw}")`);
  return v;
}

const CONFIG = {
  n: Math.round(envNumber('BENCH_N', 1000)),
  concurrency: Math.round(envNumber('BENCH_CONCURRENCY', 200)),
  warmup: Math.round(envNumber('BENCH_WARMUP', 20, true)),
  /** Runs per second of the light phase; 0 skips it. */
  lightRate: envNumber('BENCH_LIGHT_RATE', 10, true),
  lightSeconds: envNumber('BENCH_LIGHT_SECONDS', 20),
  timeLimitS: envNumber('BENCH_TIME_LIMIT_S', 600),
  skipBuild: process.env['BENCH_SKIP_BUILD'] === '1',
  /** `0` skips the bare PGlite baseline. */
  baseline: process.env['BENCH_BASELINE'] !== '0',
  /** CPU-profile the app during one phase: `1`/`full` or `light` (slows it: compare such runs only with each other). */
  profile: ((p) => (p === '1' ? 'full' : p === 'full' || p === 'light' ? p : undefined))(process.env['BENCH_PROFILE']),
  /** BENCH_APP_<VAR>=value passes <VAR> to the embedded app, e.g. BENCH_APP_GOVMESH_OUTBOX_POLL_MS=50. */
  appEnv: Object.fromEntries(
    Object.entries(process.env)
      .filter(([k, v]) => k.startsWith('BENCH_APP_') && v !== undefined)
      .map(([k, v]) => [k.slice('BENCH_APP_'.length), v as string]),
  ),
};

/** The intent every run submits: the first demo intent (see apps/embedded/src/demo.ts). */
const INTENT = { agentId: 'support-assistant', task: 'What is the status of acc-001?', input: { accountId: 'acc-001' } };
const EXPECTED_OUTCOME = 'verified';

/**
 * The app's secrets, made for this run: a bootstrap operator API key and the grant, ingress and
 * verifier Ed25519 keys (as `npx govmesh keygen --service` makes them; without them the embedded
 * app would generate its own into its data directory). The operator key creates the agent key the
 * load is sent with.
 */
const APP_SECRETS = (() => {
  const grant = generateKeyPair();
  const ingress = generateKeyPair();
  const verifier = generateKeyPair();
  return {
    GOVMESH_BOOTSTRAP_OPERATOR_KEY: generateApiKey().key,
    GOVMESH_GRANT_SIGNING_KEY: grant.privateKeySeed,
    GOVMESH_GRANT_PUBLIC_KEY: grant.publicKey,
    GOVMESH_INGRESS_SIGNING_KEY: ingress.privateKeySeed,
    GOVMESH_INGRESS_PUBLIC_KEY: ingress.publicKey,
    GOVMESH_VERIFIER_SIGNING_KEY: verifier.privateKeySeed,
    GOVMESH_VERIFIER_PUBLIC_KEY: verifier.publicKey,
  };
})();

/**
 * Who a request to the app is sent as: `agent` (intents and the agent's own runs: the API key the
 * bench creates for `support-assistant`), `operator` (creating that key), `metrics` (/metrics:
 * open unless BENCH_APP_GOVMESH_METRICS_TOKEN is set, then that token), `none` (/health).
 */
type Caller = 'agent' | 'operator' | 'metrics' | 'none';

// ------------------------------------------------------------------------------------ logging, cleanup

const out = (line = '') => process.stdout.write(`${line}\n`);
const log = (line: string) => out(`[${((Date.now() - T0) / 1000).toFixed(1).padStart(6)}s] ${line}`);
const remainingMs = () => CONFIG.timeLimitS * 1000 - (Date.now() - T0);
/** A timeout that leaves `reserveMs` of the global budget for what follows. */
const boundedTimeout = (wantedMs: number, reserveMs = 30000) => Math.max(5000, Math.min(wantedMs, remainingMs() - reserveMs));

const cleanups = new Cleanups(log);
/** Last-resort state for the `exit` hook: what must not outlive the benchmark. */
const leftovers = { pids: cleanups.pids, dirs: cleanups.dirs };
const onCleanup = (name: string, fn: () => Promise<unknown>) => cleanups.add(name, fn);
const cleanup = () => cleanups.runAll();

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(os.tmpdir(), prefix));
  leftovers.dirs.add(dir);
  return dir;
}

function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  leftovers.dirs.delete(dir);
}

// ------------------------------------------------------------------------------------ load drivers

/**
 * Full speed: starts `count` operations with at most `concurrency` in flight. `fire` returns when
 * its operation no longer occupies a client slot (for the app: the POST was answered).
 */
async function bounded(count: number, concurrency: number, fire: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) await fire(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker));
}

/**
 * A steady rate without coordinated omission: operation i is due at start + i/rate and is started
 * then, whether or not earlier ones finished; `fire` gets the scheduled time (a `now()` reading)
 * so latency counts from there. The pacer wakes every ≤5 ms.
 */
async function paced(count: number, rate: number, fire: (i: number, scheduled: number) => Promise<void>): Promise<{ maxSlipMs: number; start: number }> {
  const interval = 1000 / rate;
  const start = now() + 2;
  const inflight: Promise<void>[] = [];
  let maxSlipMs = 0;
  let next = 0;
  while (next < count) {
    const t = now();
    while (next < count && start + next * interval <= t) {
      const scheduled = start + next * interval;
      maxSlipMs = Math.max(maxSlipMs, t - scheduled);
      inflight.push(fire(next, scheduled));
      next++;
    }
    if (next < count) await sleep(Math.max(0, Math.min(5, start + next * interval - now() - 0.5)));
  }
  await Promise.all(inflight);
  return { maxSlipMs, start };
}

// ------------------------------------------------------------------------------------ results

interface PhaseFigures {
  system: 'govmesh-embedded' | 'bare-pglite';
  phase: 'full' | 'light';
  /** Runs started. */
  n: number;
  /** Runs with the expected outcome. */
  verified: number;
  runsPerSec: number;
  p50: number;
  p99: number;
  max: number;
  outcomes: Record<string, number>;
  rate?: number;
  maxSlipMs?: number;
  /** CPU seconds of the system under test over the phase (the app process / this process for the baseline). */
  cpuSeconds?: number;
  /** CPU seconds of the load generator (this process), for the app phases. */
  clientCpuSeconds?: number;
  machineBusy?: number;
  /** Wall time over which the CPU figures were taken. */
  wallSeconds?: number;
  /** Machine CPU seconds outside the system under test and the bench (other programs, exited processes included, kernel). */
  otherCpuSeconds?: number;
  others: Array<{ comm: string; seconds: number }>;
  notes: string[];
}

const results: PhaseFigures[] = [];
const warnings: string[] = [];
let profileSummary: { summary: ProfileSummary; dir: string; phase: string } | undefined;

function figures(
  system: PhaseFigures['system'],
  phase: PhaseFigures['phase'],
  n: number,
  /** Per run: start (epoch ms; scheduled start at a fixed rate), completion (epoch ms) and outcome. */
  runs: Array<{ start: number; end?: number; outcome: string }>,
  extra: Partial<PhaseFigures>,
): PhaseFigures {
  const outcomes: Record<string, number> = {};
  const latencies: number[] = [];
  let firstStart = Infinity;
  let lastEnd = -Infinity;
  for (const r of runs) {
    outcomes[r.outcome] = (outcomes[r.outcome] ?? 0) + 1;
    firstStart = Math.min(firstStart, r.start);
    if (r.outcome !== EXPECTED_OUTCOME || r.end === undefined) continue;
    latencies.push(r.end - r.start);
    lastEnd = Math.max(lastEnd, r.end);
  }
  const s = summarize(latencies);
  const result: PhaseFigures = {
    system,
    phase,
    n,
    verified: s.n,
    runsPerSec: s.n > 0 && lastEnd > firstStart ? s.n / ((lastEnd - firstStart) / 1000) : 0,
    p50: s.p50,
    p99: s.p99,
    max: s.max,
    outcomes,
    others: [],
    notes: [],
    ...extra,
  };
  const bad = Object.entries(outcomes).filter(([o]) => o !== EXPECTED_OUTCOME);
  if (bad.length > 0) {
    const line = `${system} ${phase}: ${n - s.n} of ${n} runs not ${EXPECTED_OUTCOME}: ${bad.map(([o, c]) => `${o} ${c}`).join(', ')}`;
    warnings.push(line);
    log(`WARNING ${line}`);
  }
  noteDisturbance(result);
  return result;
}

function outcomesText(o: Record<string, number>): string {
  return Object.entries(o)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

function report(reason?: string): void {
  out();
  out(`govmesh embedded benchmark${reason ? ` (incomplete: ${reason})` : ''}`);
  out(`  machine: ${CORES} cores, ${os.cpus()[0]?.model ?? 'unknown CPU'}; node ${process.version}; PGlite ${pgliteVersion()}`);
  out(
    `  full: ${CONFIG.n} runs at once, client concurrency ${CONFIG.concurrency}; light: ${CONFIG.lightRate ? `${CONFIG.lightRate}/s for ${CONFIG.lightSeconds} s` : 'skipped'}; latency = completion - client start (scheduled start at a fixed rate)`,
  );
  out();
  if (results.length === 0) {
    out('  no phase completed');
  } else {
    const order = (r: PhaseFigures) => (r.phase === 'full' ? 0 : 1) * 2 + (r.system === 'govmesh-embedded' ? 0 : 1);
    const rows = [...results]
      .sort((a, b) => order(a) - order(b))
      .map((r) => [
        r.phase === 'full' ? 'full' : `light ${fmt(r.rate, r.rate !== undefined && r.rate < 10 ? 1 : 0)}/s`,
        r.system,
        `${r.verified}/${r.n}`,
        fmt(r.runsPerSec, 1),
        ms(r.p50),
        ms(r.p99),
        ms(r.max),
        r.cpuSeconds !== undefined && r.verified > 0 ? ms((r.cpuSeconds / r.verified) * 1000) : '-',
        outcomesText(r.outcomes),
      ]);
    out(table(['phase', 'system', 'runs', 'runs/s', 'p50 ms', 'p99 ms', 'max ms', 'cpu ms/run', 'outcomes'], rows));
    out();
    out('  cpu ms/run: CPU time of the system under test over the phase / verified runs (the app process; for bare-pglite this process).');
    for (const r of results) {
      const parts: string[] = [];
      if (r.machineBusy !== undefined) parts.push(`machine ${pct(r.machineBusy)} busy`);
      if (r.cpuSeconds !== undefined) parts.push(`${r.system === 'govmesh-embedded' ? 'app' : 'bench process'} ${r.cpuSeconds.toFixed(1)} CPU s`);
      if (r.clientCpuSeconds !== undefined) parts.push(`load client ${r.clientCpuSeconds.toFixed(1)} CPU s`);
      const other = r.others.filter((o) => o.seconds >= 0.2).slice(0, 3);
      if (r.otherCpuSeconds !== undefined && r.otherCpuSeconds >= 0.2) {
        parts.push(`everything else ${r.otherCpuSeconds.toFixed(1)} CPU s${other.length ? ` (${other.map((o) => `${o.comm} ${o.seconds.toFixed(1)} s`).join(', ')})` : ''}`);
      } else if (other.length) parts.push(`other processes: ${other.map((o) => `${o.comm} ${o.seconds.toFixed(1)} s`).join(', ')}`);
      if (r.maxSlipMs !== undefined) parts.push(`worst schedule slip ${ms(r.maxSlipMs)} ms`);
      out(`  ${r.phase} / ${r.system}: ${[...parts, ...r.notes].join('; ')}`);
    }
    const ratio = (phase: PhaseFigures['phase']) => {
      const g = results.find((r) => r.phase === phase && r.system === 'govmesh-embedded');
      const b = results.find((r) => r.phase === phase && r.system === 'bare-pglite');
      if (!g || !b || !(g.runsPerSec > 0) || !(b.runsPerSec > 0)) return undefined;
      return phase === 'full'
        ? `full speed: govmesh embedded does ${fmt(g.runsPerSec, 1)} runs/s, ${pct(g.runsPerSec / b.runsPerSec, 1)} of the bare PGlite floor (${fmt(b.runsPerSec, 0)} runs/s)`
        : `light: p50 ${ms(g.p50)} ms vs ${ms(b.p50)} ms bare, p99 ${ms(g.p99)} ms vs ${ms(b.p99)} ms`;
    };
    const ratios = [ratio('full'), ratio('light')].filter((x): x is string => Boolean(x));
    if (ratios.length) {
      out();
      for (const r of ratios) out(`  ${r}`);
    }
  }
  if (profileSummary) {
    const { summary, dir, phase } = profileSummary;
    out();
    out(`  CPU profile of the app during the ${phase} phase (self time, ${(summary.busyMs / 1000).toFixed(1)} s busy; ${relative(ROOT, dir)}/embedded.cpuprofile):`);
    const cat = (name: string) => (name.startsWith('wasm://') ? 'wasm (PGlite, cedar)' : name);
    const cats = new Map<string, number>();
    for (const c of summary.byCategory) cats.set(cat(c.name), (cats.get(cat(c.name)) ?? 0) + c.ms);
    out(
      table(
        ['where', 'ms', 'share'],
        [...cats]
          .sort((a, b) => b[1] - a[1])
          .slice(0, 10)
          .map(([name, t]) => [name, fmt(t), pct(t / summary.busyMs)]),
        '    ',
      ),
    );
    out(table(['top functions', 'where', 'ms'], summary.topFunctions.map((f) => [f.name.slice(0, 48), f.where.slice(0, 70), fmt(f.ms)]), '    '));
  }
  if (warnings.length) {
    out();
    for (const w of warnings) out(`  WARNING ${w}`);
  }
  out();
  for (const r of results) {
    out(
      JSON.stringify({
        system: r.system,
        phase: r.phase,
        n: r.n,
        runsPerSec: round(r.runsPerSec, 1),
        p50: round(r.p50, 1),
        p99: round(r.p99, 1),
        max: round(r.max, 1),
        verified: r.verified,
        outcomes: r.outcomes,
        ...(r.rate !== undefined ? { rate: r.rate } : { concurrency: CONFIG.concurrency }),
        ...(r.cpuSeconds !== undefined && r.verified > 0 ? { cpuMsPerRun: round((r.cpuSeconds / r.verified) * 1000, 2) } : {}),
      }),
    );
  }
}

function round(v: number, digits: number): number | null {
  return Number.isFinite(v) ? Number(v.toFixed(digits)) : null;
}

function pgliteVersion(): string {
  try {
    // Its `exports` don't expose package.json; the entry point sits in <package>/dist.
    const pkg = join(dirname(require.resolve('@electric-sql/pglite', { paths: [ROOT] })), '..', 'package.json');
    return (JSON.parse(readFileSync(pkg, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** CPU of the system under test, the bench process and the machine over a phase. */
const CORES = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;

function cpuFigures(before: CpuSnapshot, groups: CpuGroup[], sut: string): Pick<PhaseFigures, 'cpuSeconds' | 'clientCpuSeconds' | 'machineBusy' | 'wallSeconds' | 'otherCpuSeconds' | 'others'> {
  const d = cpuDelta(before, cpuSnapshot(groups));
  const mine = [...d.groups.values()].reduce((a, v) => a + v, 0);
  // Node names its main thread "MainThread", which is all /proc/<pid>/stat shows of other node processes.
  const others = new Map<string, number>();
  for (const o of d.others) {
    const comm = o.comm === 'MainThread' ? 'node' : o.comm;
    others.set(comm, (others.get(comm) ?? 0) + o.seconds);
  }
  return {
    cpuSeconds: d.groups.get(sut),
    clientCpuSeconds: sut === 'bench' ? undefined : d.groups.get('bench'),
    machineBusy: d.machineBusy,
    wallSeconds: d.wallSeconds,
    otherCpuSeconds: d.machineBusy === undefined ? undefined : Math.max(0, d.machineBusy * CORES * d.wallSeconds - mine),
    others: [...others].map(([comm, seconds]) => ({ comm, seconds })).sort((a, b) => b.seconds - a.seconds),
  };
}

/** Warns when other programs used a noticeable share of the machine during a phase. */
function noteDisturbance(r: PhaseFigures): void {
  const other = r.otherCpuSeconds ?? r.others.reduce((a, o) => a + o.seconds, 0);
  const wallSeconds = r.wallSeconds ?? 0;
  if (wallSeconds > 0 && other / (CORES * wallSeconds) > 0.1) {
    const line = `${r.system} ${r.phase}: other processes used ${other.toFixed(1)} CPU s (${pct(other / (CORES * wallSeconds))} of the machine) during the phase: its figures are disturbed`;
    warnings.push(line);
    log(`WARNING ${line}`);
  }
}

// ------------------------------------------------------------------------------------ the embedded app

function buildApp(): void {
  if (CONFIG.skipBuild) {
    log('BENCH_SKIP_BUILD=1: using the existing dist/apps/embedded bundle');
  } else {
    log('building the apps (nx run-many -t build --projects=tag:type:app; cached when unchanged)');
    const nxPackage = require.resolve('nx/package.json', { paths: [ROOT] });
    const bin = (JSON.parse(readFileSync(nxPackage, 'utf8')) as { bin: Record<string, string> }).bin['nx'];
    try {
      execFileSync(process.execPath, [join(dirname(nxPackage), bin), 'run-many', '-t', 'build', '--projects=tag:type:app', '--output-style=static'], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
        encoding: 'utf8',
        env: { ...process.env, NX_DAEMON: 'false' },
        timeout: 300000,
        maxBuffer: 64 * 1024 * 1024,
      });
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      const tail = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-40).join('\n');
      throw new Error(`the build failed: ${e.message.split('\n')[0]}\n${tail}`);
    }
  }
  if (!existsSync(APP_MAIN)) throw new Error(`${relative(ROOT, APP_MAIN)} is missing (build the apps, or drop BENCH_SKIP_BUILD)`);
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

interface RunView {
  runId: string;
  status: string;
  outcome: string | null;
  createdAt: string;
  completedAt: string | null;
}

class EmbeddedApp {
  private exitReason?: string;
  private readonly tail: string[] = [];
  /** The agent API key the load is sent with (see createAgentKey). */
  private agentKey?: string;

  private constructor(
    readonly base: string,
    private readonly child: ChildProcess,
    readonly logFile: string,
  ) {
    const note = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.tail.push(line);
      if (this.tail.length > 40) this.tail.splice(0, this.tail.length - 40);
    };
    child.stdout?.on('data', note);
    child.stderr?.on('data', note);
    child.once('exit', (code, signal) => {
      leftovers.pids.delete(child.pid!);
      this.exitReason = `the embedded app exited (${signal ?? `code ${code}`})`;
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Why the app can no longer answer, or undefined while it runs. */
  dead(): string | undefined {
    return this.exitReason ? `${this.exitReason}; its last output:\n${this.tail.join('\n') || '(none)'}\nfull log: ${relative(ROOT, this.logFile)}` : undefined;
  }

  static async start(dataDir: string, logDir: string, extraEnv: Record<string, string> = {}): Promise<EmbeddedApp> {
    const port = await freePort();
    const env: NodeJS.ProcessEnv = { ...process.env };
    // Embedded mode: neither the broker nor the server database.
    delete env['KAFKA_BROKERS'];
    delete env['DATABASE_URL'];
    Object.assign(env, {
      GOVMESH_DATA_DIR: dataDir,
      ...APP_SECRETS,
      GOVMESH_DEMO: 'false',
      GOVMESH_SEED_DEMO_DATA: 'true',
      LOG_LEVEL: 'warn',
      PORT: String(port),
      ...CONFIG.appEnv,
      ...extraEnv,
    });
    mkdirSync(logDir, { recursive: true });
    const logFile = join(logDir, 'embedded.log');
    const stream: WriteStream = createWriteStream(logFile);
    const child = spawn(process.execPath, [APP_MAIN], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid === undefined) throw new Error('could not start the embedded app');
    leftovers.pids.add(child.pid);
    child.stdout.pipe(stream, { end: false });
    child.stderr.pipe(stream, { end: false });
    child.once('exit', () => stream.end());
    return new EmbeddedApp(`http://127.0.0.1:${port}`, child, logFile);
  }

  /** The credential a caller sends, as `authorization: Bearer <…>`. */
  private credential(caller: Caller): string | undefined {
    if (caller === 'operator') return APP_SECRETS.GOVMESH_BOOTSTRAP_OPERATOR_KEY;
    if (caller === 'metrics') return CONFIG.appEnv['GOVMESH_METRICS_TOKEN'];
    if (caller === 'agent') {
      if (!this.agentKey) throw new Error('no agent key yet: createAgentKey() first');
      return this.agentKey;
    }
    return undefined;
  }

  /** Every request to the app goes through here, with the credential of its caller. */
  async call(caller: Caller, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = 120000): Promise<Response> {
    const headers: Record<string, string> = {};
    const credential = this.credential(caller);
    if (credential) headers['authorization'] = `Bearer ${credential}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    return fetch(`${this.base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
  }

  async waitHealthy(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    while (Date.now() < deadline) {
      const reason = this.dead();
      if (reason) throw new Error(reason);
      try {
        const res = await this.call('none', 'GET', '/health', undefined, 2000);
        if (res.status === 200) return;
        last = `HTTP ${res.status}: ${(await res.text()).slice(0, 300)}`;
      } catch (err) {
        last = (err as Error).message;
      }
      await sleep(200);
    }
    throw new Error(`the embedded app was not healthy within ${timeoutMs} ms (last: ${last}); log: ${relative(ROOT, this.logFile)}`);
  }

  /** As the bootstrap operator: an agent API key for the intent's agent, which every intent and run read then carries. */
  async createAgentKey(): Promise<void> {
    const res = await this.call('operator', 'POST', '/v1/api-keys', { name: 'bench:embedded load', role: 'agent', agentId: INTENT.agentId }, 30000);
    const text = await res.text();
    if (res.status !== 201) throw new Error(`POST /v1/api-keys answered ${res.status}: ${text.slice(0, 300)}`);
    this.agentKey = (JSON.parse(text) as { key: string }).key;
  }

  async metrics(): Promise<ReturnType<typeof parsePrometheus>> {
    const res = await this.call('metrics', 'GET', '/metrics', undefined, 10000);
    if (res.status !== 200) throw new Error(`GET /metrics answered ${res.status}`);
    return parsePrometheus(await res.text());
  }

  /** govmesh_runs_completed_total summed over its labels (every outcome). */
  async completedRuns(): Promise<number> {
    return (await this.metrics()).filter((s) => s.name === 'govmesh_runs_completed_total').reduce((a, s) => a + s.value, 0);
  }

  async submit(): Promise<{ runId?: string; rejected?: string }> {
    try {
      const res = await this.call('agent', 'POST', '/v1/intents', INTENT);
      const text = await res.text();
      if (res.status !== 202 && res.status !== 200) return { rejected: `HTTP ${res.status}: ${text.slice(0, 200)}` };
      return { runId: (JSON.parse(text) as { runId: string }).runId };
    } catch (err) {
      return { rejected: `request failed: ${(err as Error).message}` };
    }
  }

  async run(runId: string): Promise<RunView | undefined> {
    const res = await this.call('agent', 'GET', `/v1/runs/${encodeURIComponent(runId)}`, undefined, 30000);
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw new Error(`GET /v1/runs/${runId} answered ${res.status}`);
    return (await res.json()) as RunView;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(timer);
  }
}

/**
 * Waits until the app has finished the previous phase's leftovers (telemetry, outbox): its CPU
 * stays below 0.1 core for 0.5 s and no outbox has pending rows. Returns the seconds waited.
 */
async function settle(app: EmbeddedApp, maxMs = 30000): Promise<number> {
  const t0 = Date.now();
  const deadline = t0 + Math.min(maxMs, Math.max(1000, remainingMs() - 60000));
  const group: CpuGroup[] = [{ name: 'app', pids: [app.pid] }];
  for (;;) {
    const before = cpuSnapshot(group);
    await sleep(500);
    const busy = (cpuDelta(before, cpuSnapshot(group)).groups.get('app') ?? 0) / 0.5;
    const pending = (await app.metrics()).filter((s) => s.name === 'govmesh_outbox_pending').reduce((a, s) => a + s.value, 0);
    if ((busy < 0.1 && pending === 0) || Date.now() > deadline) return (Date.now() - t0) / 1000;
  }
}

/**
 * One phase against the app: submit `count` intents (at once with bounded concurrency, or at a
 * fixed rate), wait until the runs-completed counter has moved by as many as were accepted, then
 * read each run's record once for its outcome and completion time.
 */
async function appPhase(
  app: EmbeddedApp,
  phase: 'warmup' | 'full' | 'light',
  count: number,
  rate?: number,
  around?: { start: () => Promise<void>; stop: () => Promise<void> },
): Promise<PhaseFigures | undefined> {
  const groups: CpuGroup[] = [
    { name: 'app', pids: [app.pid] },
    { name: 'bench', pids: [process.pid] },
  ];
  await around?.start();
  const before = await app.completedRuns();
  const cpu0 = cpuSnapshot(groups);
  /** Per intent: client start (epoch ms; the scheduled start at a fixed rate), when the POST was answered, run id or rejection. */
  const sent: Array<{ start: number; answered: number; runId?: string; rejected?: string }> = new Array(count);
  const epochOffset = Date.now() - now();
  let maxSlipMs: number | undefined;
  if (rate) {
    ({ maxSlipMs } = await paced(count, rate, async (i, scheduled) => {
      const result = await app.submit();
      sent[i] = { start: epochOffset + scheduled, answered: Date.now(), ...result };
    }));
  } else {
    await bounded(count, CONFIG.concurrency, async (i) => {
      const start = Date.now();
      const result = await app.submit();
      sent[i] = { start, answered: Date.now(), ...result };
    });
  }
  const submittedIn = (Date.now() - Math.min(...sent.map((s) => s.start))) / 1000;
  const accepted = sent.filter((s) => s.runId).length;
  const rejected = count - accepted;
  if (rejected > 0) log(`  ${phase}: ${rejected} of ${count} intents refused, e.g. ${sent.find((s) => s.rejected)?.rejected}`);

  // Completion from the counter: cheap to poll, unlike 1000 run records.
  const timeoutMs = boundedTimeout(phase === 'full' ? 300000 : 120000);
  const deadline = Date.now() + timeoutMs;
  let done = 0;
  let lastLog = Date.now();
  for (;;) {
    const reason = app.dead();
    if (reason) throw new Error(reason);
    done = (await app.completedRuns()) - before;
    if (done >= accepted) break;
    if (Date.now() > deadline) {
      log(`  ${phase}: only ${done}/${accepted} runs completed within ${Math.round(timeoutMs / 1000)} s; reading their records anyway`);
      break;
    }
    if (Date.now() - lastLog > 5000) {
      lastLog = Date.now();
      log(`  ... ${phase}: ${done}/${accepted} runs completed`);
    }
    await sleep(100);
  }
  const cpu = cpuFigures(cpu0, groups, 'app');
  await around?.stop();
  log(`  ${phase}: ${count} intents submitted in ${submittedIn.toFixed(1)} s, ${done} runs completed; reading the run records`);

  // One GET per run; a record that isn't completed yet (counter and record may be a moment apart) is read again.
  const views = new Map<string, RunView | undefined>();
  const ids = sent.filter((s) => s.runId).map((s) => s.runId!);
  for (let attempt = 0; attempt < 5; attempt++) {
    const todo = ids.filter((id) => views.get(id)?.status !== 'completed');
    if (todo.length === 0) break;
    if (attempt > 0) {
      if (done < accepted) break;
      await sleep(500);
    }
    await bounded(todo.length, 16, async (i) => {
      views.set(todo[i], await app.run(todo[i]));
    });
  }
  if (phase === 'warmup') {
    const outcomes: Record<string, number> = {};
    for (const id of ids) {
      const o = views.get(id)?.outcome ?? 'not completed';
      outcomes[o] = (outcomes[o] ?? 0) + 1;
    }
    if (rejected) outcomes['refused'] = rejected;
    log(`  warmup: ${outcomesText(outcomes)}`);
    // An app that completes none of the warm-up runs is broken, not slow: no figures to take.
    if (!outcomes[EXPECTED_OUTCOME]) {
      throw new Error(`no warm-up run was ${EXPECTED_OUTCOME} (${outcomesText(outcomes)}${rejected ? `; e.g. ${sent.find((s) => s.rejected)?.rejected}` : ''}); app log: ${relative(ROOT, app.logFile)}`);
    }
    return undefined;
  }
  const runs = sent.map((s) => {
    if (!s.runId) return { start: s.start, outcome: 'refused' };
    const v = views.get(s.runId);
    if (!v) return { start: s.start, outcome: 'not found' };
    if (v.status !== 'completed' || !v.completedAt) return { start: s.start, outcome: `not completed (${v.status})` };
    return { start: s.start, end: Date.parse(v.completedAt), outcome: v.outcome ?? 'none' };
  });
  // Per run, for a closer look: client start, POST answered, the run's createdAt and completedAt (epoch ms).
  const csv = join(dirname(app.logFile), `runs-${phase}.csv`);
  writeFileSync(
    csv,
    ['i,start,answered,createdAt,completedAt,outcome']
      .concat(
        sent.map((s, i) => {
          const v = s.runId ? views.get(s.runId) : undefined;
          const t = (iso?: string | null) => (iso ? String(Date.parse(iso)) : '');
          return [i, s.start, s.answered, t(v?.createdAt), t(v?.completedAt), s.rejected ? 'refused' : (v?.outcome ?? v?.status ?? '')].join(',');
        }),
      )
      .join('\n') + '\n',
  );
  const answer = summarize(sent.map((s) => s.answered - s.start));
  const notes = [`POST answered after p50 ${ms(answer.p50)} / p99 ${ms(answer.p99)} ms`, `per-run times in ${relative(ROOT, csv)}`];
  return figures('govmesh-embedded', phase, count, runs, { rate, maxSlipMs, ...cpu, notes });
}

async function runApp(): Promise<void> {
  const dataDir = tempDir('govmesh-bench-embedded-');
  const logDir = join(ROOT, 'tmp/test-logs', `bench-embedded-${new Date(T0).toISOString().replace(/[:.]/g, '-')}`);
  const profiler = CONFIG.profile ? new ProfileControl(join(ROOT, 'tmp/bench-profiles', `embedded-${new Date(T0).toISOString().replace(/[:.]/g, '-')}`)) : undefined;
  log(`embedded app: starting dist/apps/embedded/main.js (PGlite in ${dataDir})${profiler ? '; CPU profiler hook loaded' : ''}`);
  const app = await EmbeddedApp.start(dataDir, logDir, profiler?.env(process.env['NODE_OPTIONS']));
  const stopApp = onCleanup('embedded app', async () => {
    await app.stop();
    removeDir(dataDir);
  });
  await app.waitHealthy(boundedTimeout(90000));
  log(`embedded app: healthy at ${app.base} (pid ${app.pid}; log ${relative(ROOT, app.logFile)})`);
  await app.createAgentKey();
  log(`embedded app: created an agent API key for ${INTENT.agentId} with the bootstrap operator key; every intent and run read carries it`);
  if (CONFIG.warmup > 0) {
    log(`embedded app: warm-up, ${CONFIG.warmup} intents`);
    await appPhase(app, 'warmup', CONFIG.warmup);
  }
  log(`embedded app: settled in ${(await settle(app)).toFixed(1)} s; full speed, ${CONFIG.n} intents, concurrency ${CONFIG.concurrency}`);
  const profiled = (phase: 'full' | 'light') =>
    profiler && CONFIG.profile === phase
      ? {
          start: () => profiler.start(),
          stop: async () => {
            const written = await profiler.stop(['embedded']);
            const summary = written.length > 0 ? summarizeProfile(profiler.dir, 'embedded', 12) : undefined;
            if (summary) profileSummary = { summary, dir: profiler.dir, phase };
            else log('  the CPU profile was not written');
          },
        }
      : undefined;
  const full = await appPhase(app, 'full', CONFIG.n, undefined, profiled('full'));
  if (full) {
    results.push(full);
    log(`  full: ${fmt(full.runsPerSec, 1)} runs/s, p50 ${ms(full.p50)} ms, p99 ${ms(full.p99)} ms`);
  }
  if (CONFIG.lightRate) {
    const count = Math.max(1, Math.round(CONFIG.lightRate * CONFIG.lightSeconds));
    log(`embedded app: settled in ${(await settle(app)).toFixed(1)} s; light load, ${count} intents at ${CONFIG.lightRate}/s`);
    const light = await appPhase(app, 'light', count, CONFIG.lightRate, profiled('light'));
    if (light) {
      results.push(light);
      log(`  light: ${fmt(light.runsPerSec, 1)} runs/s, p50 ${ms(light.p50)} ms, p99 ${ms(light.p99)} ms`);
    }
  }
  log('embedded app: stopping');
  await stopApp();
}

// ------------------------------------------------------------------------------------ the bare PGlite baseline

/** The peers' schema and seed data (../shared/bench-peers/peer-schema.sql). */
const PEER_SCHEMA = `
create schema app;
create table app.agents(id text primary key, tier text, status text);
create table app.decisions(id bigserial primary key, run_id text, kind text, effect text, at timestamptz default now());
create table app.documents(id text primary key, body text, acl text[], tsv tsvector);
create table app.model_calls(id bigserial primary key, run_id text, model text, tokens int);
create table app.accounts(id text primary key, holder text, status text, balance_cents bigint);
create table app.access_log(id bigserial primary key, run_id text, account_id text, at timestamptz default now());
create table app.executions(id bigserial primary key, run_id text unique, tool text, grant_id text);
create table app.verifications(id bigserial primary key, run_id text, verdict text);
create index on app.documents using gin(tsv);
insert into app.agents values ('support-assistant','execute_low','active');
insert into app.accounts values ('acc-001','Ada Lovelace','active',120000);
insert into app.documents select 'doc-'||g, 'account status policy for support '||g, array['support'], to_tsvector('english','account status policy for support '||g) from generate_series(1,50) g;
`;
/**
 * The baseline's keys, loaded once as govmesh's services load theirs: the ingress pair (the HTTP
 * ingress attests an intent, policy checks it) and the grant pair (policy signs the action
 * grant, the tool gateway checks it).
 */
const BARE_KEYS = (() => {
  const ingress = generateKeyPair();
  const grant = generateKeyPair();
  return {
    ingressSigning: loadPrivateKey(ingress.privateKeySeed),
    ingressPublic: loadPublicKey(ingress.publicKey),
    grantSigning: loadPrivateKey(grant.privateKeySeed),
    grantPublic: loadPublicKey(grant.publicKey),
  } satisfies Record<string, KeyObject>;
})();

/**
 * One governed run as six small transactions, the steps of the peers (dbos-peer.js,
 * restate-peer.js): decide the intent, retrieve, record the model call, decide the action,
 * execute (read + access log + execution), verify by reading back. The crypto is govmesh's (the
 * peers use an HMAC grant instead): the intent is attested with an Ed25519 signature at submission
 * and checked when it is decided; the action's grant is an Ed25519 grant (`issueGrant`) checked
 * (`checkGrant`) before the tool runs.
 */
async function bareRun(db: PGlite, runId: string): Promise<string> {
  const intent = { intentId: runId, agentId: 'support-assistant', task: 'What is the status of acc-001?', input: { accountId: 'acc-001' }, submittedAt: new Date().toISOString() };
  const attestation = signIntent(intent, BARE_KEYS.ingressSigning);
  const effect = await db.transaction(async (tx) => {
    if (!verifyIntentSignature(intent, attestation, BARE_KEYS.ingressPublic)) return 'refused';
    const { rows } = await tx.query<{ tier: string; status: string }>('select tier, status from app.agents where id=$1', ['support-assistant']);
    const e = rows[0]?.status === 'active' ? 'allow' : 'deny';
    await tx.query('insert into app.decisions(run_id, kind, effect) values ($1,$2,$3)', [runId, 'intent', e]);
    return e;
  });
  if (effect === 'refused') return 'refused';
  if (effect !== 'allow') return 'denied';
  await db.transaction(async (tx) =>
    tx.query("select id, body from app.documents where acl && $2::text[] and tsv @@ plainto_tsquery('english', $1) limit 3", ['account status', ['support']]),
  );
  const proposal = await db.transaction(async (tx) => {
    await tx.query('insert into app.model_calls(run_id, model, tokens) values ($1,$2,$3)', [runId, 'builtin-small', 42]);
    return { tool: 'lookup_account', args: { accountId: 'acc-001' } };
  });
  const action = { agentId: intent.agentId, agentVersion: '1.0.0', tool: proposal.tool, arguments: proposal.args, policyVersion: 'bench' };
  const grant: SignedGrant = await db.transaction(async (tx) => {
    await tx.query('insert into app.decisions(run_id, kind, effect) values ($1,$2,$3)', [runId, 'action', 'allow']);
    return issueGrant(BARE_KEYS.grantSigning, action, { runId, stepId: 'act' }, randomUUID(), new Date(), 30);
  });
  const claim = await db.transaction(async (tx) => {
    // The gateway executes nothing without a grant for exactly this action.
    const problem = checkGrant(BARE_KEYS.grantPublic, grant, { runId, stepId: 'act', agentId: action.agentId, agentVersion: action.agentVersion, tool: action.tool, arguments: action.arguments }, new Date());
    if (problem) return null;
    const { rows } = await tx.query<{ id: string; holder: string }>('select id, holder, status, balance_cents from app.accounts where id=$1', [proposal.args.accountId]);
    await tx.query('insert into app.access_log(run_id, account_id) values ($1,$2)', [runId, proposal.args.accountId]);
    await tx.query('insert into app.executions(run_id, tool, grant_id) values ($1,$2,$3)', [runId, proposal.tool, grant.grantId]);
    return rows[0];
  });
  if (!claim) return 'grant_refused';
  const ok = await db.transaction(async (tx) => {
    const { rows } = await tx.query<{ holder: string }>('select holder, status, balance_cents from app.accounts where id=$1', [claim.id]);
    const v = rows[0]?.holder === claim.holder;
    await tx.query('insert into app.verifications(run_id, verdict) values ($1,$2)', [runId, v ? 'confirmed' : 'mismatch']);
    return v;
  });
  return ok ? 'verified' : 'verification_failed';
}

async function barePhase(db: PGlite, phase: 'warmup' | 'full' | 'light', count: number, rate?: number): Promise<PhaseFigures | undefined> {
  const groups: CpuGroup[] = [{ name: 'bench', pids: [process.pid] }];
  const cpu0 = cpuSnapshot(groups);
  const epochOffset = Date.now() - now();
  const runs: Array<{ start: number; end?: number; outcome: string }> = new Array(count);
  const one = async (i: number, start: number) => {
    let outcome: string;
    try {
      outcome = await bareRun(db, `${phase}-${i}`);
    } catch (err) {
      outcome = `error: ${(err as Error).message.slice(0, 80)}`;
    }
    runs[i] = { start: epochOffset + start, end: epochOffset + now(), outcome };
  };
  let maxSlipMs: number | undefined;
  if (rate) ({ maxSlipMs } = await paced(count, rate, one));
  else await bounded(count, CONFIG.concurrency, (i) => one(i, now()));
  const cpu = cpuFigures(cpu0, groups, 'bench');
  if (phase === 'warmup') return undefined;
  return figures('bare-pglite', phase, count, runs, { rate, maxSlipMs, ...cpu, notes: [] });
}

async function runBaseline(): Promise<void> {
  const dir = tempDir('govmesh-bench-pglite-');
  log(`baseline: bare PGlite in this process (${dir}), six transactions per run`);
  const db = await PGlite.create(dir);
  const close = onCleanup('bare PGlite', async () => {
    await db.close().catch(() => undefined);
    removeDir(dir);
  });
  await db.exec(PEER_SCHEMA);
  if (CONFIG.warmup > 0) await barePhase(db, 'warmup', CONFIG.warmup);
  log(`baseline: full speed, ${CONFIG.n} runs, concurrency ${CONFIG.concurrency} (PGlite runs one transaction at a time)`);
  const full = await barePhase(db, 'full', CONFIG.n);
  if (full) {
    results.push(full);
    log(`  full: ${fmt(full.runsPerSec, 1)} runs/s, p50 ${ms(full.p50)} ms, p99 ${ms(full.p99)} ms`);
  }
  if (CONFIG.lightRate) {
    const count = Math.max(1, Math.round(CONFIG.lightRate * CONFIG.lightSeconds));
    log(`baseline: light load, ${count} runs at ${CONFIG.lightRate}/s`);
    const light = await barePhase(db, 'light', count, CONFIG.lightRate);
    if (light) {
      results.push(light);
      log(`  light: ${fmt(light.runsPerSec, 1)} runs/s, p50 ${ms(light.p50)} ms, p99 ${ms(light.p99)} ms`);
    }
  }
  await close();
}

// ------------------------------------------------------------------------------------ main

let exiting: Promise<never> | undefined;

/**
 * The one way out: cleans up (stops the app, deletes the temp directories), prints the report and
 * exits. The first call wins; later ones (an in-flight phase failing because the app was just
 * stopped, a second Ctrl-C) wait for it instead of exiting with their own code.
 */
function finish(code: number, reason?: string): Promise<never> {
  exiting ??= (async () => {
    log(reason ? `stopping: ${reason}` : 'done; cleaning up');
    await withTimeout(cleanup(), 60000, 'cleanup').catch((err) => log((err as Error).message));
    try {
      report(reason?.split('\n')[0]);
    } catch (err) {
      log(`report failed: ${(err as Error).message}`);
    }
    process.exit(code);
  })();
  return exiting;
}

async function main(): Promise<void> {
  setTimeout(() => void finish(2, `global time limit of ${CONFIG.timeLimitS} s reached`), CONFIG.timeLimitS * 1000);
  process.once('SIGINT', () => void finish(130, 'interrupted (SIGINT)'));
  process.once('SIGTERM', () => void finish(143, 'terminated (SIGTERM)'));
  const idle = cpuSnapshot([]);
  await sleep(1000);
  const busy = cpuDelta(idle, cpuSnapshot([]));
  if (busy.machineBusy !== undefined && busy.machineBusy > 0.2) {
    log(`WARNING the machine is ${pct(busy.machineBusy)} busy before the benchmark (${busy.others.slice(0, 3).map((o) => `${o.comm} ${o.seconds.toFixed(2)} s`).join(', ')}): figures will be disturbed`);
  }
  buildApp();
  // The baseline runs first, on its own, so the two systems never compete for the CPU.
  if (CONFIG.baseline) await runBaseline();
  else log('BENCH_BASELINE=0: no bare PGlite baseline');
  await runApp();
  await finish(0);
}

main().catch((err) => void finish(1, `failed: ${(err as Error).stack ?? err}`));
