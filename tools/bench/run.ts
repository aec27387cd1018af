/**
 * `npm run bench`: the distributed mesh against a bare kafkajs relay chain with the same number
 * of hops, measured in one run on one machine. See tools/bench/README.md.
 */
import * as os from 'node:os';
import { join } from 'node:path';
import { Topics } from '@govmesh/contracts';
import { adminDatabaseUrl, MESH_APPS, signedIntentCloudEvent, type ScratchDatabase } from '@govmesh/testing';
import {
  benchAgent,
  BenchSession,
  CHAIN_CONCURRENCY,
  CHAIN_PARTITIONS,
  chainLayout,
  CORES,
  envInt,
  HOP_OWNER,
  RUN_FLOW as FLOW,
  meshCpuGroups,
  meshEnvFromBenchEnv,
  otherCpu,
  othersText,
  prepare,
  printFooter,
  ROOT,
  startChain,
  startMesh,
  waitForAudit,
  watchApps,
} from './harness';
import { Collector, now, Publisher, runPhase, toEpochMs, type PhaseResult, type PhaseSpec } from './load';
import {
  cpuDelta,
  cpuSnapshot,
  PgActivitySampler,
  pgWork,
  pgWorkDelta,
  scrapeAll,
  serviceFigures,
  type CpuGroup,
  type CpuSnapshot,
  type MetricsSnapshot,
  type PgWork,
  type ServiceFigures,
} from './probes';
import { ProfileControl, summarizeProfile, type ProfileSummary } from './profile';
import { fmt, ms, pct, sleep, summarize, table } from './stats';

// ------------------------------------------------------------------------------------ config

const N = Math.round(envInt('BENCH_N', 1000));
const CONFIG = {
  n: N,
  rateFractions: (process.env['BENCH_RATES'] ?? '0.25,0.5')
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((f) => f > 0 && f <= 1),
  rateSeconds: envInt('BENCH_RATE_SECONDS', 20),
  rateN: Math.round(envInt('BENCH_RATE_N', N)),
  warmup: Math.round(envInt('BENCH_WARMUP', 20)),
  chunk: Math.round(envInt('BENCH_CHUNK', 100)),
  timeLimitS: envInt('BENCH_TIME_LIMIT_S', 600),
  /** An absolute rate both systems should sustain, to compare latency without queueing; 0 = off. */
  lightRate: process.env['BENCH_LIGHT_RATE'] === '0' ? 0 : envInt('BENCH_LIGHT_RATE', 10),
  chainProcs: process.env['BENCH_CHAIN_PROCS'] ?? 'services',
  /** `mesh`: skip the chain and take its max rate from BENCH_CHAIN_MAX; `chain`: skip the mesh (for tuning runs). */
  only: process.env['BENCH_ONLY'] ?? '',
  chainMax: process.env['BENCH_CHAIN_MAX'] ? envInt('BENCH_CHAIN_MAX', 1) : undefined,
  skipTelemetry: process.env['BENCH_SKIP_TELEMETRY'] === '1',
  pgSynchronousCommit: process.env['BENCH_PG_SYNCHRONOUS_COMMIT'],
  /** CPU-profile every app during the full-speed phase (adds overhead: not for comparing figures). */
  profile: process.env['BENCH_PROFILE'] === '1',
  skipBuild: process.env['BENCH_SKIP_BUILD'] === '1',
  meshEnv: meshEnvFromBenchEnv(),
};
if (!CONFIG.rateFractions.includes(0.25)) CONFIG.rateFractions.unshift(0.25);
if (CONFIG.only && CONFIG.only !== 'mesh' && CONFIG.only !== 'chain') throw new Error('BENCH_ONLY accepts "mesh" or "chain"');
if (CONFIG.only === 'mesh' && !CONFIG.chainMax) throw new Error('BENCH_ONLY=mesh needs BENCH_CHAIN_MAX=<msg/s> (the chain max of an earlier run)');

/**
 * The intents are signed as an agent signs them (docs/signing.md): with the Ed25519 key of the
 * agent version the bench registers on the mesh with its bootstrap operator key. The chain
 * forwards the same signed bytes (it checks nothing).
 */
