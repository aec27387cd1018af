/**
 * What the mesh benchmarks (`npm run bench`, `npm run bench:workflow`) share: configuration,
 * logging and the global time limit, building the apps, the machine header, the bare kafkajs
 * relay chain (the baseline) and the distributed mesh, each started and stopped the same way.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Client } from 'pg';
import { TOPIC_REGISTRY } from '@govmesh/contracts';
import { generateKeyPair, loadPrivateKey, type GeneratedKeyPair } from '@govmesh/signing';
import { adminDatabaseUrl, createScratchDatabase, DistributedMesh, type AgentSigningKey, type MeshApp, type ScratchDatabase } from '@govmesh/testing';
import { startTestBroker, type TestBroker } from '../kafka-test-broker';
import type { RelayConfig } from './chain-relays';
import { Cleanups, withTimeout } from './cleanup';
import { cpuDelta, cpuSnapshot, findAppPids, type CpuGroup } from './probes';
import { pct, sleep } from './stats';

export const ROOT = resolve(__dirname, '../..');
export const CORES = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;

export function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  const v = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number (got "${raw}")`);
  return v;
}

/** `BENCH_MESH_<VAR>=value` environment entries as `{ <VAR>: value }`: what every mesh app gets on top of its own. */
export function meshEnvFromBenchEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env)
      .filter(([k, v]) => k.startsWith('BENCH_MESH_') && v !== undefined)
      .map(([k, v]) => [k.slice('BENCH_MESH_'.length), v as string]),
  );
}

// ------------------------------------------------------------------------------------ session: logging, time limit, cleanup

export type Log = (line: string) => void;

/** One benchmark run: its clock, log, global time limit and everything to undo on exit. */
export class BenchSession {
  readonly t0 = Date.now();
  readonly cleanups: Cleanups;
  private finished = false;

  constructor(readonly timeLimitS: number) {
    this.cleanups = new Cleanups(this.log);
  }

  readonly out = (line = ''): void => {
    process.stdout.write(`${line}\n`);
  };

  readonly log: Log = (line) => this.out(`[${((Date.now() - this.t0) / 1000).toFixed(1).padStart(6)}s] ${line}`);

  remainingMs(): number {
    return this.timeLimitS * 1000 - (Date.now() - this.t0);
  }

  /** A drain timeout that leaves `reserveMs` of the global budget for what follows. */
  boundedTimeout(wantedMs: number, reserveMs = 60000): number {
    return Math.max(5000, Math.min(wantedMs, this.remainingMs() - reserveMs));
  }

  get trackedPids(): Set<number> {
    return this.cleanups.pids;
  }

  onCleanup(name: string, fn: () => Promise<unknown>): () => Promise<void> {
    return this.cleanups.add(name, fn);
  }

  /**
   * Runs `main` under the global time limit and Ctrl-C/SIGTERM, cleans up on every path, then
   * prints the report (partial, with the reason, when the run did not complete). Exit codes: 0
   * completed, 1 error, 2 time limit, 130/143 signals.
   */
  run(main: () => Promise<void>, report: (partial: string | undefined) => void): void {
    const abort = async (reason: string, code: number): Promise<never> => {
      if (!this.finished) {
        this.finished = true;
        this.log(`stopping: ${reason}`);
        try {
          report(reason);
        } catch (err) {
          this.log(`report failed: ${(err as Error).message}`);
        }
      }
      await withTimeout(this.cleanups.runAll(), 60000, 'cleanup').catch((err) => this.log((err as Error).message));
      process.exit(code);
    };
    const limit = setTimeout(() => void abort(`global time limit of ${this.timeLimitS} s reached`, 2), this.timeLimitS * 1000);
    process.once('SIGINT', () => void abort('interrupted (SIGINT)', 130));
    process.once('SIGTERM', () => void abort('terminated (SIGTERM)', 143));
    main()
      .then(async () => {
        clearTimeout(limit);
        this.finished = true;
        this.log('done; cleaning up');
        await withTimeout(this.cleanups.runAll(), 60000, 'cleanup').catch((err) => this.log((err as Error).message));
        report(undefined);
        process.exit(0);
      })
      .catch((err) => void abort(`failed: ${(err as Error).stack ?? err}`, 1));
  }
}

