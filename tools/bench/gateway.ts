/**
 * `npm run bench:gateway`: what the tool gateway adds to one tool call, at concurrency 10, against
 * an in-process no-op tool (`bench.noop`, a registered manifest backed by an in-process operation:
 * see gateway-noop-tool.ts), beside a direct call of the same tool function in the same run. Target
 * (issue): p99 overhead at most 5 ms. The paths take turns in rounds, so that a change in the
 * machine's load hits them alike:
 *
 *   direct     the tool's execute() called directly: the baseline;
 *   mediation  the gateway's real classes without the event transport: ToolRequestsHandler.handle
 *              in a unit of work (grant signature, agent state, argument schema, tool grant with
 *              constraints, both token buckets, execution row, effect reservation; commit), then
 *              ToolCallPerformer.perform (breaker, the call, output validation) and .record in a
 *              second unit of work, as the effect runner does; also one call at a time (b'), the
 *              cost of a call that waits for no other;
 *   full       a `govmesh.tool.requested.v1` event published on the runtime's transport to the
 *              gateway's consumer, until its `govmesh.tool.executed.v1` event is received.
 *
 * The gateway runs in this process with the real runtime (Nest module, ServiceBus, EventConsumer,
 * EffectRunner, OutboxRelay, InProcessTransport) on PGlite on disk, as `npm start` runs it, and on
 * Postgres at 127.0.0.1:5432 (a scratch database). See tools/bench/README.md.
 *
 *   npm run bench:gateway                                  # ~1.5 min on 2 cores (more when the machine is busy)
 *   npm run bench:gateway -- --n 4000 --db postgres --profile
 */
import 'reflect-metadata';
import { execFileSync } from 'node:child_process';
import { randomUUID, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as inspector from 'node:inspector';
import * as os from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Global, Module, type INestApplication, type Provider } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { getDataSourceToken } from '@nestjs/typeorm';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { PostgresQueryRunner } from 'typeorm/driver/postgres/PostgresQueryRunner';
import { issueGrant } from '@govmesh/action-grants';
import { createEvent, EventTypes, Topics, type GovmeshEvent } from '@govmesh/contracts';
import { inUnitOfWork, toOutgoingMessage, type EffectOutcome, type IncomingMessage, type InProcessTransport, type OutgoingMessage, type UnitOfWork } from '@govmesh/messaging';
import { DATABASE_TARGET, GOVMESH_CONFIG, IdentityModule, RuntimeModule, ServiceBus, ServiceKeys, TRANSPORT, validateEnvironment, type GovmeshConfig } from '@govmesh/nest-runtime';
import { childTraceparent } from '@govmesh/observability';
import { generateApiKey } from '@govmesh/signing';
import type { DatabaseTarget } from '@govmesh/persistence';
import { TOOL_GATEWAY_DATABASE, TOOL_GATEWAY_SERVICE, ToolCatalog, ToolGatewayServiceModule, type ToolDefinition, type ToolResult } from '@govmesh/service-tool-gateway';
import { adminDatabaseUrl, createScratchDatabase } from '@govmesh/testing';
import { MEDIATION_SETTINGS, type MediationSettings } from '../../libs/services/tool-gateway/src/mediation';
import { ToolCallPerformer, ToolRequestsHandler } from '../../libs/services/tool-gateway/src/tool-gateway.handlers';
import { NOOP_TOOL, plugNoopOperation, registerNoopTool } from './gateway-noop-tool';
import { BenchSession, CORES, machineBusyOver, othersText, ROOT } from './harness';
import { cpuDelta, cpuSnapshot, type CpuGroup, type CpuSnapshot } from './probes';
import { summarizeProfile, type ProfileSummary } from './profile';
import { fmt, ms, pct, sleep, summarize, table } from './stats';

// ------------------------------------------------------------------------------------ config

type Db = 'pglite' | 'postgres';
type Path = 'direct' | 'mediation' | 'mediation1' | 'full';

const OPTIONS = {
  n: { type: 'string', default: process.env['BENCH_GW_N'] ?? '1000' },
  'single-n': { type: 'string', default: process.env['BENCH_GW_SINGLE_N'] ?? '200' },
  'direct-n': { type: 'string', default: process.env['BENCH_GW_DIRECT_N'] ?? '20000' },
  warmup: { type: 'string', default: process.env['BENCH_GW_WARMUP'] ?? '100' },
  concurrency: { type: 'string', default: process.env['BENCH_GW_CONCURRENCY'] ?? '10' },
  rounds: { type: 'string', default: process.env['BENCH_GW_ROUNDS'] ?? '4' },
  db: { type: 'string', default: process.env['BENCH_GW_DB'] ?? 'pglite,postgres' },
  profile: { type: 'boolean', default: process.env['BENCH_PROFILE'] === '1' },
  'rate-limits': { type: 'string', default: process.env['BENCH_GW_RATE_LIMITS'] ?? 'on' },
  'time-limit': { type: 'string', default: process.env['BENCH_TIME_LIMIT_S'] ?? '600' },
  help: { type: 'boolean', default: false },
} as const;

const USAGE = `usage: npm run bench:gateway -- [--n 1000] [--single-n 200] [--direct-n 20000] [--warmup 100] [--concurrency 10] [--rounds 4] [--db pglite,postgres] [--profile] [--time-limit 600]
  --n            calls per gateway path (mediation, full) and database       (BENCH_GW_N)
  --single-n     mediation calls one at a time (no queueing) per database    (BENCH_GW_SINGLE_N)
  --direct-n     direct calls of the no-op per database                      (BENCH_GW_DIRECT_N)
  --warmup       calls per gateway path before measuring, not counted        (BENCH_GW_WARMUP)
  --concurrency  calls in flight on every path                               (BENCH_GW_CONCURRENCY)
  --rounds       the paths take turns this many times (n / rounds each)       (BENCH_GW_ROUNDS)
  --db           pglite (embedded, on disk), postgres (127.0.0.1:5432), or both (BENCH_GW_DB)
  --profile      CPU-profile this process during the gateway paths (slower)   (BENCH_PROFILE=1)
  --rate-limits  off: no token buckets (diagnosis: what they cost); default on (BENCH_GW_RATE_LIMITS)`;