const session = new BenchSession(CONFIG.timeLimitS);
const { out, log } = session;
const { pair: AGENT_PAIR, key: AGENT } = benchAgent('support-assistant', `bench-${session.t0}`);
const intentMessage = (id: string) => ({ key: id, value: signedIntentCloudEvent(AGENT, { intentId: id, task: 'Status of acc-001 please', input: { accountId: 'acc-001' } }) });
/** Sent on /metrics scrapes when the apps get BENCH_MESH_GOVMESH_METRICS_TOKEN (/metrics is open otherwise). */
const METRICS_TOKEN = CONFIG.meshEnv['GOVMESH_METRICS_TOKEN'];

const PARTITIONS = CHAIN_PARTITIONS;
const CONCURRENCY = CHAIN_CONCURRENCY;
const HOPS = HOP_OWNER.length;

const boundedTimeout = (wantedMs: number, reserveMs?: number) => session.boundedTimeout(wantedMs, reserveMs);
const onCleanup = (name: string, fn: () => Promise<unknown>) => session.onCleanup(name, fn);

// ------------------------------------------------------------------------------------ results state

interface CpuRow {
  name: string;
  seconds: number;
}

interface MeshDiagnostics {
  phaseKey: string;
  wallSeconds: number;
  machineBusy?: number;
  cpu: CpuRow[];
  others: Array<{ comm: string; seconds: number }>;
  services: Map<string, ServiceFigures>;
  pgTop: Array<{ app: string; what: string; avg: number }>;
  pgBusyByApp: Array<{ app: string; avg: number }>;
  auditCatchUpSeconds?: number;
  /** Postgres work of the phase, telemetry's catch-up included. */
  pgWork?: PgWork;
  runs: number;
  hopGaps?: Array<{ event: string; by: string; p50: number; p99: number }>;
}

interface ChainDiagnostics {
  phaseKey: string;
  wallSeconds: number;
  machineBusy?: number;
  cpu: CpuRow[];
  others: Array<{ comm: string; seconds: number }>;
}

const state: {
  machine: string[];
  chain: Map<string, PhaseResult>;
  mesh: Map<string, PhaseResult>;
  chainDiag: Map<string, ChainDiagnostics>;
  meshDiag: Map<string, MeshDiagnostics>;
  rates: Map<string, number>;
  notes: string[];
  logDir?: string;
  profiles: ProfileSummary[];
  profileDir?: string;
} = { machine: [], chain: new Map(), mesh: new Map(), chainDiag: new Map(), meshDiag: new Map(), rates: new Map(), notes: [], profiles: [] };

const phaseKeys = () => ['full', ...CONFIG.rateFractions.map((f) => `r${f}`), ...(CONFIG.lightRate ? ['light'] : [])];
const phaseLabel = (key: string) => (key === 'full' ? 'full speed' : key === 'light' ? 'light load' : `${Math.round(Number(key.slice(1)) * 100)}% of chain max`);
/** The rate of a phase once the chain's max is known; undefined = full speed. */
function rateOf(key: string, chainMax: number): number | undefined {
  if (key === 'full') return undefined;
  if (key === 'light') return CONFIG.lightRate;
  return Number(key.slice(1)) * chainMax;
}

// ------------------------------------------------------------------------------------ phases

function specFor(key: string, prefix: string, rate: number | undefined, drainMs: number): PhaseSpec {
  const count = rate ? Math.max(1, Math.min(CONFIG.rateN, Math.round(rate * CONFIG.rateSeconds))) : CONFIG.n;
  return { phase: phaseLabel(key), rate, count, prefix: `${prefix}-${key}`, chunk: CONFIG.chunk, drainTimeoutMs: drainMs };
}

function describeResult(who: string, r: PhaseResult): string {
  const extra = r.rate ? `, published at ${fmt(r.publishRate)}/s (max slip ${ms(r.maxSlipMs)} ms)` : '';
  const queue = r.rate && r.latencyGrowth > 1.5 ? `, NOT keeping up (latency grew ${fmt(r.latencyGrowth, 1)}x during the phase)` : '';
  return `${who} ${r.phase}: ${r.done}/${r.count} in ${((r.lastResult - r.firstPublish) / 1000).toFixed(2)} s -> ${fmt(r.throughput)} msg/s, p50 ${ms(r.p50)} ms, p99 ${ms(r.p99)} ms, max ${ms(r.max)} ms${extra}${queue}${r.timedOut ? '  (TIMED OUT)' : ''}`;
}

// ------------------------------------------------------------------------------------ the bare chain