// ------------------------------------------------------------------------------------ setup

export function buildApps(skip: boolean, log: Log): void {
  if (skip) {
    log('BENCH_SKIP_BUILD=1: using the existing dist/apps bundles');
    DistributedMesh.assertBuilt();
    return;
  }
  log('building the apps (nx run-many -t build --projects=tag:type:app; cached when unchanged)');
  const nxPackage = require.resolve('nx/package.json', { paths: [ROOT] });
  const bin = (JSON.parse(readFileSync(nxPackage, 'utf8')) as { bin: Record<string, string> }).bin['nx'];
  execFileSync(process.execPath, [join(dirname(nxPackage), bin), 'run-many', '-t', 'build', '--projects=tag:type:app', '--output-style=static'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, NX_DAEMON: 'false' },
    timeout: 300000,
  });
  DistributedMesh.assertBuilt();
}

/** The first thing a mesh benchmark does: the machine header and notes into `report`, then the apps built. */
export async function prepare(log: Log, skipBuild: boolean, report: { machine: string[]; notes: string[] }): Promise<void> {
  const machine = await describeMachine(log);
  report.machine = machine.lines;
  report.notes.push(...machine.notes);
  buildApps(skipBuild, log);
}

/** Machine, node, kafkajs and Postgres lines for the report header, and a note when the machine is busy before the run. */
export async function describeMachine(log: Log): Promise<{ lines: string[]; notes: string[] }> {
  const cpus = os.cpus();
  let pg = 'unknown';
  const admin = new Client({ connectionString: adminDatabaseUrl(), connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
    const [{ version }] = (await admin.query<{ version: string }>('SELECT version()')).rows;
    const settings = (await admin.query<{ name: string; setting: string }>(`SELECT name, setting FROM pg_settings WHERE name IN ('synchronous_commit', 'fsync', 'max_connections', 'shared_buffers')`)).rows;
    pg = `${version.split(' on ')[0]}; ${settings.map((s) => `${s.name}=${s.setting}`).join(', ')}`;
  } catch (err) {
    throw new Error(`the benchmark needs Postgres at ${adminDatabaseUrl()} (set TEST_DATABASE_ADMIN_URL): ${(err as Error).message}`);
  } finally {
    await admin.end().catch(() => undefined);
  }
  const kafkajs = (JSON.parse(readFileSync(require.resolve('kafkajs/package.json'), 'utf8')) as { version: string }).version;
  const lines = [
    `machine:  nproc=${CORES}, ${cpus[0]?.model ?? 'unknown cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.platform()} ${os.release()}`,
    `node:     ${process.version}, kafkajs ${kafkajs}`,
    `postgres: ${pg} (127.0.0.1, shared by all seven services, same machine)`,
    'broker:   librdkafka mock cluster (tools/kafka-test-broker), 1 in-memory broker on 127.0.0.1, one instance for the chain and a',
    '          fresh one for the mesh. Its figures are relative (mesh vs chain on the same broker), not Kafka performance.',
  ];
  for (const line of lines) log(line);
  const notes: string[] = [];
  const idle = await machineBusyOver(2000);
  if (idle.busy !== undefined && idle.busy > 0.15) {
    const note = `the machine was ${pct(idle.busy)} busy before the benchmark started${othersText(idle.others)}: the figures below may be disturbed`;
    notes.push(note);
    log(`WARNING ${note}`);
  }
  return { lines, notes };
}

export async function machineBusyOver(windowMs: number): Promise<{ busy?: number; others: Array<{ comm: string; seconds: number }> }> {
  const a = cpuSnapshot([{ name: 'bench', pids: [process.pid] }]);
  await sleep(windowMs);
  const d = cpuDelta(a, cpuSnapshot([{ name: 'bench', pids: [process.pid] }]));
  return { busy: d.machineBusy, others: d.others };
}

export function othersText(others: Array<{ comm: string; seconds: number }>): string {
  const top = others.filter((o) => o.seconds >= 0.05).slice(0, 4);
  return top.length ? ` (top other processes: ${top.map((o) => `${o.comm} ${o.seconds.toFixed(2)} s`).join(', ')})` : '';
}

/** The end of a report: findings, notes and where the mesh's logs are. */
export function printFooter(out: (line?: string) => void, findings: string[], notes: string[], logDir: string | undefined): void {
  if (findings.length > 0) {
    out();
    out('Findings');
    for (const f of findings) out(`  - ${f}`);
  }
  for (const n of notes) out(`NOTE: ${n}`);
  if (logDir) out(`mesh logs: ${logDir}`);
  out();
}

/** CPU seconds the machine spent outside the measured processes (kernel, other programs) during a phase. */
export function otherCpu(d: { wallSeconds: number; machineBusy?: number; cpu: Array<{ seconds: number }> }): number | undefined {
  if (d.machineBusy === undefined) return undefined;
  return Math.max(0, d.machineBusy * CORES * d.wallSeconds - d.cpu.reduce((s, c) => s + c.seconds, 0));
}

/**
 * The key the bench signs its intents with, as an agent signs them (docs/signing.md): an Ed25519
 * pair for a version of `agentId` that the bench registers on the mesh with its operator key.
 */
export function benchAgent(agentId: string, version: string): { pair: GeneratedKeyPair; key: AgentSigningKey } {
  const pair = generateKeyPair();
  return { pair, key: { agentId, version, publicKey: pair.publicKey, privateKey: loadPrivateKey(pair.privateKeySeed) } };
}

// ------------------------------------------------------------------------------------ the bare relay chain

/** Event types of one run of the default workflow (and of bench:workflow's) in flow order, with the service that emits each: 12 hops. */
export const RUN_FLOW: ReadonlyArray<readonly [type: string, emitter: string]> = [
  ['govmesh.intent.submitted.v1', 'bench publisher'],
  ['govmesh.intent.decided.v1', 'policy'],
  ['govmesh.context.requested.v1', 'orchestrator'],
  ['govmesh.context.retrieved.v1', 'context'],
  ['govmesh.model.requested.v1', 'orchestrator'],
  ['govmesh.model.completed.v1', 'model-router'],
  ['govmesh.action.proposed.v1', 'orchestrator'],
  ['govmesh.action.decided.v1', 'policy'],
  ['govmesh.tool.requested.v1', 'orchestrator'],
  ['govmesh.tool.executed.v1', 'tool-gateway'],
  ['govmesh.verification.requested.v1', 'orchestrator'],
  ['govmesh.verification.completed.v1', 'verifier'],
  ['govmesh.run.completed.v1', 'orchestrator'],
];
/** Which mesh service performs hop i (consume topic i, produce topic i+1) of one intent's flow. */
export const HOP_OWNER: readonly string[] = RUN_FLOW.slice(1).map(([, emitter]) => emitter);
export const CHAIN_PARTITIONS = 6;
export const CHAIN_CONCURRENCY = 3;

export const chainTopic = (i: number): string => `bench.chain.${String(i).padStart(2, '0')}`;

/** Relays per child process: `services` groups the hops like the mesh's services (HOP_OWNER), a number spreads them round-robin. */
export function chainLayout(procs: string, hops = HOP_OWNER.length): Array<{ name: string; hops: number[] }> {
  if (procs === 'services') {
    const byOwner = new Map<string, number[]>();
    HOP_OWNER.slice(0, hops).forEach((owner, hop) => byOwner.set(owner, [...(byOwner.get(owner) ?? []), hop]));
    return [...byOwner].map(([name, hs]) => ({ name, hops: hs }));
  }
  const n = Math.max(1, Math.min(hops, Math.round(Number(procs)) || 1));
  return Array.from({ length: n }, (_, p) => ({ name: `relays-${p + 1}`, hops: Array.from({ length: hops }, (_, h) => h).filter((h) => h % n === p) }));
}

function forkRelays(session: BenchSession, name: string, config: RelayConfig): { child: ChildProcess; ready: Promise<number> } {
  const child = fork(join(__dirname, 'chain-relays.ts'), [], {
    cwd: ROOT,
    execArgv: ['-r', '@swc-node/register'],
    env: { ...process.env, BENCH_RELAY_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  if (child.pid) session.trackedPids.add(child.pid);
  const ready = new Promise<number>((resolveReady, reject) => {
    child.on('message', (m: { type?: string; pid?: number }) => m?.type === 'ready' && resolveReady(m.pid ?? child.pid ?? 0));
    child.once('exit', (code) => reject(new Error(`relay process ${name} exited with code ${code} before it was ready`)));
  });
  return { child, ready };
}

export interface RunningChain {
  broker: TestBroker;
  /** `bench.chain.00` … : hop i consumes topics[i] and produces to topics[i + 1]. */
  topics: string[];
  /** One CPU group per relay process, then the broker. */
  cpuGroups: CpuGroup[];
  /** Stops the relays, then the broker (close the clients on it first). */
  stop(): Promise<void>;
}

/**
 * Starts the baseline: its own mock broker with hops + 1 topics and one kafkajs relay per hop
 * (chain-relays.ts) in child processes laid out by `layout`, each relay with the mesh's consumer
 * and producer settings; resolves once every relay joined its group.
 */
export async function startChain(session: BenchSession, layout: Array<{ name: string; hops: number[] }>): Promise<RunningChain> {
  const { log } = session;
  const hops = layout.reduce((n, l) => n + l.hops.length, 0);
  const topics = Array.from({ length: hops + 1 }, (_, i) => chainTopic(i));
  log(`chain: starting its own mock broker with ${topics.length} topics x ${CHAIN_PARTITIONS} partitions`);
  const broker: TestBroker = await startTestBroker({ topics: topics.map((name) => ({ name, partitions: CHAIN_PARTITIONS })) });
  session.trackedPids.add(broker.pid);
  const stopBroker = session.onCleanup('chain broker', () => broker.stop());

  log(`chain: ${hops} relays in ${layout.length} child processes (${layout.map((l) => `${l.name}: hops ${l.hops.join(',')}`).join('; ')})`);
  const relays = layout.map((l) =>
    forkRelays(session, l.name, {
      name: l.name,
      brokers: broker.bootstrap,
      hops: l.hops.map((h) => ({ from: topics[h], to: topics[h + 1], groupId: `bench-chain-hop-${String(h).padStart(2, '0')}` })),
      partitionsConsumedConcurrently: CHAIN_CONCURRENCY,
      sessionTimeoutMs: 6000,
      maxWaitTimeInMs: 100,
    }),
  );
  const stopRelays = session.onCleanup('chain relays', async () => {
    await Promise.all(
      relays.map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once('exit', r));
        if (child.connected) child.send({ type: 'stop' });
        const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
        await exited;
        clearTimeout(timer);
      }),
    );
  });
  const relayPids = await withTimeout(Promise.all(relays.map((r) => r.ready)), 90000, 'starting the relay processes');
  log(`chain: all relays joined their groups (pids ${relayPids.join(', ')})`);
  return {
    broker,
    topics,
    cpuGroups: [...layout.map((l, i) => ({ name: `relay ${l.name} (${l.hops.length} hop${l.hops.length > 1 ? 's' : ''})`, pids: [relayPids[i]] })), { name: 'broker (chain)', pids: [broker.pid] }],
    stop: async () => {
      await stopRelays();
      await stopBroker();
    },
  };
}

// ------------------------------------------------------------------------------------ the mesh

export interface RunningMesh {
  broker: TestBroker;
  db: ScratchDatabase;
  mesh: DistributedMesh;
  pids: Map<string, number>;
}

/**
 * Starts the distributed mesh: a fresh mock broker with every registry topic, a scratch database
 * (`prepareDb` runs on it before the apps start), and the apps from dist/apps with `env`. Every
 * pid is tracked while they start, so even a failed start leaves nothing behind.
 */
export async function startMesh(
  session: BenchSession,
  options: { label: string; apps: readonly MeshApp[]; env: Record<string, string>; prepareDb?: (db: ScratchDatabase) => Promise<void> },
): Promise<RunningMesh> {
  const { log } = session;
  log('mesh: starting a mock broker with the registry topics and a scratch database');
  const broker = await startTestBroker({ topics: TOPIC_REGISTRY.map((t) => ({ name: t.name, partitions: t.partitions })) });
  session.trackedPids.add(broker.pid);
  session.onCleanup('mesh broker', () => broker.stop());
  const db = await createScratchDatabase('bench');
  session.onCleanup('scratch database', () => db.drop());
  log(`mesh: database ${db.name}`);
  await options.prepareDb?.(db);
  const mesh = new DistributedMesh({ brokers: broker.bootstrap, databaseUrl: db.url, label: options.label, env: options.env });
  session.onCleanup('mesh processes', () => mesh.stop());
  if (Object.keys(options.env).length > 0) log(`mesh: extra env ${JSON.stringify(options.env)}`);
  log(`mesh: starting ${options.apps.length} app processes (logs in ${mesh.logDir})`);
  const startPromise = mesh.start(options.apps);
  const tracker = setInterval(() => findAppPids(options.apps).forEach((pid) => session.trackedPids.add(pid)), 500);
  try {
    await startPromise;
  } finally {
    clearInterval(tracker);
  }
  const pids = findAppPids(options.apps);
  pids.forEach((pid) => session.trackedPids.add(pid));
  log(`mesh: all apps healthy (${[...pids].map(([a, p]) => `${a}=${p}`).join(', ')})`);
  return { broker, db, mesh, pids };
}

/** CPU groups of a phase on the mesh: each app, every Postgres process, the broker and the bench. */
export function meshCpuGroups(running: RunningMesh, apps: readonly string[]): CpuGroup[] {
  return [
    ...apps.filter((a) => running.pids.has(a)).map((a) => ({ name: a, pids: [running.pids.get(a)!] })),
    { name: 'postgres (all backends)', comm: 'postgres' },
    { name: 'broker (mesh)', pids: [running.broker.pid] },
    { name: 'bench (publisher+collector)', pids: [process.pid] },
  ];
}

/**
 * Checks every app's /health (and that its process is alive) every 5 s. After 4 failures in a
 * row, or an exit, `failure` explains which app and shows the end of its log, so the phase stops
 * instead of waiting out its drain timeout behind a dead or hung service.
 */
export function watchApps(apps: readonly string[], pids: Map<string, number>, url: (app: MeshApp) => string, logDir: string): { readonly failure?: string; stop(): void } {
  const misses = new Map<string, number>();
  const state: { failure?: string; stop(): void } = { stop: () => clearInterval(timer) };
  const tailOf = (app: string) => {
    try {
      const text = readFileSync(join(logDir, `${app}.log`), 'utf8').replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');
      return text.trim().split('\n').slice(-15).map((l) => `      | ${l}`).join('\n');
    } catch {
      return '      | (no log)';
    }
  };
  const timer = setInterval(() => {
    for (const app of apps) {
      const pid = pids.get(app);
      if (pid && !existsSync(`/proc/${pid}`) && process.platform === 'linux') {
        state.failure ??= `mesh app ${app} (pid ${pid}) exited; end of ${join(logDir, `${app}.log`)}:\n${tailOf(app)}`;
        continue;
      }
      fetch(`${url(app as MeshApp)}/health`, { signal: AbortSignal.timeout(5000) })
        .then((res) => {
          if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
          misses.set(app, 0);
        })
        .catch(() => {
          const n = (misses.get(app) ?? 0) + 1;
          misses.set(app, n);
          if (n >= 4) state.failure ??= `mesh app ${app} has not answered /health for ${n * 5} s (hung or overloaded); end of ${join(logDir, `${app}.log`)}:\n${tailOf(app)}`;
        });
    }
  }, 5000);
  return state;
}

/** Waits until telemetry recorded `expected` audit records for the runs `ids`; the seconds it took, or undefined on timeout. */
export async function waitForAudit(db: ScratchDatabase, ids: string[], expected: number, timeoutMs: number): Promise<number | undefined> {
  const started = Date.now();
  for (;;) {
    try {
      const [{ n }] = await db.query<{ n: string }>('SELECT count(*) AS n FROM telemetry.audit_records WHERE run_id = ANY($1)', [ids]);
      if (Number(n) >= expected) return (Date.now() - started) / 1000;
    } catch {
      // the table appears with telemetry's migrations
    }
    if (Date.now() - started > timeoutMs) return undefined;
    await sleep(500);
  }
}