const CONFIG = (() => {
  const { values } = parseArgs({ options: OPTIONS, allowPositionals: false });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  const int = (name: keyof typeof values, min: number): number => {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < min) throw new Error(`--${name} must be an integer ≥ ${min} (got "${String(values[name])}")\n${USAGE}`);
    return v;
  };
  const dbs = String(values.db)
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);
  if (dbs.length === 0 || dbs.some((d) => d !== 'pglite' && d !== 'postgres')) throw new Error(`--db must list pglite and/or postgres (got "${values.db}")\n${USAGE}`);
  const rounds = int('rounds', 1);
  if (values['rate-limits'] !== 'on' && values['rate-limits'] !== 'off') throw new Error(`--rate-limits must be on or off (got "${values['rate-limits']}")\n${USAGE}`);
  return {
    n: int('n', rounds),
    directN: int('direct-n', rounds),
    mediation1N: int('single-n', rounds),
    warmup: int('warmup', 0),
    concurrency: int('concurrency', 1),
    rounds,
    dbs: [...new Set(dbs)] as Db[],
    profile: values.profile === true,
    rateLimits: values['rate-limits'] === 'on',
    timeLimitS: int('time-limit', 30),
  };
})();

const TARGET_P99_OVERHEAD_MS = 5;
const AGENT = 'bench-gateway-agent';
const AGENT_VERSION = '1.0.0';
/** How long a full-path call may take before it counts as lost. */
const CALL_TIMEOUT_MS = 30_000;
/** What the effect runner's claim leaves on the lease beyond the timeout (EffectRunner's LEASE_MARGIN_MS). */
const LEASE_MARGIN_MS = 5000;
const SCHEMA = TOOL_GATEWAY_DATABASE.schema;

const session = new BenchSession(CONFIG.timeLimitS);
const { log, out } = session;

// ------------------------------------------------------------------------------------ the gateway, in this process

/** A granted request as the orchestrator sends it after policy's action decision. */
interface Prepared {
  runId: string;
  idempotencyKey: string;
  event: GovmeshEvent<typeof EventTypes.ToolRequested>;
  message: OutgoingMessage;
  incoming: IncomingMessage;
}

/** Clock readings of one full-path call (process.hrtime, ns), by where the gateway was. */
interface Stamps {
  published?: bigint;
  handleStart?: bigint;
  handleEnd?: bigint;
  handleCommitted?: bigint;
  performStart?: bigint;
  performEnd?: bigint;
  recordStart?: bigint;
  recordEnd?: bigint;
  recordCommitted?: bigint;
  received?: bigint;
}

interface Gateway {
  db: Db;
  app: INestApplication;
  transport: InProcessTransport;
  dataSource: DataSource;
  handler: ToolRequestsHandler;
  performer: ToolCallPerformer;
  bus: ServiceBus;
  tool: ToolDefinition;
  grantKey: KeyObject;
  /** Full-path calls waiting for their tool.executed, by run id. */
  pending: Map<string, (result: { status: string; code?: string; at: bigint }) => void>;
  /** Stamps of the full-path calls being measured, by run id. */
  stamps: Map<string, Stamps>;
  /** Postgres: the server processes of the scratch database (their CPU is the database's). */
  backendPids(): Promise<number[]>;
  startupMs: number;
}

const clock = () => process.hrtime.bigint();
const msBetween = (a: bigint | undefined, b: bigint | undefined): number | undefined => (a === undefined || b === undefined ? undefined : Number(b - a) / 1e6);

/**
 * The runtime module of a process (RuntimeModule.forRoot, unchanged for PGlite). For Postgres its
 * database target is the scratch database while the transport stays in-process: the config allows
 * DATABASE_URL only together with KAFKA_BROKERS, and the broker is not what this measures.
 */
function runtimeModule(db: Db, postgresUrl: string | undefined) {
  const runtime = RuntimeModule.forRoot({ processName: 'bench-gateway', defaultPort: 0 });
  if (db === 'pglite') return runtime;
  const isTarget = (p: Provider) => typeof p === 'object' && 'provide' in p && p.provide === DATABASE_TARGET;
  const providers = runtime.providers ?? [];
  if (!providers.some(isTarget)) throw new Error('RuntimeModule no longer provides DATABASE_TARGET: update tools/bench/gateway.ts');
  const postgres: Provider = {
    provide: DATABASE_TARGET,
    inject: [GOVMESH_CONFIG],
    useFactory: (config: GovmeshConfig): DatabaseTarget => ({ kind: 'postgres', url: postgresUrl!, poolSize: config.databasePoolSize }),
  };
  return { ...runtime, providers: providers.map((p) => (isTarget(p) ? postgres : p)) };
}

/**
 * Mediation as configured, with an agent bucket large enough never to refuse during the bench (the
 * default, 30000/min with a burst of 1000, would at full speed): each call still takes a token from
 * it and from the tool's bucket. `--rate-limits off` removes both, to see what they cost.
 */
const BENCH_MEDIATION: Partial<MediationSettings> = CONFIG.rateLimits
  ? { agentRateLimit: { perMinute: 1_000_000, burst: 100_000 } }
  : { agentRateLimit: null, toolRateLimits: { [NOOP_TOOL]: null } };

@Global()
@Module({ providers: [{ provide: MEDIATION_SETTINGS, useValue: BENCH_MEDIATION }], exports: [MEDIATION_SETTINGS] })
class BenchMediationSettings {}