async function runChain(): Promise<void> {
  const chain = await startChain(session, chainLayout(CONFIG.chainProcs));
  const { broker, topics } = chain;

  const publisher = new Publisher(broker.bootstrap, 'chain');
  const collector = new Collector(broker.bootstrap, topics[HOPS], { label: 'chain' });
  const closeClients = onCleanup('chain clients', async () => {
    await collector.close();
    await publisher.close();
  });
  await publisher.connect();
  await collector.start();

  // The chain forwards the same bytes the mesh gets as an intent, signature included.
  const message = intentMessage;
  const io = { publisher, collector, topic: topics[0], message, log };
  const cpuGroups: CpuGroup[] = [...chain.cpuGroups, { name: 'bench (publisher+collector)', pids: [process.pid] }];

  log(`chain: warm-up with ${CONFIG.warmup} messages`);
  const warm = await runPhase({ phase: 'warm-up', count: CONFIG.warmup, prefix: 'chain-warmup', chunk: CONFIG.chunk, drainTimeoutMs: 60000 }, io);
  if (warm.timedOut) throw new Error(`chain warm-up: only ${warm.done}/${warm.count} came through within 60 s`);

  for (const key of phaseKeys()) {
    const rate = key === 'full' ? undefined : rateOf(key, state.chain.get('full')!.throughput);
    const spec = specFor(key, 'chain', rate, boundedTimeout(rate ? 60000 + CONFIG.rateSeconds * 1000 : 120000));
    log(`chain: ${spec.phase}${rate ? ` at ${fmt(rate)} msg/s` : ''}, ${spec.count} messages`);
    const before = cpuSnapshot(cpuGroups);
    const result = await runPhase(spec, io);
    const after = cpuSnapshot(cpuGroups);
    state.chain.set(key, result);
    if (rate) state.rates.set(key, rate);
    const delta = cpuDelta(before, after);
    state.chainDiag.set(key, { phaseKey: key, wallSeconds: delta.wallSeconds, machineBusy: delta.machineBusy, cpu: [...delta.groups].map(([name, seconds]) => ({ name, seconds })), others: delta.others });
    log(describeResult('chain', result));
    await sleep(500);
  }

  // Stop the chain completely before the mesh starts, so they never compete for the CPU.
  await closeClients();
  await chain.stop();
  log('chain: stopped');
}

// ------------------------------------------------------------------------------------ the mesh

async function hopGaps(db: ScratchDatabase, result: PhaseResult, collector: Collector): Promise<MeshDiagnostics['hopGaps']> {
  const rows = await db.query<{ run_id: string; type: string; occurred_at: Date }>('SELECT run_id, type, occurred_at FROM telemetry.audit_records WHERE run_id = ANY($1)', [result.ids]);
  const byRun = new Map<string, Map<string, number>>();
  for (const r of rows) {
    const m = byRun.get(r.run_id) ?? new Map<string, number>();
    m.set(r.type, new Date(r.occurred_at).getTime());
    byRun.set(r.run_id, m);
  }
  const gaps: number[][] = FLOW.map(() => []);
  for (const id of result.ids) {
    const times = byRun.get(id);
    const received = collector.received.get(id);
    if (!times || !received) continue;
    for (let k = 1; k < FLOW.length; k++) {
      const a = times.get(FLOW[k - 1][0]);
      const b = times.get(FLOW[k][0]);
      if (a !== undefined && b !== undefined) gaps[k].push(b - a);
    }
    const done = times.get(FLOW[FLOW.length - 1][0]);
    if (done !== undefined) gaps[0].push(toEpochMs(received.at) - done);
  }
  const rowsOut = FLOW.slice(1).map(([event, by], i) => ({ event: event.replace(/^govmesh\.|\.v1$/g, ''), by, ...summarize(gaps[i + 1]) }));
  rowsOut.push({ event: 'result received by bench', by: '(outbox+broker+fetch)', ...summarize(gaps[0]) });
  return rowsOut.map((r) => ({ event: r.event, by: r.by, p50: r.p50, p99: r.p99 }));
}

/** BENCH_PG_SYNCHRONOUS_COMMIT on the scratch database, before the apps connect. */
async function setSynchronousCommit(db: ScratchDatabase): Promise<void> {
  if (!CONFIG.pgSynchronousCommit) return;
  if (!/^(on|off|local|remote_write|remote_apply)$/.test(CONFIG.pgSynchronousCommit)) throw new Error('BENCH_PG_SYNCHRONOUS_COMMIT must be on|off|local|remote_write|remote_apply');
  await db.query(`ALTER DATABASE "${db.name}" SET synchronous_commit = ${CONFIG.pgSynchronousCommit}`);
  state.notes.push(`the scratch database ran with synchronous_commit=${CONFIG.pgSynchronousCommit} (BENCH_PG_SYNCHRONOUS_COMMIT)`);
  log(`mesh: synchronous_commit=${CONFIG.pgSynchronousCommit} for the scratch database`);
}