async function startGateway(db: Db, dataDir: string, postgresUrl: string | undefined): Promise<Gateway> {
  const started = Date.now();
  delete process.env['KAFKA_BROKERS'];
  delete process.env['DATABASE_URL'];
  // The embedded defaults (outbox poll 1 s, pool of 10), no demo, no seeded demo data; an operator
  // key of its own, so that the runtime prints none (the bench calls the services directly).
  Object.assign(process.env, { GOVMESH_DATA_DIR: dataDir, LOG_LEVEL: 'warn', GOVMESH_DEMO: 'false', GOVMESH_SEED_DEMO_DATA: 'false', GOVMESH_BOOTSTRAP_OPERATOR_KEY: generateApiKey().key });
  validateEnvironment(process.env);

  @Module({ imports: [runtimeModule(db, postgresUrl), IdentityModule, BenchMediationSettings, ToolGatewayServiceModule] })
  class BenchGatewayApp {}

  const app = await NestFactory.create(BenchGatewayApp, { logger: ['fatal', 'error', 'warn'], abortOnError: false, bodyParser: false });
  const transport = app.get<InProcessTransport>(TRANSPORT);
  if (transport.kind !== 'in-process') throw new Error('expected the in-process transport');
  const g: Gateway = {
    db,
    app,
    transport,
    dataSource: app.get<DataSource>(getDataSourceToken(TOOL_GATEWAY_SERVICE)),
    handler: app.get(ToolRequestsHandler),
    performer: app.get(ToolCallPerformer),
    bus: app.get(ServiceBus),
    tool: undefined as unknown as ToolDefinition,
    grantKey: undefined as unknown as KeyObject,
    pending: new Map(),
    stamps: new Map(),
    backendPids: async () => [],
    startupMs: 0,
  };
  instrument(g);
  await app.init();
  g.grantKey = app.get(ServiceKeys).signingKey('grant');
  await registerNoopTool(app, AGENT);
  const tool = app.get(ToolCatalog).find(NOOP_TOOL);
  if (!tool) throw new Error(`${NOOP_TOOL} is not in the gateway's catalog after registration`);
  g.tool = tool;

  // Full-path results: the gateway's tool.executed events, off the outcomes topic.
  await transport.subscribe({
    groupId: 'bench-gateway.collector',
    topics: [Topics.outcomes],
    handleBatch: async (batch) => {
      const at = clock();
      for (const m of batch.messages) {
        if (m.headers['ce_type'] !== EventTypes.ToolExecuted || !m.value) continue;
        const e = JSON.parse(m.value.toString('utf8')) as GovmeshEvent<typeof EventTypes.ToolExecuted>;
        const resolve = g.pending.get(e.data.runId);
        if (!resolve) continue;
        g.pending.delete(e.data.runId);
        resolve({ status: e.data.status, code: e.data.reasons[0]?.code, at });
      }
    },
  });

  if (db === 'postgres') {
    const url = postgresUrl!;
    const name = new URL(url).pathname.slice(1);
    g.backendPids = async () => {
      const client = new Client({ connectionString: adminDatabaseUrl() });
      await client.connect();
      try {
        return (await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = $1', [name])).rows.map((r) => r.pid);
      } finally {
        await client.end();
      }
    };
  }
  g.startupMs = Date.now() - started;
  return g;
}

/**
 * Clock readings at the gateway's stages for the full path, taken by wrapping methods of the
 * running instances, which the consumer and the effect runner look up at each call (a few hrtime
 * reads and map lookups per batch). Set before app.init(), that is before anything is consumed.
 */
function instrument(g: Gateway): void {
  const ofUow = new WeakMap<UnitOfWork, { kind: 'handle' | 'record'; runIds: string[] }>();
  const stampAll = (runIds: readonly string[], field: keyof Stamps, at = clock()) => {
    for (const id of runIds) {
      const s = g.stamps.get(id);
      if (s) s[field] = at;
    }
  };
  const handle = g.handler.handle.bind(g.handler);
  g.handler.handle = async (batch, uow) => {
    const runIds = batch.map((c) => c.event.data.runId);
    ofUow.set(uow, { kind: 'handle', runIds });
    stampAll(runIds, 'handleStart');
    try {
      return await handle(batch, uow);
    } finally {
      stampAll(runIds, 'handleEnd');
    }
  };
  const perform = g.performer.perform.bind(g.performer);
  g.performer.perform = async (effect, ctx) => {
    stampAll([effect.payload.runId], 'performStart');
    try {
      return await perform(effect, ctx);
    } finally {
      stampAll([effect.payload.runId], 'performEnd');
    }
  };
  const record = g.performer.record.bind(g.performer);
  g.performer.record = async (results, uow) => {
    const runIds = results.map((r) => r.effect.payload.runId);
    ofUow.set(uow, { kind: 'record', runIds });
    stampAll(runIds, 'recordStart');
    try {
      return await record(results, uow);
    } finally {
      stampAll(runIds, 'recordEnd');
    }
  };
  // ServiceBus.committed (private) runs right after each commit of the consumer and of the effect
  // runner: it wakes the runner and hands the committed events to the relay.
  const bus = g.bus as unknown as { committed: (uow: UnitOfWork) => void };
  if (typeof bus.committed !== 'function') throw new Error('ServiceBus no longer has committed(uow): update tools/bench/gateway.ts');
  const committed = bus.committed.bind(g.bus);
  bus.committed = (uow) => {
    const of = ofUow.get(uow);
    if (of) stampAll(of.runIds, of.kind === 'handle' ? 'handleCommitted' : 'recordCommitted');
    committed(uow);
  };
}

function prepareRequests(g: Gateway, count: number, tag: string): Prepared[] {
  return Array.from({ length: count }, (_, i) => {
    const runId = `bench-${tag}-${randomUUID()}`;
    const args = { n: i };
    const grant = issueGrant(g.grantKey, { agentId: AGENT, agentVersion: AGENT_VERSION, tool: NOOP_TOOL, arguments: args, policyVersion: 'bench-policy' }, { runId, stepId: 'act' }, randomUUID(), new Date(), 600);
    const idempotencyKey = `${runId}:act`;
    const event = createEvent(
      EventTypes.ToolRequested,
      { runId, stepId: 'act', actionStepId: 'act', agentId: AGENT, agentVersion: AGENT_VERSION, tool: NOOP_TOOL, arguments: args, grant, idempotencyKey },
      { source: 'govmesh/orchestrator', subject: runId, correlationId: runId, traceparent: childTraceparent(undefined) },
    );
    const message = toOutgoingMessage(event);
    return { runId, idempotencyKey, event, message, incoming: { ...message, partition: 0, offset: String(i), timestamp: String(Date.now()) } };
  });
}

/** Waits until the gateway has nothing in flight: transport drained, outbox published, no effect left. */
async function settle(g: Gateway, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  while (quiet < 3) {
    if (Date.now() > deadline) throw new Error('the gateway did not settle within 30 s');
    await sleep(20);
    const [row] = (await g.dataSource.query(`SELECT (SELECT count(*) FROM "${SCHEMA}"."outbox") + (SELECT count(*) FROM "${SCHEMA}"."effects") AS n`)) as Array<{ n: string | number }>;
    quiet = g.transport.idle() && Number(row.n) === 0 ? quiet + 1 : 0;
  }
}

// ------------------------------------------------------------------------------------ the paths

interface Outcome {
  status: string;
  code?: string;
}

/** SQL the gateway sent during a path, by statement (whitespace collapsed, first 90 characters). */
type SqlStats = Map<string, { n: number; ns: bigint }>;

interface PathResult {
  sql: SqlStats;
  latencies: number[];
  outcomes: Record<string, number>;
  wallMs: number;
  /** Per stage, one value per call (mediation: 3 stages; full: 9). */
  stages: Map<string, number[]>;
  cpu: { bench: number; postgres: number; wall: number; busyWeighted: number; others: Map<string, number> };
}

const newResult = (): PathResult => ({ sql: new Map(), latencies: [], outcomes: {}, wallMs: 0, stages: new Map(), cpu: { bench: 0, postgres: 0, wall: 0, busyWeighted: 0, others: new Map() } });

function count(outcomes: Record<string, number>, o: Outcome): void {
  const key = o.status === 'succeeded' ? 'succeeded' : `${o.status}${o.code ? `:${o.code}` : ''}`;
  outcomes[key] = (outcomes[key] ?? 0) + 1;
}

function addStage(result: PathResult, name: string, value: number | undefined): void {
  if (value === undefined) return;
  const list = result.stages.get(name) ?? [];
  list.push(value);
  result.stages.set(name, list);
}

/** Where the SQL statements of the running path are counted (none: not counted). */
let sqlTarget: SqlStats | undefined;

/**
 * Counts every statement the gateway sends through TypeORM (both databases go through its Postgres
 * query runner; BEGIN and COMMIT included) with the time until its answer, while a path runs.
 */
function instrumentSql(): void {
  const keys = new Map<unknown, string>();
  const keyOf = (sql: unknown): string => {
    let key = keys.get(sql);
    if (key === undefined) {
      key = String(sql).replace(/\s+/g, ' ').replace(/"tool_gateway"\./g, '').trim().slice(0, 90);
      keys.set(sql, key);
    }
    return key;
  };
  const proto = PostgresQueryRunner.prototype as unknown as { query: (this: unknown, ...args: unknown[]) => Promise<unknown> };
  const query = proto.query;
  proto.query = async function (this: unknown, ...args: unknown[]) {
    const target = sqlTarget;
    if (!target) return query.apply(this, args);
    const t0 = clock();
    try {
      return await query.apply(this, args);
    } finally {
      const key = keyOf(args[0]);
      const entry = target.get(key) ?? { n: 0, ns: 0n };
      entry.n++;
      entry.ns += clock() - t0;
      target.set(key, entry);
    }
  };
}

/** Runs `count` calls with `concurrency` in flight, counting their SQL into `sql`; answers the wall time in ms. */
async function closedLoop(count: number, concurrency: number, call: (i: number) => Promise<void>, sql?: SqlStats): Promise<number> {
  let next = 0;
  sqlTarget = sql;
  const t0 = clock();
  try {
    await Promise.all(
      Array.from({ length: Math.min(concurrency, count) }, async () => {
        while (next < count) await call(next++);
      }),
    );
  } finally {
    sqlTarget = undefined;
  }
  return Number(clock() - t0) / 1e6;
}

/** a. The tool's own function, as the gateway's performer calls it (same definition from the catalog). */
async function runDirect(g: Gateway, calls: number, result: PathResult | undefined): Promise<void> {
  const signal = new AbortController().signal;
  const wall = await closedLoop(calls, CONFIG.concurrency, async (i) => {
    const call = { runId: 'bench-direct', executionId: 'bench-direct', idempotencyKey: `bench-direct:${i}`, signal, latencyMs: 0 };
    const t0 = clock();
    const r = await g.tool.execute(g.dataSource, { n: i }, call);
    const t1 = clock();
    if (!result) return;
    result.latencies.push(Number(t1 - t0) / 1e6);
    count(result.outcomes, { status: r.status, code: r.reasons[0]?.code });
  });
  if (result) result.wallMs += wall;
}

const CLAIM_SQL = `UPDATE "${SCHEMA}"."effects" SET status = 'in_progress', attempts = attempts + 1,
       lease_until = now() + (timeout_ms + ${LEASE_MARGIN_MS}) * interval '1 millisecond'
 WHERE key = ANY($1) AND status = 'reserved'
 RETURNING key, kind, run_id, payload, attempts, timeout_ms`;

type PerformedEffect = Parameters<ToolCallPerformer['perform']>[0];

const executedOf = (uow: UnitOfWork): Outcome | undefined => {
  const e = uow.outgoing.find((o) => o.type === EventTypes.ToolExecuted) as GovmeshEvent<typeof EventTypes.ToolExecuted> | undefined;
  return e ? { status: e.data.status, code: e.data.reasons[0]?.code } : undefined;
};

/**
 * b. One call through the gateway's own classes, no transport: the handler in a unit of work
 * (what the consumer does, without decoding the message and without the inbox), the claim of the
 * effect it reserved folded into that same transaction (the effect runner claims with this
 * statement right after the commit; folded in, the running runner never sees the row free), the
 * performer's perform with a timeout signal, and its record in a second unit of work with the
 * effect row deleted (what the runner's record does). Nothing is published: the relay's poll
 * publishes the recorded events later, and the bench drains it between rounds.
 */
async function mediatedCall(g: Gateway, r: Prepared, result: PathResult | undefined): Promise<void> {
  const t0 = clock();
  const first = await inUnitOfWork(g.dataSource, SCHEMA, TOOL_GATEWAY_SERVICE, async (uow) => {
    await g.handler.handle([{ event: r.event, message: r.incoming }], uow);
    return uow.query<{ key: string; kind: string; run_id: string; payload: PerformedEffect['payload']; attempts: number; timeout_ms: number }>(CLAIM_SQL, [[`tool:${r.idempotencyKey}`]]);
  });
  const t1 = clock();
  const [row] = first.result;
  if (!row) {
    if (result) count(result.outcomes, executedOf(first.uow) ?? { status: 'not_reserved' });
    return;
  }
  const effect: PerformedEffect = { key: row.key, kind: row.kind, runId: row.run_id, payload: row.payload, attempt: row.attempts, timeoutMs: row.timeout_ms };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), effect.timeoutMs);
  let outcome: EffectOutcome<ToolResult>;
  try {
    outcome = { ok: true, value: await g.performer.perform(effect, { key: effect.key, attempt: effect.attempt, signal: controller.signal }) };
  } catch (err) {
    outcome = { ok: false, code: 'failed', message: (err as Error).message };
  } finally {
    clearTimeout(timer);
  }
  const t2 = clock();
  const second = await inUnitOfWork(g.dataSource, SCHEMA, TOOL_GATEWAY_SERVICE, async (uow) => {
    await uow.query(`DELETE FROM ${uow.table('effects')} WHERE key = ANY($1) AND status = 'in_progress' RETURNING key`, [[effect.key]]);
    await g.performer.record([{ effect, outcome }], uow);
  });
  const t3 = clock();
  if (!result) return;
  result.latencies.push(Number(t3 - t0) / 1e6);
  count(result.outcomes, executedOf(second.uow) ?? { status: 'nothing_recorded' });
  addStage(result, 'handler transaction: checks, reservation, claim, commit', msBetween(t0, t1));
  addStage(result, 'perform: agent state read, breaker, the no-op, output validation', msBetween(t1, t2));
  addStage(result, 'record transaction: effect row, execution row, usage, outbox, commit', msBetween(t2, t3));
}

async function runMediation(g: Gateway, requests: Prepared[], result: PathResult | undefined, concurrency = CONFIG.concurrency): Promise<void> {
  const wall = await closedLoop(requests.length, concurrency, (i) => mediatedCall(g, requests[i], result), result?.sql);
  if (result) result.wallMs += wall;
  await g.bus.relay.drain();
  await settle(g);
}

/** The full path's stages, in order; they add up to the call's latency. */
const FULL_STAGES: ReadonlyArray<readonly [name: string, from: keyof Stamps, to: keyof Stamps]> = [
  ['1 delivery: transport, consumer decode + envelope schema, inbox insert, BEGIN (incl. waiting for a commit slot / connection)', 'published', 'handleStart'],
  ['2 handler: registry stamp, agent state, idempotency key, grant signature, argument schema, tool grant, token buckets, inserts, reservation', 'handleStart', 'handleEnd'],
  ['3 handler commit: outbox flush, COMMIT', 'handleEnd', 'handleCommitted'],
  ['4 effect runner: wake-up, claim UPDATE', 'handleCommitted', 'performStart'],
  ['5 perform: agent state read, breaker, the no-op, output validation', 'performStart', 'performEnd'],
  ['6 to record: runner batching, BEGIN, effect row DELETE', 'performEnd', 'recordStart'],
  ['7 record: execution row, usage upsert, tool.executed to the outbox', 'recordStart', 'recordEnd'],
  ['8 record commit: outbox flush, COMMIT', 'recordEnd', 'recordCommitted'],
  ['9 publish: relay from memory, transport, result collector', 'recordCommitted', 'received'],
];