async function runMesh(chainMax: number): Promise<void> {
  const apps = MESH_APPS.filter((a) => !(CONFIG.skipTelemetry && a === 'telemetry'));
  if (CONFIG.skipTelemetry) state.notes.push('telemetry was NOT started (BENCH_SKIP_TELEMETRY=1): no audit chain, no per-step breakdown');

  const label = `bench-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const profiler = CONFIG.profile ? new ProfileControl(join(ROOT, 'tmp/bench-profiles', label)) : undefined;
  if (profiler) {
    state.profileDir = profiler.dir;
    state.notes.push(`apps were CPU-profiled during the full-speed phase (BENCH_PROFILE=1): profiling slows them, compare figures only between profiled runs`);
  }
  const meshEnv = { ...CONFIG.meshEnv, ...(profiler ? profiler.env(CONFIG.meshEnv['NODE_OPTIONS']) : {}) };
  const running = await startMesh(session, { label, apps, env: meshEnv, prepareDb: setSynchronousCommit });
  const { broker, db, mesh, pids } = running;
  state.logDir = mesh.logDir;

  const publisher = new Publisher(broker.bootstrap, 'mesh');
  const collector = new Collector(broker.bootstrap, Topics.results, { label: 'mesh', parseOutcome: true });
  onCleanup('mesh clients', async () => {
    await collector.close();
    await publisher.close();
  });
  await publisher.connect();
  await collector.start();
  const sampler = new PgActivitySampler(adminDatabaseUrl(), db.name);
  onCleanup('pg sampler', () => sampler.stop());
  await sampler.start();

  // Policy accepts only signed intents: register the bench's agent key on a new version of the agent.
  await mesh.registerAgentKey(AGENT.agentId, AGENT.version, { pair: AGENT_PAIR });
  log(`mesh: registered the bench's intent signing key on ${AGENT.agentId} version ${AGENT.version} (with the bootstrap operator key)`);
  const message = intentMessage;
  const watchdog = watchApps(apps, pids, (app) => mesh.url(app), mesh.logDir);
  onCleanup('health watchdog', async () => watchdog.stop());
  const io = { publisher, collector, topic: Topics.intents, message, expectOutcome: 'verified', log, abort: () => watchdog.failure };
  const urls = new Map(apps.map((app) => [app, mesh.url(app)] as [string, string]));
  const cpuGroups: CpuGroup[] = meshCpuGroups(running, apps);

  log(`mesh: warm-up with ${CONFIG.warmup} intents (the first consumer-group joins take a few seconds)`);
  const warm = await runPhase({ phase: 'warm-up', count: CONFIG.warmup, prefix: `mesh-warmup`, chunk: CONFIG.chunk, drainTimeoutMs: boundedTimeout(120000) }, io);
  if (warm.timedOut) throw new Error(`mesh warm-up: only ${warm.done}/${warm.count} results within the time allowed; see ${mesh.logDir}`);
  if (warm.unexpected.size > 0) throw new Error(`mesh warm-up: unexpected outcomes ${JSON.stringify(Object.fromEntries(warm.unexpected))} (expected verified)`);
  log(`mesh: warm-up done, all ${warm.count} verified (p50 ${ms(warm.p50)} ms); waiting for telemetry to record them`);
  if (!CONFIG.skipTelemetry) await waitForAudit(db, warm.ids, warm.done * FLOW.length, boundedTimeout(60000));

  for (const key of phaseKeys()) {
    const rate = rateOf(key, chainMax);
    if (rate) state.rates.set(key, rate);
    const spec = specFor(key, 'mesh', rate, boundedTimeout(rate ? 120000 + CONFIG.rateSeconds * 1000 : 300000, 90000));
    log(`mesh: ${spec.phase}${rate ? ` at ${fmt(rate)} msg/s` : ''}, ${spec.count} intents (drain timeout ${Math.round(spec.drainTimeoutMs / 1000)} s)`);
    const metricsBefore: MetricsSnapshot = await scrapeAll(urls, METRICS_TOKEN);
    const cpuBefore: CpuSnapshot = cpuSnapshot(cpuGroups);
    const workBefore = await pgWork(db.query, db.name).catch(() => undefined);
    sampler.reset();
    const profiling = profiler && key === 'full';
    if (profiling) await profiler.start();
    const result = await runPhase(spec, io);
    const cpuAfter = cpuSnapshot(cpuGroups);
    if (profiling) {
      const written = await profiler.stop(apps);
      state.profiles = written.map((a) => summarizeProfile(profiler.dir, a)).filter((p): p is ProfileSummary => Boolean(p));
      log(`mesh: CPU profiles of ${written.length}/${apps.length} apps in ${profiler.dir}`);
    }
    const metricsAfter = await scrapeAll(urls, METRICS_TOKEN);
    const pgTop = sampler.top(12);
    const pgBusyByApp = [...sampler.busyByApp].map(([app, c]) => ({ app, avg: sampler.samples ? c / sampler.samples : 0 })).sort((a, b) => b.avg - a.avg);
    state.mesh.set(key, result);
    log(describeResult('mesh', result));
    if (result.unexpected.size > 0) {
      const note = `mesh ${result.phase}: outcomes other than verified: ${JSON.stringify(Object.fromEntries(result.unexpected))}`;
      state.notes.push(note);
      log(`WARNING ${note}`);
    }
    const delta = cpuDelta(cpuBefore, cpuAfter);
    const services = new Map<string, ServiceFigures>();
    for (const app of apps) {
      const figures = serviceFigures(metricsBefore.get(app) ?? [], metricsAfter.get(app) ?? []);
      if (figures) services.set(app, figures);
      else state.notes.push(`${app} did not answer /metrics around the ${phaseLabel(key)} phase: no figures for it there`);
    }
    const diag: MeshDiagnostics = {
      phaseKey: key,
      wallSeconds: delta.wallSeconds,
      machineBusy: delta.machineBusy,
      cpu: [...delta.groups].map(([name, seconds]) => ({ name, seconds })),
      others: delta.others,
      services,
      pgTop,
      pgBusyByApp,
      runs: result.done,
    };
    state.meshDiag.set(key, diag);
    if (!CONFIG.skipTelemetry) {
      // Let telemetry (which records every event) catch up, so its backlog does not run into the next phase.
      diag.auditCatchUpSeconds = await waitForAudit(db, result.ids, result.done * FLOW.length, boundedTimeout(120000, 60000));
      log(`mesh: telemetry ${diag.auditCatchUpSeconds === undefined ? 'did NOT catch up in time' : `caught up ${diag.auditCatchUpSeconds.toFixed(1)} s after the last result`}`);
      diag.hopGaps = await hopGaps(db, result, collector).catch(() => undefined);
    }
    if (key === 'full' || key === 'light') {
      // PostgreSQL 15 backends publish table statistics up to 10 s after they go idle.
      await sleep(Math.max(0, 11000 - (now() - result.lastResult)));
      const workAfter = await pgWork(db.query, db.name).catch(() => undefined);
      if (workBefore && workAfter) diag.pgWork = pgWorkDelta(workBefore, workAfter);
    }
    await sleep(500);
  }
}