/** c. The whole gateway: publish tool.requested on the transport, wait for its tool.executed. */
async function runFull(g: Gateway, requests: Prepared[], result: PathResult | undefined): Promise<void> {
  const wall = await closedLoop(requests.length, CONFIG.concurrency, async (i) => {
    const r = requests[i];
    const stamps: Stamps = {};
    if (result) g.stamps.set(r.runId, stamps);
    const done = new Promise<{ status: string; code?: string; at: bigint } | undefined>((resolve) => {
      const timer = setTimeout(() => {
        g.pending.delete(r.runId);
        resolve(undefined);
      }, CALL_TIMEOUT_MS);
      g.pending.set(r.runId, (v) => {
        clearTimeout(timer);
        resolve(v);
      });
    });
    stamps.published = clock();
    await g.transport.publish([r.message]);
    const got = await done;
    g.stamps.delete(r.runId);
    if (!result) return;
    if (!got) {
      count(result.outcomes, { status: 'lost', code: `no tool.executed within ${CALL_TIMEOUT_MS / 1000} s` });
      return;
    }
    stamps.received = got.at;
    result.latencies.push(Number(got.at - stamps.published) / 1e6);
    count(result.outcomes, got);
    for (const [name, from, to] of FULL_STAGES) addStage(result, name, msBetween(stamps[from], stamps[to]));
  }, result?.sql);
  if (result) result.wallMs += wall;
  await settle(g);
}

// ------------------------------------------------------------------------------------ CPU, profile

async function cpuGroups(g: Gateway): Promise<CpuGroup[]> {
  return [
    { name: 'bench', pids: [process.pid] },
    { name: 'postgres', pids: await g.backendPids() },
  ];
}

/** Adds the CPU of one measured stretch to the path's totals. */
async function measuredCpu<T>(g: Gateway, result: PathResult, work: () => Promise<T>): Promise<T> {
  const groups = await cpuGroups(g);
  const before: CpuSnapshot = cpuSnapshot(groups);
  const value = await work();
  const after = cpuSnapshot([groups[0], { name: 'postgres', pids: [...new Set([...(groups[1] as { pids: number[] }).pids, ...(await g.backendPids())])] }]);
  const d = cpuDelta(before, after);
  result.cpu.bench += d.groups.get('bench') ?? 0;
  result.cpu.postgres += d.groups.get('postgres') ?? 0;
  result.cpu.wall += d.wallSeconds;
  result.cpu.busyWeighted += (d.machineBusy ?? 0) * d.wallSeconds;
  for (const o of d.others) result.cpu.others.set(o.comm, (result.cpu.others.get(o.comm) ?? 0) + o.seconds);
  return value;
}

/** The V8 profiler of this process (the gateway, PGlite and the bench client all run here). */
class Profiler {
  private readonly session = new inspector.Session();
  private n = 0;
  readonly files = new Map<string, string[]>();

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
    this.session.connect();
  }

  private post<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    return new Promise((resolve, reject) => this.session.post(method, params, (err, result) => (err ? reject(err) : resolve(result as T))));
  }

  async around<T>(label: string, work: () => Promise<T>): Promise<T> {
    await this.post('Profiler.enable');
    await this.post('Profiler.setSamplingInterval', { interval: 500 });
    await this.post('Profiler.start');
    try {
      return await work();
    } finally {
      const { profile } = await this.post<{ profile: unknown }>('Profiler.stop');
      const name = `${label}-${++this.n}`;
      writeFileSync(join(this.dir, `${name}.cpuprofile`), JSON.stringify(profile));
      this.files.set(label, [...(this.files.get(label) ?? []), name]);
    }
  }

  /** Self time by where it was spent (govmesh libs grouped by lib), summed over the label's profiles. */
  summary(label: string): { busyMs: number; byCategory: Array<{ name: string; ms: number }>; top: ProfileSummary['topFunctions'] } | undefined {
    const parts = (this.files.get(label) ?? []).map((f) => summarizeProfile(this.dir, f, 25)).filter((s): s is ProfileSummary => s !== undefined);
    if (parts.length === 0) return undefined;
    const cats = new Map<string, number>();
    const fns = new Map<string, ProfileSummary['topFunctions'][number]>();
    for (const p of parts) {
      for (const c of p.byCategory) cats.set(regroup(c.name), (cats.get(regroup(c.name)) ?? 0) + c.ms);
      for (const f of p.topFunctions) {
        const key = `${f.name}@${f.where}`;
        const known = fns.get(key);
        fns.set(key, { ...f, category: regroup(f.category), where: f.where.replace(`${ROOT}/`, ''), ms: (known?.ms ?? 0) + f.ms });
      }
    }
    return {
      busyMs: parts.reduce((s, p) => s + p.busyMs, 0),
      byCategory: [...cats].map(([name, v]) => ({ name, ms: v })).sort((a, b) => b.ms - a.ms),
      top: [...fns.values()].sort((a, b) => b.ms - a.ms).slice(0, 15),
    };
  }
}

/** Profile categories: govmesh source files by lib, PGlite's wasm as one. */
function regroup(category: string): string {
  const lib = /\/(libs\/(?:services\/|domain\/)?[^/]+)\//.exec(category);
  if (lib) return `govmesh ${lib[1]}`;
  if (category.includes('/tools/bench/')) return 'bench client (tools/bench)';
  if (category.startsWith('wasm://')) return 'PGlite wasm (Postgres itself)';
  return category;
}

// ------------------------------------------------------------------------------------ one database

interface DbReport {
  db: Db;
  startupMs: number;
  paths: Record<Path, PathResult>;
  profile?: Partial<Record<Path, ReturnType<Profiler['summary']>>>;
}

async function benchDatabase(db: Db, profiler: Profiler | undefined): Promise<DbReport> {
  const dataDir = mkdtempSync(join(os.tmpdir(), `govmesh-bench-gateway-${db}-`));
  session.cleanups.dirs.add(dataDir);
  const removeDir = session.onCleanup(`${db} data directory`, async () => {
    rmSync(dataDir, { recursive: true, force: true });
    session.cleanups.dirs.delete(dataDir);
  });
  let dropDb: (() => Promise<void>) | undefined;
  let postgresUrl: string | undefined;
  if (db === 'postgres') {
    const scratch = await createScratchDatabase('bench_gateway');
    postgresUrl = scratch.url;
    dropDb = session.onCleanup(`scratch database ${scratch.name}`, () => scratch.drop());
    log(`postgres: scratch database ${scratch.name}`);
  }
  log(`${db}: starting the tool gateway in this process (${db === 'pglite' ? `PGlite on disk under ${dataDir}` : 'Postgres at 127.0.0.1:5432'}, in-process transport)`);
  const g = await startGateway(db, dataDir, postgresUrl);
  const stop = session.onCleanup(`${db} gateway`, () => g.app.close());
  log(`${db}: gateway up in ${g.startupMs} ms; ${NOOP_TOOL} registered (manifest ${g.tool.manifest?.operation.connector ?? '?'} operation, connection ${g.tool.connection}) and granted to ${AGENT}`);

  if (CONFIG.warmup > 0) {
    const warm = newResult();
    await runFull(g, prepareRequests(g, CONFIG.warmup, 'warm-full'), warm);
    await runMediation(g, prepareRequests(g, CONFIG.warmup, 'warm-med'), warm);
    await runDirect(g, CONFIG.warmup * 10, undefined);
    const bad = Object.entries(warm.outcomes).filter(([k]) => k !== 'succeeded');
    if (bad.length > 0) throw new Error(`${db}: warm-up calls did not all succeed: ${JSON.stringify(warm.outcomes)}`);
    log(`${db}: warm-up done (${CONFIG.warmup} full + ${CONFIG.warmup} mediation calls, all succeeded)`);
  }

  const paths: Record<Path, PathResult> = { direct: newResult(), mediation: newResult(), mediation1: newResult(), full: newResult() };
  const perRound = (total: number, round: number) => Math.floor(total / CONFIG.rounds) + (round < total % CONFIG.rounds ? 1 : 0);
  const profiled = <T>(path: Path, work: () => Promise<T>) => (profiler ? profiler.around(`${db}-${path}`, work) : work());
  for (let round = 0; round < CONFIG.rounds; round++) {
    await measuredCpu(g, paths.direct, () => runDirect(g, perRound(CONFIG.directN, round), paths.direct));
    const med = prepareRequests(g, perRound(CONFIG.n, round), `med-${round}`);
    await measuredCpu(g, paths.mediation, () => profiled('mediation', () => runMediation(g, med, paths.mediation)));
    const single = prepareRequests(g, perRound(CONFIG.mediation1N, round), `med1-${round}`);
    await measuredCpu(g, paths.mediation1, () => runMediation(g, single, paths.mediation1, 1));
    const full = prepareRequests(g, perRound(CONFIG.n, round), `full-${round}`);
    await measuredCpu(g, paths.full, () => profiled('full', () => runFull(g, full, paths.full)));
    const p = (r: PathResult) => ms(summarize(r.latencies).p99);
    log(`${db}: round ${round + 1}/${CONFIG.rounds} done; p99 so far: direct ${p(paths.direct)} ms, mediation ${p(paths.mediation)} ms (one at a time ${p(paths.mediation1)} ms), full ${p(paths.full)} ms`);
  }
  const report: DbReport = { db, startupMs: g.startupMs, paths };
  if (profiler) report.profile = { mediation: profiler.summary(`${db}-mediation`), full: profiler.summary(`${db}-full`) };
  await stop();
  if (dropDb) await dropDb();
  await removeDir();
  return report;
}

// ------------------------------------------------------------------------------------ report

const report: { header: string[]; notes: string[]; dbs: DbReport[] } = { header: [], notes: [], dbs: [] };

const PATH_LABEL: Record<Path, string> = { direct: 'a direct (baseline)', mediation: 'b mediation, no transport', mediation1: "b' mediation, one call at a time", full: 'c full gateway' };
const PATHS: readonly Path[] = ['direct', 'mediation', 'mediation1', 'full'];