// ------------------------------------------------------------------------------------ the report

function report(partial: string | undefined): void {
  out();
  out('='.repeat(100));
  out(`govmesh benchmark: distributed mesh vs bare kafkajs relay chain (${HOPS} hops, ${HOPS + 1} topics x ${PARTITIONS} partitions)${partial ? `  [PARTIAL: ${partial}]` : ''}`);
  out('='.repeat(100));
  for (const line of state.machine) out(line);
  out(
    `chain:    ${HOPS} kafkajs relays (one consumer group each, eachBatch, partitionsConsumedConcurrently ${CONCURRENCY}, maxWaitTimeInMs 100, acks -1)` +
      ` in ${chainLayout(CONFIG.chainProcs).length} child processes (BENCH_CHAIN_PROCS=${CONFIG.chainProcs})`,
  );
  out('mesh:     7 app processes from dist/apps (telemetry included), each with the keys its service needs (generated for the run), scratch');
  out('          Postgres database, plain kafkajs producer -> govmesh.intents (each intent Ed25519-signed with the key the bench registered');
  out(`          on ${AGENT.agentId} version ${AGENT.version}), collector on govmesh.results; every intent must come back with outcome "verified".`);
  out(`settings: BENCH_N=${CONFIG.n} BENCH_RATES=${CONFIG.rateFractions.join(',')} BENCH_RATE_SECONDS=${CONFIG.rateSeconds} BENCH_RATE_N=${CONFIG.rateN} BENCH_CHUNK=${CONFIG.chunk} BENCH_WARMUP=${CONFIG.warmup}`);
  out('latency = result received - publish time (fixed rate: the scheduled time); throughput = results / (last result - first publish)');
  out();

  const rows: string[][] = [];
  for (const key of phaseKeys()) {
    const c = state.chain.get(key);
    const m = state.mesh.get(key);
    if (!c && !m) continue;
    const rate = key === 'full' ? 'max' : fmt(state.rates.get(key));
    const behind = (r: PhaseResult) => (r.rate && r.latencyGrowth > 1.5 ? '*' : '');
    const cell = (r: PhaseResult | undefined) => (r ? [`${r.done}/${r.count}`, `${fmt(r.throughput)}${behind(r)}`, ms(r.p50), ms(r.p99), ms(r.max)] : ['-', '-', '-', '-', '-']);
    rows.push([phaseLabel(key), rate, ...cell(c), ...cell(m), c && m ? pct(m.throughput / c.throughput) : '-', c && m ? `${fmt(m.p99 / c.p99, 2)}x` : '-']);
  }
  out('Results (ms; msg/s)');
  out(table(['phase', 'rate/s', 'chain n', 'thr', 'p50', 'p99', 'max', 'mesh n', 'thr', 'p50', 'p99', 'max', 'mesh/chain thr', 'p99 ratio'], rows));
  if ([...state.chain.values(), ...state.mesh.values()].some((r) => r.rate && r.latencyGrowth > 1.5)) {
    out('  * did not keep up with the offered rate: latency grew during the phase (p50 of the last tenth > 1.5x the first), so p50/p99 there measure a queue');
  }
  out();

  const cFull = state.chain.get('full');
  const mFull = state.mesh.get('full');
  const c25 = state.chain.get('r0.25');
  const m25 = state.mesh.get('r0.25');
  out('Targets');
  if (cFull && mFull) {
    const r = mFull.throughput / cFull.throughput;
    out(`  mesh throughput >= 30% of chain:       ${fmt(mFull.throughput)} / ${fmt(cFull.throughput)} msg/s = ${pct(r, 1)}  ${r >= 0.3 && !mFull.timedOut ? 'PASS' : 'MISS'}${mFull.timedOut ? ' (mesh did not finish)' : ''}`);
  } else out('  mesh throughput >= 30% of chain:       not measured');
  if (c25 && m25) {
    const r = m25.p99 / c25.p99;
    const ok = r <= 2 && !m25.timedOut;
    out(`  at 25% of chain max (${fmt(state.rates.get('r0.25'))} msg/s), mesh p99 <= 2x chain p99: ${ms(m25.p99)} / ${ms(c25.p99)} ms = ${fmt(r, 2)}x  ${ok ? 'PASS' : 'MISS'}${m25.timedOut ? ' (mesh did not finish)' : ''}`);
  } else out('  at 25% of chain max, mesh p99 <= 2x chain p99: not measured');
  const cl = state.chain.get('light');
  const ml = state.mesh.get('light');
  if (cl && ml) {
    out(`  (not a target) light load, ${fmt(CONFIG.lightRate)} msg/s: mesh p50 ${ms(ml.p50)} / chain ${ms(cl.p50)} ms = ${fmt(ml.p50 / cl.p50, 2)}x; p99 ${ms(ml.p99)} / ${ms(cl.p99)} ms = ${fmt(ml.p99 / cl.p99, 2)}x`);
  }
  for (const [key, r] of [...state.chain].map(([k, v]) => [k, v] as const)) {
    if (r.rate && r.latencyGrowth > 1.5) {
      out(`  note: the chain itself did not keep up with ${phaseLabel(key)} (${fmt(r.rate)} msg/s offered; p50 latency grew ${fmt(r.latencyGrowth, 1)}x from the first to the last tenth): its latency there includes queueing`);
    }
  }
  out();

  for (const [key, d] of state.chainDiag) {
    const other = otherCpu(d);
    out(`Chain CPU s, ${phaseLabel(key)} (${d.wallSeconds.toFixed(1)} s wall, machine busy ${pct(d.machineBusy)}): ${d.cpu.map((c) => `${c.name} ${c.seconds.toFixed(2)}`).join(', ')}${other !== undefined ? `, everything else ${other.toFixed(2)}${othersText(d.others)}` : ''}`);
  }
  for (const key of phaseKeys()) {
    const d = state.meshDiag.get(key);
    if (!d) continue;
    out();
    const audit = CONFIG.skipTelemetry ? ', telemetry not running' : d.auditCatchUpSeconds !== undefined ? `, telemetry finished ${d.auditCatchUpSeconds.toFixed(1)} s after the last result` : ', telemetry did not catch up';
    out(`Mesh breakdown, ${phaseLabel(key)}${state.rates.get(key) ? ` (${fmt(state.rates.get(key))} msg/s)` : ''}: ${d.wallSeconds.toFixed(1)} s wall, machine CPU busy ${pct(d.machineBusy)} of ${os.cpus().length} cores${audit}`);
    const cpuRows = [...d.cpu].sort((a, b) => b.seconds - a.seconds);
    const other = otherCpu(d);
    if (other !== undefined) cpuRows.push({ name: '(everything else on the machine)', seconds: other });
    const svcRows = cpuRows.map((c) => {
      const s = d.services.get(c.name);
      const cores = c.seconds / Math.max(0.001, d.wallSeconds);
      return [
        c.name,
        c.seconds.toFixed(2),
        cores.toFixed(2),
        s ? fmt(s.consumed) : '',
        s ? fmt(s.batchMean, 1) : '',
        s ? ms(s.handlerMeanMs) : '',
        s ? ms(s.handlerP99Ms) : '',
        s ? fmt(s.published) : '',
        s ? ms(s.outboxLagP50Ms) : '',
        s ? ms(s.outboxLagP99Ms) : '',
        s ? ms(s.eventLoopLagP99Ms) : '',
        s ? fmt(s.retries + s.deadLetters) : '',
      ];
    });
    out(table(['process', 'cpu s', 'cores', 'consumed', 'batch avg', 'handler avg', 'handler p99', 'published', 'outbox lag p50', 'outbox lag p99', 'loop lag p99', 'retries+dlq'], svcRows));
    if (other !== undefined && othersText(d.others)) out(`  everything else = kernel/interrupts +${othersText(d.others).replace(/^ \(|\)$/g, ' ')}`);
    if (d.pgBusyByApp.length > 0) {
      out(`  Postgres backends busy per sample (avg): ${d.pgBusyByApp.map((b) => `${b.app} ${b.avg.toFixed(2)}`).join(', ')}`);
      out('  top backend states (avg backends per 200 ms sample):');
      for (const t of d.pgTop.slice(0, 8)) out(`    ${t.avg.toFixed(2).padStart(5)}  ${t.app.padEnd(14)} ${t.what}`);
    }
    if (d.pgWork && d.runs > 0) {
      const w = d.pgWork;
      const per = (v: number) => fmt(v / d.runs, 1);
      const order = ['orchestrator', 'policy', 'telemetry', 'tool_gateway', 'sandbox', 'verifier', 'model_router', 'context'];
      const rank = (schema: string) => (order.includes(schema) ? order.indexOf(schema) : order.length);
      const schemas = [...w.schemas].filter(([, v]) => v.some((x) => x > 0)).sort((a, b) => rank(a[0]) - rank(b[0]));
      out(
        `  Postgres work per run (telemetry's catch-up included): ${per(w.commits)} commits` +
          (w.walBytes !== undefined ? `, ${fmt(w.walBytes / d.runs / 1024, 1)} KiB WAL` : '') +
          (w.walSyncs !== undefined ? `, ${per(w.walSyncs)} WAL fsyncs` : '') +
          '; per schema (table scans / rows inserted / updated / deleted):',
      );
      out(`    ${schemas.map(([schema, v]) => `${schema} ${per(v[0])}/${per(v[1])}/${per(v[2])}/${per(v[3])}`).join(', ')}`);
    }
    if (d.hopGaps) {
      out('  time between consecutive events of one run (event time as set by its emitter; includes the previous outbox publish, broker, fetch, queueing):');
      out(table(['event', 'emitted by', 'p50 ms', 'p99 ms'], d.hopGaps.map((g) => [g.event, g.by, ms(g.p50), ms(g.p99)]), '    '));
    }
  }

  if (state.profiles.length > 0) {
    out();
    out(`CPU profiles, full speed (self time; files in ${state.profileDir}, open in Chrome DevTools)`);
    const profiles = [...state.profiles].sort((a, b) => b.busyMs - a.busyMs);
    for (const p of profiles) {
      out(`  ${p.app.padEnd(13)} ${(p.busyMs / 1000).toFixed(1).padStart(5)} s busy: ${p.byCategory.slice(0, 6).map((c) => `${c.name} ${pct(c.ms / p.busyMs)}`).join(', ')}`);
    }
    for (const p of profiles.slice(0, 3)) {
      out(`  top functions, ${p.app}:`);
      out(table(['self', 'function', 'where', 'category'], p.topFunctions.map((f) => [pct(f.ms / p.busyMs, 1), f.name, f.where, f.category]), '    '));
    }
  }

  printFooter(out, summarizeFindings(), state.notes, state.logDir);
}