function printReport(partial: string | undefined): void {
  out();
  out(`Tool gateway overhead per call: no-op tool ${NOOP_TOOL}, concurrency ${CONFIG.concurrency}, ${CONFIG.rounds} interleaved rounds${partial ? ` (PARTIAL: ${partial})` : ''}`);
  for (const line of report.header) out(`  ${line}`);
  if (report.dbs.length === 0) return;
  const rows: string[][] = [];
  const json: string[] = [];
  for (const r of report.dbs) {
    const direct = summarize(r.paths.direct.latencies);
    for (const path of PATHS) {
      const p = r.paths[path];
      const s = summarize(p.latencies);
      const perSecond = p.latencies.length / (p.wallMs / 1000);
      const overhead = path === 'direct' ? undefined : { p50: s.p50 - direct.p50, p99: s.p99 - direct.p99, mean: s.mean - direct.mean };
      const n = p.latencies.length || 1;
      const cpuBench = (p.cpu.bench * 1000) / n;
      const cpuPg = (p.cpu.postgres * 1000) / n;
      rows.push([
        r.db,
        PATH_LABEL[path],
        String(s.n),
        fmt(perSecond),
        path === 'direct' ? fmt(s.p50 * 1000, 1) + ' µs' : ms(s.p50),
        path === 'direct' ? fmt(s.p99 * 1000, 1) + ' µs' : ms(s.p99),
        path === 'direct' ? fmt(s.mean * 1000, 1) + ' µs' : ms(s.mean),
        ms(s.max),
        overhead ? ms(overhead.p50) : '-',
        overhead ? ms(overhead.p99) : '-',
        overhead ? (overhead.p99 <= TARGET_P99_OVERHEAD_MS ? 'yes' : 'NO') : '-',
        fmt(cpuBench, 3),
        r.db === 'postgres' ? fmt(cpuPg, 3) : '-',
      ]);
      json.push(
        JSON.stringify({
          bench: 'gateway',
          db: r.db,
          path,
          concurrency: path === 'mediation1' ? 1 : CONFIG.concurrency,
          n: s.n,
          callsPerSec: Number(perSecond.toFixed(1)),
          p50Ms: Number(s.p50.toFixed(4)),
          p99Ms: Number(s.p99.toFixed(4)),
          meanMs: Number(s.mean.toFixed(4)),
          maxMs: Number(s.max.toFixed(3)),
          ...(overhead ? { overheadP50Ms: Number(overhead.p50.toFixed(3)), overheadP99Ms: Number(overhead.p99.toFixed(3)), overheadMeanMs: Number(overhead.mean.toFixed(3)), targetP99OverheadMs: TARGET_P99_OVERHEAD_MS, metTarget: overhead.p99 <= TARGET_P99_OVERHEAD_MS } : {}),
          cpuMsPerCall: Number(cpuBench.toFixed(3)),
          ...(r.db === 'postgres' ? { postgresCpuMsPerCall: Number(cpuPg.toFixed(3)) } : {}),
          machineBusy: p.cpu.wall > 0 ? Number((p.cpu.busyWeighted / p.cpu.wall).toFixed(3)) : null,
          outcomes: p.outcomes,
        }),
      );
    }
  }
  out();
  out(
    table(
      ['db', 'path', 'calls', 'calls/s', 'p50', 'p99', 'mean', 'max ms', 'overhead p50 ms', 'overhead p99 ms', `p99 overhead ≤ ${TARGET_P99_OVERHEAD_MS} ms`, 'cpu ms/call', 'postgres cpu ms/call'],
      rows,
    ),
  );
  out('  (p50/p99/mean in ms unless marked µs; overhead = the path minus direct, at the same quantile; cpu = this process: gateway, PGlite and client)');

  for (const r of report.dbs) {
    for (const path of ['mediation', 'mediation1', 'full'] as const) {
      const p = r.paths[path];
      if (p.stages.size === 0) continue;
      const total = summarize(p.latencies).mean;
      out();
      out(`Where a ${path === 'full' ? 'full-gateway' : 'mediation'} call's time goes (${r.db}${path === 'mediation1' ? ', one call at a time' : `, ${CONFIG.concurrency} in flight`}; ms per call; the stages add up to the call)`);
      out(
        table(
          ['stage', 'p50', 'p99', 'mean', 'share of mean'],
          [...p.stages].map(([name, values]) => {
            const s = summarize(values);
            return [name, ms(s.p50), ms(s.p99), ms(s.mean), pct(s.mean / total)];
          }),
        ),
      );
    }
  }

  for (const r of report.dbs) {
    for (const path of ['mediation', 'mediation1', 'full'] as const) {
      const p = r.paths[path];
      const calls = p.latencies.length;
      if (p.sql.size === 0 || calls === 0) continue;
      const all = [...p.sql].map(([sql, e]) => ({ sql, n: e.n, ms: Number(e.ns) / 1e6 }));
      const statements = all.reduce((s, e) => s + e.n, 0);
      const commits = all.filter((e) => e.sql === 'COMMIT').reduce((s, e) => s + e.n, 0);
      const totalMs = all.reduce((s, e) => s + e.ms, 0);
      out();
      out(
        `SQL of ${path === 'full' ? 'the full gateway' : path === 'mediation' ? `mediation, ${CONFIG.concurrency} in flight` : 'mediation, one at a time'} (${r.db}): ${fmt(statements / calls, 1)} statements and ${fmt(commits / calls, 2)} commits per call; ` +
          `${fmt(totalMs / calls, 2)} ms per call summed over its statements' round trips (concurrent ones overlap)`,
      );
      out(
        table(
          ['statement (first 90 characters)', 'per call', 'mean ms', 'ms per call', 'share'],
          all
            .sort((a, b) => b.ms - a.ms)
            .slice(0, 14)
            .map((e) => [e.sql, fmt(e.n / calls, 2), ms(e.ms / e.n), ms(e.ms / calls), pct(e.ms / totalMs)]),
        ),
      );
    }
  }

  out();
  out('Machine during the measured paths (figures taken under whatever else runs on this machine)');
  for (const r of report.dbs) {
    for (const path of PATHS) {
      const c = r.paths[path].cpu;
      if (c.wall < 0.5) {
        out(`  ${r.db} ${path}: ${fmt(c.wall, 2)} s, too short to read the machine's load`);
        continue;
      }
      const others = [...c.others].map(([comm, seconds]) => ({ comm, seconds })).sort((a, b) => b.seconds - a.seconds);
      const otherSeconds = others.reduce((s, o) => s + o.seconds, 0);
      out(
        `  ${r.db} ${path}: ${fmt(c.wall, 1)} s, machine ${pct(c.busyWeighted / c.wall)} busy of ${CORES} cores; this process ${pct(c.bench / c.wall / CORES)}` +
          `${r.db === 'postgres' ? `, its Postgres backends ${pct(c.postgres / c.wall / CORES)}` : ''}, other processes ${pct(otherSeconds / c.wall / CORES)}${othersText(others)}`,
      );
      if (otherSeconds / c.wall / CORES > 0.1) report.notes.push(`${r.db} ${path}: other processes used ${pct(otherSeconds / c.wall / CORES)} of the machine: its figures are disturbed; compare it with the direct baseline of the same run`);
    }
  }

  for (const r of report.dbs) {
    for (const path of ['mediation', 'full'] as const) {
      const prof = r.profile?.[path];
      if (!prof) continue;
      out();
      out(`CPU profile of this process during ${r.db} ${path} (${fmt(prof.busyMs)} ms sampled busy; self time)`);
      out(table(['where', 'ms', 'share'], prof.byCategory.slice(0, 14).map((c) => [c.name, fmt(c.ms), pct(c.ms / prof.busyMs)])));
      out(table(['function', 'where', 'ms', 'share'], prof.top.map((f) => [f.name, f.where.slice(-70), fmt(f.ms), pct(f.ms / prof.busyMs)])));
    }
  }

  const found = report.dbs.flatMap(findings);
  if (found.length > 0) {
    out();
    out('Findings');
    for (const f of found) out(`  - ${f}`);
  }
  for (const note of report.notes) out(`NOTE: ${note}`);
  out();
  for (const line of json) out(line);
  out();
}

/** The statements of a path by total time, with their count and mean per call. */
function sqlOf(p: PathResult): Array<{ sql: string; perCall: number; meanMs: number; msPerCall: number }> {
  const calls = p.latencies.length || 1;
  return [...p.sql].map(([sql, e]) => ({ sql, perCall: e.n / calls, meanMs: Number(e.ns) / 1e6 / e.n, msPerCall: Number(e.ns) / 1e6 / calls })).sort((a, b) => b.msPerCall - a.msPerCall);
}

/** What the figures of one database say, in a few lines. */
function findings(r: DbReport): string[] {
  const lines: string[] = [];
  const direct = summarize(r.paths.direct.latencies);
  const full = r.paths.full;
  const s = summarize(full.latencies);
  if (s.n === 0) return lines;
  const perSecond = s.n / (full.wallMs / 1000);
  const overheadP99 = s.p99 - direct.p99;
  lines.push(`${r.db}: full gateway p99 overhead ${ms(overheadP99)} ms (p50 ${ms(s.p50 - direct.p50)} ms) at concurrency ${CONFIG.concurrency}: the ${TARGET_P99_OVERHEAD_MS} ms target is ${overheadP99 <= TARGET_P99_OVERHEAD_MS ? 'met' : 'NOT met'}`);
  lines.push(
    `${r.db}: ${CONFIG.concurrency} calls in flight in a closed loop wait for each other: ${CONFIG.concurrency} / ${fmt(perSecond)} calls/s = ${ms((CONFIG.concurrency / perSecond) * 1000)} ms per call (measured mean ${ms(s.mean)} ms); ` +
      `one call alone through the gateway's classes (b') takes ${ms(summarize(r.paths.mediation1.latencies).p50)} ms at p50`,
  );
  const stages = [...full.stages].map(([name, values]) => ({ name, mean: summarize(values).mean })).sort((a, b) => b.mean - a.mean);
  if (stages.length > 0) lines.push(`${r.db}: largest stages of the full path (mean): ${stages.slice(0, 3).map((st) => `${st.name.split(':')[0]} ${ms(st.mean)} ms`).join(', ')} of ${ms(s.mean)} ms`);
  const calls = s.n;
  const statements = [...full.sql.values()].reduce((sum, e) => sum + e.n, 0) / calls;
  const commits = (full.sql.get('COMMIT')?.n ?? 0) / calls;
  const top = sqlOf(full)[0];
  if (top) lines.push(`${r.db}: the full path sends ${fmt(statements, 1)} SQL statements and ${fmt(commits, 2)} commits per call (batches share them); the most time goes to \`${top.sql.slice(0, 60)}…\` (${ms(top.meanMs)} ms each)`);
  const waited = sqlOf(r.paths.mediation).sort((a, b) => b.meanMs - a.meanMs)[0];
  if (waited) lines.push(`${r.db}: unbatched at concurrency ${CONFIG.concurrency} (b), the slowest statement is \`${waited.sql.slice(0, 60)}…\` at ${ms(waited.meanMs)} ms on average`);
  const cpu = (full.cpu.bench * 1000) / calls;
  const pg = (full.cpu.postgres * 1000) / calls;
  lines.push(`${r.db}: CPU per full call: this process ${ms(cpu)} ms${r.db === 'postgres' ? ` + its Postgres backends ${ms(pg)} ms` : ' (PGlite included)'}`);
  return lines;
}

// ------------------------------------------------------------------------------------ main

async function describe(): Promise<void> {
  const cpus = os.cpus();
  const pglite = (JSON.parse(readFileSync(join(ROOT, 'node_modules/@electric-sql/pglite/package.json'), 'utf8')) as { version: string }).version;
  report.header.push(`machine:  nproc=${CORES}, ${cpus[0]?.model ?? 'unknown cpu'}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at start`);
  report.header.push(`node:     ${process.version}; PGlite ${pglite} (embedded, on disk, in this process)`);
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const changed = git('status', '--porcelain', '--untracked-files=no').split('\n').filter(Boolean).length;
    report.header.push(`code:     ${git('rev-parse', '--short', 'HEAD')}${changed ? ` with uncommitted changes in ${changed} files` : ''}`);
  } catch {
    // not a git checkout
  }
  if (CONFIG.dbs.includes('postgres')) {
    const admin = new Client({ connectionString: adminDatabaseUrl(), connectionTimeoutMillis: 5000 });
    try {
      await admin.connect();
      const [{ version }] = (await admin.query<{ version: string }>('SELECT version()')).rows;
      const settings = (await admin.query<{ name: string; setting: string }>(`SELECT name, setting FROM pg_settings WHERE name IN ('synchronous_commit', 'fsync', 'shared_buffers')`)).rows;
      report.header.push(`postgres: ${version.split(' on ')[0]}; ${settings.map((s) => `${s.name}=${s.setting}`).join(', ')} (127.0.0.1, pool of 10)`);
    } catch (err) {
      throw new Error(`--db postgres needs Postgres at ${adminDatabaseUrl()} (set TEST_DATABASE_ADMIN_URL): ${(err as Error).message}`);
    } finally {
      await admin.end().catch(() => undefined);
    }
  }
  report.header.push(
    `calls:    per database ${CONFIG.directN} direct, ${CONFIG.n} mediation, ${CONFIG.mediation1N} mediation one at a time, ${CONFIG.n} full (after ${CONFIG.warmup} warm-up calls per gateway path),`,
    `          ${CONFIG.concurrency} in flight (but for the one-at-a-time row), in ${CONFIG.rounds} rounds of direct → mediation → one at a time → full`,
    ...(CONFIG.rateLimits ? [] : ['          --rate-limits off: NO token buckets (a diagnosis run, not the gateway as configured)']),
  );
  for (const line of report.header) log(line);
  const idle = await machineBusyOver(2000);
  if (idle.busy !== undefined && idle.busy > 0.15) {
    const note = `the machine was ${pct(idle.busy)} busy before the benchmark started${othersText(idle.others)}: the figures are taken under that load (the direct baseline runs beside the gateway in the same rounds)`;
    report.notes.push(note);
    log(`WARNING ${note}`);
  }
}

async function main(): Promise<void> {
  await describe();
  plugNoopOperation();
  instrumentSql();
  const profiler = CONFIG.profile ? new Profiler(join(ROOT, 'tmp/bench-profiles', `gateway-${new Date().toISOString().replace(/[:.]/g, '-')}`)) : undefined;
  if (profiler) log(`profiling the gateway paths; .cpuprofile files in ${profiler.dir} (profiling slows the process: compare such runs only with each other)`);
  for (const db of CONFIG.dbs) report.dbs.push(await benchDatabase(db, profiler));
}

session.run(main, printReport);