function summarizeFindings(): string[] {
  const f: string[] = [];
  const d = state.meshDiag.get('full');
  if (d) {
    const apps = d.cpu.filter((c) => (MESH_APPS as readonly string[]).includes(c.name)).sort((a, b) => b.seconds - a.seconds);
    const total = d.cpu.reduce((s, c) => s + c.seconds, 0);
    const pg = d.cpu.find((c) => c.name.startsWith('postgres'));
    if (apps[0]) f.push(`full speed: the busiest service is ${apps[0].name} (${apps[0].seconds.toFixed(1)} CPU s, ${pct(apps[0].seconds / total)} of all CPU used by the mesh, Postgres and the broker); next ${apps.slice(1, 3).map((a) => `${a.name} ${a.seconds.toFixed(1)} s`).join(', ')}`);
    if (pg) f.push(`Postgres used ${pg.seconds.toFixed(1)} CPU s (${pct(pg.seconds / total)}); the apps together ${apps.reduce((s, a) => s + a.seconds, 0).toFixed(1)} s`);
    const mFull = state.mesh.get('full');
    const cDiag = state.chainDiag.get('full');
    const cFull = state.chain.get('full');
    if (mFull && mFull.done > 0) {
      const meshCpu = d.cpu.filter((c) => !c.name.startsWith('bench')).reduce((s, c) => s + c.seconds, 0);
      const perRun = (meshCpu / mFull.done) * 1000;
      let text = `CPU per intent at full speed: mesh ${perRun.toFixed(1)} ms (apps + Postgres + broker), i.e. a ceiling of ~${fmt((CORES * 1000) / perRun)} intents/s on ${CORES} cores`;
      if (cDiag && cFull && cFull.done > 0) {
        const chainPer = (cDiag.cpu.filter((c) => !c.name.startsWith('bench')).reduce((s, c) => s + c.seconds, 0) / cFull.done) * 1000;
        text += `; chain ${chainPer.toFixed(2)} ms per message (relays + broker): the mesh spends ${fmt(perRun / chainPer)}x more CPU per message`;
      }
      f.push(text);
    }
    const other = otherCpu(d);
    if (d.machineBusy !== undefined) f.push(`machine CPU busy ${pct(d.machineBusy)} during the full-speed phase${d.machineBusy > 0.9 ? ': the mesh is CPU-bound on this machine' : ''}${other !== undefined ? ` (${other.toFixed(1)} CPU s of it outside the measured processes: kernel, other programs)` : ''}`);
    const lag = [...d.services].filter(([, s]) => Number.isFinite(s.outboxLagP99Ms)).sort((a, b) => b[1].outboxLagP99Ms - a[1].outboxLagP99Ms);
    if (lag[0]) f.push(`highest outbox publish lag p99: ${lag.slice(0, 3).map(([a, s]) => `${a} ${ms(s.outboxLagP99Ms)} ms`).join(', ')}`);
    const hops = (d.hopGaps ?? []).filter((g) => Number.isFinite(g.p50)).sort((a, b) => b.p50 - a.p50);
    if (hops[0]) f.push(`slowest steps (p50): ${hops.slice(0, 3).map((h) => `${h.event} by ${h.by} ${ms(h.p50)} ms`).join(', ')}`);
  }
  return f;
}

// ------------------------------------------------------------------------------------ main

async function main(): Promise<void> {
  await prepare(log, CONFIG.skipBuild, state);
  if (CONFIG.only === 'mesh') {
    log(`BENCH_ONLY=mesh: no chain measurement; its max is taken as ${CONFIG.chainMax} msg/s (BENCH_CHAIN_MAX)`);
    state.notes.push(`chain not measured in this run (BENCH_ONLY=mesh); rates derived from BENCH_CHAIN_MAX=${CONFIG.chainMax}`);
  } else await runChain();
  if (CONFIG.only === 'chain') state.notes.push('mesh not measured in this run (BENCH_ONLY=chain)');
  else await runMesh(CONFIG.only === 'mesh' ? CONFIG.chainMax! : state.chain.get('full')!.throughput);
}

session.run(main, report);
