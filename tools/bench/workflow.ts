/**
 * `npm run bench:workflow`: orchestration overhead per step of a five-step workflow with no
 * human step, driven at a steady rate through the distributed mesh, beside the relay floor (a
 * bare kafkajs relay chain with the same hops, same rate) measured in the same run. Prints
 * figures; asserts no timing. See tools/bench/README.md.
 */
import type { KafkaMessage } from 'kafkajs';
import { EVENT_CATALOG, EventTypes, Topics, type EventType } from '@govmesh/contracts';
import { MESH_APPS, signedIntentCloudEvent, type DistributedMesh, type ScratchDatabase } from '@govmesh/testing';
import type { WorkflowSpec } from '@govmesh/workflow';
import { cpuDelta, cpuSnapshot, scrapeAll, serviceFigures, type CpuGroup, type CpuSnapshot, type ServiceFigures } from './probes';
import { benchAgent, BenchSession, chainLayout, envInt, HOP_OWNER, meshCpuGroups, meshEnvFromBenchEnv, otherCpu, othersText, prepare, printFooter, RUN_FLOW, startChain, startMesh, waitForAudit, watchApps } from './harness';
import { Collector, Publisher, runPhase, TopicReader, type PhaseResult, type PhaseSpec } from './load';
import { fmt, ms, pct, sleep, summarize, table } from './stats';

// ------------------------------------------------------------------------------------ config

const CONFIG = {
  rate: envInt('BENCH_WF_RATE', 10),
  seconds: envInt('BENCH_WF_SECONDS', 30),
  warmup: Math.round(envInt('BENCH_WARMUP', 20)),
  timeLimitS: envInt('BENCH_TIME_LIMIT_S', 600),
  chainProcs: process.env['BENCH_CHAIN_PROCS'] ?? 'services',
  skipBuild: process.env['BENCH_SKIP_BUILD'] === '1',
  meshEnv: meshEnvFromBenchEnv(),
};
const COUNT = Math.max(1, Math.round(CONFIG.rate * CONFIG.seconds));
const METRICS_TOKEN = CONFIG.meshEnv['GOVMESH_METRICS_TOKEN'];

const session = new BenchSession(CONFIG.timeLimitS);
const { out, log } = session;

/**
 * The workflow under test: five steps, none of them human. `route` is a branch (CEL, evaluated
 * inside the orchestrator, no Kafka hop); `act` makes the tool call `plan` proposed
 * (sandbox.lookup_account, a read policy allows for support-assistant) and takes two hops, policy's
 * decision and the gateway's execution. The hops are those of the default workflow: 12 per run.
 */
const WORKFLOW: WorkflowSpec = {
  id: 'bench-five-step',
  description: 'bench:workflow: retrieve, plan, branch on the plan, act on it, verify. No human step.',
  agents: ['support-assistant'],
  deadlineSeconds: 300,
  escalation: { levels: [{ name: 'operations', groups: ['operations'], slaSeconds: 3600 }], onExpiry: 'fail' },
  steps: [
    { id: 'retrieve', kind: 'context' },
    { id: 'plan', kind: 'model' },
    { id: 'route', kind: 'branch', cases: [{ when: 'steps.plan.proposal.kind == "tool_call"', next: 'act' }], default: 'end' },
    { id: 'act', kind: 'action', from: 'plan' },
    { id: 'verify', kind: 'verify', of: 'act' },
  ],
};
const STEP_IDS = WORKFLOW.steps.map((s) => s.id);

const { pair: AGENT_PAIR, key: AGENT } = benchAgent('support-assistant', `bench-wf-${session.t0}`);
/** A signed intent naming the workflow (`workflow` is part of the signed `data`); the chain forwards the same bytes. */
const intentMessage = (id: string) => ({
  key: id,
  value: signedIntentCloudEvent(AGENT, { intentId: id, task: 'Status of acc-001 please', input: { accountId: 'acc-001' }, workflow: WORKFLOW.id }),
});

const HOPS = HOP_OWNER.length;
const FLOW_TYPES = RUN_FLOW.map(([type]) => type as EventType);
const flowIndex = (type: EventType) => FLOW_TYPES.indexOf(type);

/**
 * The orchestrator's hand-offs in one run: it receives `from` and publishes `to`. Each is one
 * mesh hop whose owner is the orchestrator; `step` is the step it dispatches.
 */
const HANDOFFS: Array<{ step: string; label: string; from: EventType; to: EventType }> = [
  { step: 'retrieve', label: 'start run, dispatch retrieve', from: EventTypes.IntentDecided, to: EventTypes.ContextRequested },
  { step: 'plan', label: 'retrieve done, dispatch plan', from: EventTypes.ContextRetrieved, to: EventTypes.ModelRequested },
  { step: 'act', label: 'plan done, route (branch), propose act', from: EventTypes.ModelCompleted, to: EventTypes.ActionProposed },
  { step: 'act', label: 'act allowed, dispatch the tool call', from: EventTypes.ActionDecided, to: EventTypes.ToolRequested },
  { step: 'verify', label: 'act done, dispatch verify', from: EventTypes.ToolExecuted, to: EventTypes.VerificationRequested },
  { step: '(end)', label: 'verify done, complete the run', from: EventTypes.VerificationCompleted, to: EventTypes.RunCompleted },
];

/** Each step's round trip: its first command published until its reply is received by the orchestrator. */
const STEP_TRIPS: Array<{ step: string; command?: EventType; reply?: EventType }> = [
  { step: 'retrieve', command: EventTypes.ContextRequested, reply: EventTypes.ContextRetrieved },
  { step: 'plan', command: EventTypes.ModelRequested, reply: EventTypes.ModelCompleted },
  { step: 'route' },
  { step: 'act', command: EventTypes.ActionProposed, reply: EventTypes.ToolExecuted },
  { step: 'verify', command: EventTypes.VerificationRequested, reply: EventTypes.VerificationCompleted },
];

// ------------------------------------------------------------------------------------ results state

type Dist = ReturnType<typeof summarize>;

interface PhaseCpu {
  wallSeconds: number;
  machineBusy?: number;
  cpu: Array<{ name: string; seconds: number }>;
  others: Array<{ comm: string; seconds: number }>;
}

interface MeshFigures {
  result: PhaseResult;
  runs: number;
  /** Runs whose 13 events, orchestrator receive times and 5 step executions were all found. */
  complete: number;
  stepShapes: Map<string, number>;
  hops: Dist[];
  handoffs: Array<{ overhead: Dist; handler: Dist; commit: Dist; delivery: Dist; hop: Dist }>;
  overheadPooled: Dist;
  orchestratorHopPooled: Dist;
  allHopsPooled: Dist;
  perStepOverhead: Dist;
  perStepOrchestratorHops: Dist;
  steps: Array<{ total?: Dist; recorded: Dist; overhead?: Dist }>;
  cpu: PhaseCpu;
  services: Map<string, ServiceFigures>;
}

interface ChainFigures {
  result: PhaseResult;
  hops: Dist[];
  allHopsPooled: Dist;
  orchestratorPositionsPooled: Dist;
  perStepOrchestratorHops: Dist;
  cpu: PhaseCpu;
}

const state: { machine: string[]; notes: string[]; chain?: ChainFigures; mesh?: MeshFigures; logDir?: string } = { machine: [], notes: [] };

const phaseSpec = (prefix: string, drainTimeoutMs: number): PhaseSpec => ({ phase: `steady ${fmt(CONFIG.rate, CONFIG.rate % 1 ? 1 : 0)}/s`, rate: CONFIG.rate, count: COUNT, prefix, chunk: 1, drainTimeoutMs });

function phaseCpu(before: CpuSnapshot, groups: CpuGroup[]): PhaseCpu {
  const d = cpuDelta(before, cpuSnapshot(groups));
  return { wallSeconds: d.wallSeconds, machineBusy: d.machineBusy, cpu: [...d.groups].map(([name, seconds]) => ({ name, seconds })), others: d.others };
}

function describeResult(who: string, r: PhaseResult): string {
  const queue = r.latencyGrowth > 1.5 ? `, NOT keeping up (latency grew ${fmt(r.latencyGrowth, 1)}x during the phase)` : '';
  return `${who} ${r.phase}: ${r.done}/${r.count}, published at ${fmt(r.publishRate, 1)}/s (max slip ${ms(r.maxSlipMs)} ms), end to end p50 ${ms(r.p50)} ms, p99 ${ms(r.p99)} ms, max ${ms(r.max)} ms${queue}${r.timedOut ? '  (TIMED OUT)' : ''}`;
}

/** Record timestamps (ms, set by the producer at send) per key and label, from a TopicReader. */
class RecordTimes<T> {
  readonly byKey = new Map<string, Map<string, T>>();

  set(key: string, label: string, value: T): void {
    let m = this.byKey.get(key);
    if (!m) this.byKey.set(key, (m = new Map()));
    if (!m.has(label)) m.set(label, value);
  }

  get(key: string, label: string): T | undefined {
    return this.byKey.get(key)?.get(label);
  }
}

/**
 * The measuring side on one broker: the publisher, the collector of `resultTopic` (latency end to
 * end) and a reader of `recordTopics` that hands every keyed record to `onRecord` (per-hop times).
 */
async function measuringClients(
  who: 'chain' | 'mesh',
  brokers: string,
  resultTopic: string,
  recordTopics: string[],
  onRecord: (key: string, topic: string, message: KafkaMessage) => void,
): Promise<{ publisher: Publisher; collector: Collector; close: () => Promise<void> }> {
  const publisher = new Publisher(brokers, `wf-${who}`);
  const collector = new Collector(brokers, resultTopic, { label: `wf-${who}`, parseOutcome: who === 'mesh' });
  const recorder = new TopicReader(brokers, recordTopics, `wf-${who}-times`, (batch) => {
    for (const m of batch.messages) {
      const key = m.key?.toString('utf8');
      if (key) onRecord(key, batch.topic, m);
    }
  });
  const close = session.onCleanup(`${who} clients`, async () => {
    await recorder.close();
    await collector.close();
    await publisher.close();
  });
  await publisher.connect();
  await collector.start();
  await recorder.start();
  return { publisher, collector, close };
}

// ------------------------------------------------------------------------------------ the relay floor

async function runChain(): Promise<void> {
  const chain = await startChain(session, chainLayout(CONFIG.chainProcs));
  const { broker, topics } = chain;
  const times = new RecordTimes<number>();
  const { publisher, collector, close: closeClients } = await measuringClients('chain', broker.bootstrap, topics[HOPS], topics, (key, topic, m) => times.set(key, topic, Number(m.timestamp)));
  const io = { publisher, collector, topic: topics[0], message: intentMessage, log };

  log(`chain: warm-up with ${CONFIG.warmup} messages`);
  const warm = await runPhase({ phase: 'warm-up', count: CONFIG.warmup, prefix: 'wf-chain-warmup', chunk: CONFIG.warmup, drainTimeoutMs: 60000 }, io);
  if (warm.timedOut) throw new Error(`chain warm-up: only ${warm.done}/${warm.count} came through within 60 s`);
  await sleep(1000);

  const spec = phaseSpec('wf-chain', session.boundedTimeout(60000 + CONFIG.seconds * 1000));
  log(`chain: ${spec.phase} for ${CONFIG.seconds} s, ${spec.count} messages through ${HOPS} hops`);
  const groups: CpuGroup[] = [...chain.cpuGroups, { name: 'bench (publisher+collector)', pids: [process.pid] }];
  const before = cpuSnapshot(groups);
  const result = await runPhase(spec, io);
  const cpu = phaseCpu(before, groups);
  log(describeResult('chain', result));
  await sleep(500);

  const hops: number[][] = HOP_OWNER.map(() => []);
  const orchestratorPositions: number[] = [];
  const perStep: number[] = [];
  for (const id of result.ids) {
    const t = topics.map((topic) => times.get(id, topic));
    if (t.some((v) => v === undefined)) continue;
    let orchestratorSum = 0;
    for (let h = 0; h < HOPS; h++) {
      const v = t[h + 1]! - t[h]!;
      hops[h].push(v);
      if (HOP_OWNER[h] === 'orchestrator') {
        orchestratorPositions.push(v);
        orchestratorSum += v;
      }
    }
    perStep.push(orchestratorSum / STEP_IDS.length);
  }
  state.chain = {
    result,
    hops: hops.map((h) => summarize(h)),
    allHopsPooled: summarize(hops.flat()),
    orchestratorPositionsPooled: summarize(orchestratorPositions),
    perStepOrchestratorHops: summarize(perStep),
    cpu,
  };
  if (hops[0].length < result.done) state.notes.push(`chain: record timestamps of every topic found for ${hops[0].length}/${result.done} messages only`);

  await closeClients();
  await chain.stop();
  log('chain: stopped');
}

// ------------------------------------------------------------------------------------ the mesh

interface Stamp {
  /** Kafka record timestamp: when the emitter's producer sent it (epoch ms). */
  published: number;
  /** CloudEvent `time`: set by the emitter in its transaction (epoch ms). */
  emitted: number;
  id: string;
}

async function publishWorkflow(mesh: DistributedMesh): Promise<void> {
  const res = await mesh.http('orchestrator', 'POST', '/v1/workflows', { body: WORKFLOW });
  if (res.status !== 201 && res.status !== 200) throw new Error(`POST /v1/workflows answered ${res.status}: ${JSON.stringify(res.body)}`);
  const version = (res.body as { version?: number }).version;
  log(`mesh: published workflow ${WORKFLOW.id} version ${version} (${WORKFLOW.steps.map((s) => `${s.id}:${s.kind}`).join(' -> ')}) with the operator key`);
}

async function runMesh(): Promise<void> {
  const apps = [...MESH_APPS];
  const label = `bench-workflow-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  const running = await startMesh(session, { label, apps, env: CONFIG.meshEnv });
  const { broker, db, mesh, pids } = running;
  state.logDir = mesh.logDir;

  const stamps = new RecordTimes<Stamp>();
  const topics = [...new Set(FLOW_TYPES.map((t) => EVENT_CATALOG[t].topic))];
  const { publisher, collector } = await measuringClients('mesh', broker.bootstrap, Topics.results, topics, (key, _topic, m) => {
    if (!key.startsWith('wf-') || !m.value) return;
    try {
      const event = JSON.parse(m.value.toString('utf8')) as { id: string; type: string; time: string };
      stamps.set(key, event.type, { published: Number(m.timestamp), emitted: Date.parse(event.time), id: event.id });
    } catch {
      // not a CloudEvent: not one of ours
    }
  });

  await mesh.registerAgentKey(AGENT.agentId, AGENT.version, { pair: AGENT_PAIR });
  log(`mesh: registered the bench's intent signing key on ${AGENT.agentId} version ${AGENT.version} (with the bootstrap operator key)`);
  await publishWorkflow(mesh);
  const watchdog = watchApps(apps, pids, (app) => mesh.url(app), mesh.logDir);
  session.onCleanup('health watchdog', async () => watchdog.stop());
  const io = { publisher, collector, topic: Topics.intents, message: intentMessage, expectOutcome: 'verified', log, abort: () => watchdog.failure };

  log(`mesh: warm-up with ${CONFIG.warmup} intents naming ${WORKFLOW.id} (the first consumer-group joins take a few seconds)`);
  const warm = await runPhase({ phase: 'warm-up', count: CONFIG.warmup, prefix: 'wf-mesh-warmup', chunk: CONFIG.warmup, drainTimeoutMs: session.boundedTimeout(120000) }, io);
  if (warm.timedOut) throw new Error(`mesh warm-up: only ${warm.done}/${warm.count} results within the time allowed; see ${mesh.logDir}`);
  if (warm.unexpected.size > 0) throw new Error(`mesh warm-up: outcomes ${JSON.stringify(Object.fromEntries(warm.unexpected))}, expected verified; see ${mesh.logDir}`);
  const warmShapes = await stepShapes(db, warm.ids);
  const expectedShape = STEP_IDS.join(' > ');
  if (warmShapes.get(expectedShape) !== warm.done) throw new Error(`mesh warm-up: the runs' step executions were ${JSON.stringify(Object.fromEntries(warmShapes))}, expected ${expectedShape} for every run`);
  log(`mesh: warm-up done: all ${warm.count} runs verified, each executed ${expectedShape}; waiting for telemetry to record them`);
  await waitForAudit(db, warm.ids, warm.done * RUN_FLOW.length, session.boundedTimeout(60000));
  await sleep(1000);

  const spec = phaseSpec('wf-mesh', session.boundedTimeout(120000 + CONFIG.seconds * 1000, 90000));
  log(`mesh: ${spec.phase} for ${CONFIG.seconds} s, ${spec.count} intents (drain timeout ${Math.round(spec.drainTimeoutMs / 1000)} s)`);
  const urls = new Map(apps.map((app) => [app, mesh.url(app)] as [string, string]));
  const groups = meshCpuGroups(running, apps);
  const metricsBefore = await scrapeAll(urls, METRICS_TOKEN);
  const before = cpuSnapshot(groups);
  const result = await runPhase(spec, io);
  const cpu = phaseCpu(before, groups);
  const metricsAfter = await scrapeAll(urls, METRICS_TOKEN);
  log(describeResult('mesh', result));
  if (result.unexpected.size > 0) {
    const note = `mesh: outcomes other than verified: ${JSON.stringify(Object.fromEntries(result.unexpected))}`;
    state.notes.push(note);
    log(`WARNING ${note}`);
  }
  const services = new Map<string, ServiceFigures>();
  for (const app of apps) {
    const figures = serviceFigures(metricsBefore.get(app) ?? [], metricsAfter.get(app) ?? []);
    if (figures) services.set(app, figures);
  }
  // The last records of a run (run.completed) reach the recorder about when they reach the collector.
  await sleep(1000);
  state.mesh = await meshFigures(db, result, stamps, cpu, services);
}

/** How many runs executed which sequence of steps (from run_steps, in order of their executions). */
async function stepShapes(db: ScratchDatabase, ids: string[]): Promise<Map<string, number>> {
  const rows = await db.query<{ shape: string }>(
    `SELECT string_agg(step_id || CASE WHEN status = 'succeeded' THEN '' ELSE '(' || status || ')' END, ' > ' ORDER BY split_part(id, '#', 2)::int) AS shape
       FROM orchestrator.run_steps WHERE run_id = ANY($1) GROUP BY run_id`,
    [ids],
  );
  const shapes = new Map<string, number>();
  for (const r of rows) shapes.set(r.shape, (shapes.get(r.shape) ?? 0) + 1);
  return shapes;
}

async function meshFigures(db: ScratchDatabase, result: PhaseResult, stamps: RecordTimes<Stamp>, cpu: PhaseCpu, services: Map<string, ServiceFigures>): Promise<MeshFigures> {
  const ids = result.ids;
  // When the orchestrator received each event: the start of the transaction that handled it (run_timeline.at is now()).
  const received = new Map<string, number>();
  for (const r of await db.query<{ event_id: string; at: number }>(
    `SELECT event_id, min(extract(epoch FROM at) * 1000)::float8 AS at FROM orchestrator.run_timeline WHERE run_id = ANY($1) AND event_id IS NOT NULL GROUP BY event_id`,
    [ids],
  )) {
    received.set(r.event_id, Number(r.at));
  }
  const recorded = new Map<string, Map<string, number>>();
  for (const r of await db.query<{ run_id: string; step_id: string; ms: number | null }>(
    `SELECT run_id, step_id, (extract(epoch FROM ended_at - started_at) * 1000)::float8 AS ms FROM orchestrator.run_steps WHERE run_id = ANY($1)`,
    [ids],
  )) {
    if (r.ms === null) continue;
    const m = recorded.get(r.run_id) ?? new Map<string, number>();
    m.set(r.step_id, Number(r.ms));
    recorded.set(r.run_id, m);
  }
  const shapes = await stepShapes(db, ids);

  const hops: number[][] = HOP_OWNER.map(() => []);
  const handoffs = HANDOFFS.map(() => ({ overhead: [] as number[], handler: [] as number[], commit: [] as number[], delivery: [] as number[], hop: [] as number[] }));
  const trips = STEP_TRIPS.map(() => ({ total: [] as number[], recorded: [] as number[], overhead: [] as number[] }));
  const perStepOverhead: number[] = [];
  const perStepHops: number[] = [];
  let complete = 0;
  for (const id of ids) {
    const s = FLOW_TYPES.map((t) => stamps.get(id, t));
    const steps = recorded.get(id);
    if (s.some((x) => x === undefined) || !steps || steps.size !== STEP_IDS.length) continue;
    const at = (t: EventType) => s[flowIndex(t)]!;
    const recv = (t: EventType) => received.get(at(t).id);
    if (HANDOFFS.some((h) => recv(h.from) === undefined)) continue;
    complete++;
    for (let h = 0; h < HOPS; h++) hops[h].push(s[h + 1]!.published - s[h]!.published);
    let overheadSum = 0;
    let hopSum = 0;
    const overheadByStep = new Map<string, number>();
    HANDOFFS.forEach((h, i) => {
      const from = at(h.from);
      const to = at(h.to);
      const r = recv(h.from)!;
      const overhead = to.published - r;
      handoffs[i].overhead.push(overhead);
      handoffs[i].handler.push(to.emitted - r);
      handoffs[i].commit.push(to.published - to.emitted);
      handoffs[i].delivery.push(r - from.published);
      handoffs[i].hop.push(to.published - from.published);
      overheadSum += overhead;
      hopSum += to.published - from.published;
      overheadByStep.set(h.step, (overheadByStep.get(h.step) ?? 0) + overhead);
    });
    perStepOverhead.push(overheadSum / STEP_IDS.length);
    perStepHops.push(hopSum / STEP_IDS.length);
    STEP_TRIPS.forEach((t, i) => {
      if (t.command && t.reply) trips[i].total.push(recv(t.reply)! - at(t.command).published);
      const d = steps.get(t.step);
      if (d !== undefined) trips[i].recorded.push(d);
      const o = overheadByStep.get(t.step);
      if (o !== undefined) trips[i].overhead.push(o);
    });
  }
  if (complete < ids.length) state.notes.push(`mesh: all 13 event records, receive times and 5 step executions found for ${complete}/${ids.length} runs; figures are over those`);
  return {
    result,
    runs: ids.length,
    complete,
    stepShapes: shapes,
    hops: hops.map((h) => summarize(h)),
    handoffs: handoffs.map((h) => ({ overhead: summarize(h.overhead), handler: summarize(h.handler), commit: summarize(h.commit), delivery: summarize(h.delivery), hop: summarize(h.hop) })),
    overheadPooled: summarize(handoffs.flatMap((h) => h.overhead)),
    orchestratorHopPooled: summarize(handoffs.flatMap((h) => h.hop)),
    allHopsPooled: summarize(hops.flat()),
    perStepOverhead: summarize(perStepOverhead),
    perStepOrchestratorHops: summarize(perStepHops),
    steps: trips.map((t) => ({ ...(t.total.length ? { total: summarize(t.total) } : {}), recorded: summarize(t.recorded), ...(t.overhead.length ? { overhead: summarize(t.overhead) } : {}) })),
    cpu,
    services,
  };
}

// ------------------------------------------------------------------------------------ the report

const pp = (d: { p50: number; p99: number } | undefined) => [ms(d?.p50), ms(d?.p99)];
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 && Number.isFinite(a / b) ? `${fmt(a / b, 2)}x` : '-');
const short = (type: string) => type.replace(/^govmesh\.|\.v1$/g, '');

function report(partial: string | undefined): void {
  const { chain: c, mesh: m } = state;
  out();
  out('='.repeat(100));
  out(`govmesh benchmark: orchestration overhead per workflow step, beside the relay floor${partial ? `  [PARTIAL: ${partial}]` : ''}`);
  out('='.repeat(100));
  for (const line of state.machine) out(line);
  out(`workflow: ${WORKFLOW.id}: ${WORKFLOW.steps.map((s) => `${s.id} (${s.kind})`).join(' -> ')}; no human step; ${HOPS} Kafka hops per run, 6 of them the orchestrator's`);
  out(`          (route is a CEL branch evaluated inside the orchestrator's plan -> act hand-off; act takes two hops: policy's decision, the gateway's execution)`);
  out(`load:     ${fmt(CONFIG.rate, 1)} intents/s for ${CONFIG.seconds} s (${COUNT} runs), signed by ${AGENT.agentId} ${AGENT.version}, paced (latency from the scheduled send)`);
  out(`floor:    ${HOPS} bare kafkajs relays (chain-relays.ts, BENCH_CHAIN_PROCS=${CONFIG.chainProcs}), same messages, same rate, own broker, stopped before the mesh started`);
  out('times:    Kafka record timestamps (set by each producer at send), CloudEvent `time` (set by the emitter in its transaction) and');
  out('          orchestrator.run_timeline.at (Postgres now(): the start of the orchestrator transaction that handled an event); ms resolution');
  out();

  if (m || c) {
    out(`Side by side (ms; n = runs measured: workflow ${m ? `${m.complete}/${m.result.count}` : '-'}, floor ${c ? `${c.result.done}/${c.result.count}` : '-'})`);
    const rows: string[][] = [
      ['end to end (intent published -> result received, 12 hops)', ...pp(m?.result), ...pp(c?.result), ratio(m?.result.p50, c?.result.p50), ratio(m?.result.p99, c?.result.p99)],
      ['one hop, all 12 pooled (record published -> next record published)', ...pp(m?.allHopsPooled), ...pp(c?.allHopsPooled), ratio(m?.allHopsPooled.p50, c?.allHopsPooled.p50), ratio(m?.allHopsPooled.p99, c?.allHopsPooled.p99)],
      ['orchestrator hop (6 per run) / relay hop at the same positions', ...pp(m?.orchestratorHopPooled), ...pp(c?.orchestratorPositionsPooled), ratio(m?.orchestratorHopPooled.p50, c?.orchestratorPositionsPooled.p50), ratio(m?.orchestratorHopPooled.p99, c?.orchestratorPositionsPooled.p99)],
      ['per step: a run\'s 6 orchestrator hops / 5 steps (floor: same 6 hops / 5)', ...pp(m?.perStepOrchestratorHops), ...pp(c?.perStepOrchestratorHops), ratio(m?.perStepOrchestratorHops.p50, c?.perStepOrchestratorHops.p50), ratio(m?.perStepOrchestratorHops.p99, c?.perStepOrchestratorHops.p99)],
      ['OVERHEAD per dispatch: reply received -> next command published', ...pp(m?.overheadPooled), '-', '-', '-', '-'],
      ['OVERHEAD per step: a run\'s 6 dispatches / 5 steps', ...pp(m?.perStepOverhead), '-', '-', '-', '-'],
    ];
    out(table(['measure', 'workflow p50', 'p99', 'floor p50', 'p99', 'ratio p50', 'ratio p99'], rows));
    out('  The floor has no "received -> published" figure of its own: a relay forwards as soon as its fetch returns (its whole hop is above).');
    if (c) {
      const p50s = c.hops.map((h) => h.p50).filter(Number.isFinite);
      out(
        `  Relay hops differ by position (p50 ${ms(Math.min(...p50s))}-${ms(Math.max(...p50s))} ms here): each relay's empty fetch is held 100 ms and keeps a fixed phase to its upstream's,` +
          ' so per-position floor figures (the "same positions" rows) depend on that phase; the pooled and end-to-end rows do not.',
      );
    }
    out();
  }

  if (m) {
    out('Orchestrator hand-offs (ms, p50 / p99). overhead = handler + commit & publish; hop = delivery + overhead');
    const rows = HANDOFFS.map((h, i) => {
      const f = m.handoffs[i];
      const pos = flowIndex(h.to) - 1;
      const floor = c?.hops[pos];
      return [
        `${short(h.from)} -> ${short(h.to)}`,
        h.label,
        `${ms(f.overhead.p50)} / ${ms(f.overhead.p99)}`,
        `${ms(f.handler.p50)} / ${ms(f.handler.p99)}`,
        `${ms(f.commit.p50)} / ${ms(f.commit.p99)}`,
        `${ms(f.delivery.p50)} / ${ms(f.delivery.p99)}`,
        `${ms(f.hop.p50)} / ${ms(f.hop.p99)}`,
        floor ? `${ms(floor.p50)} / ${ms(floor.p99)}` : '-',
        ratio(f.hop.p50, floor?.p50),
      ];
    });
    out(table(['hand-off', 'what the orchestrator does', 'overhead', 'handler', 'commit & publish', 'delivery', 'hop', 'relay hop (same pos.)', 'hop ratio p50'], rows));
    out('  delivery: reply published -> orchestrator transaction began (broker, fetch wait, consumer queue, pool)');
    out('  handler:  transaction began -> next command emitted (inbox claim, run lock, workflow load, interpreter, CloudEvent time)');
    out('  commit & publish: command emitted -> its record published (remaining writes, commit, outbox publish)');
    out();

    out('Per step (ms, p50 / p99)');
    const stepRows = STEP_TRIPS.map((t, i) => {
      const f = m.steps[i];
      const step = WORKFLOW.steps.find((s) => s.id === t.step)!;
      const dispatches = HANDOFFS.filter((h) => h.step === t.step).length;
      return [
        t.step,
        step.kind,
        `${dispatches} / ${dispatches}`,
        f.overhead ? `${ms(f.overhead.p50)} / ${ms(f.overhead.p99)}` : '0 (inline)',
        f.total ? `${ms(f.total.p50)} / ${ms(f.total.p99)}` : 'no hop',
        `${ms(f.recorded.p50)} / ${ms(f.recorded.p99)}`,
      ];
    });
    out(table(['step', 'kind', 'dispatches / service hops', 'overhead dispatching it', 'total: command published -> reply received', 'run_steps ended - started'], stepRows));
    out('  route is pure: started and ended in the transaction that received plan\'s reply (its cost is inside the plan -> act hand-off).');
    out('  act: two round trips (policy decides, the gateway executes) and the orchestrator\'s grant -> tool hand-off between them.');
    out(`  every measured run executed: ${[...m.stepShapes].map(([shape, n]) => `${shape} (${n})`).join(', ') || '-'}`);
    out();
  }

  if (m || c) {
    out('Every hop (ms; record published -> next record published)');
    const rows = RUN_FLOW.slice(1).map(([type, by], h) => [short(type), by, ...pp(m?.hops[h]), ...pp(c?.hops[h]), ratio(m?.hops[h].p50, c?.hops[h].p50)]);
    out(table(['event', 'emitted by', 'workflow p50', 'p99', 'relay p50', 'p99', 'ratio p50'], rows));
    out();
  }

  if (m) {
    const cpuRows = [...m.cpu.cpu].sort((a, b) => b.seconds - a.seconds);
    const other = otherCpu(m.cpu);
    out(
      `Mesh CPU during the steady phase (${m.cpu.wallSeconds.toFixed(1)} s wall, machine busy ${pct(m.cpu.machineBusy)}): ` +
        cpuRows.map((r) => `${r.name} ${r.seconds.toFixed(1)} s`).join(', ') +
        (other !== undefined ? `, everything else ${other.toFixed(1)} s${othersText(m.cpu.others)}` : ''),
    );
    if (m.complete > 0) out(`  per run: ${((cpuRows.filter((r) => !r.name.startsWith('bench')).reduce((s, r) => s + r.seconds, 0) / m.result.done) * 1000).toFixed(1)} ms CPU (apps + Postgres + broker)`);
    const o = m.services.get('orchestrator');
    if (o) {
      out(
        `  orchestrator: ${fmt(o.consumed)} events consumed in ${fmt(o.batches)} batches (avg ${fmt(o.batchMean, 1)}/batch), handler avg ${ms(o.handlerMeanMs)} ms, p99 ${ms(o.handlerP99Ms)} ms; ` +
          `outbox lag (commit -> broker ack) p50 ${ms(o.outboxLagP50Ms)} ms, p99 ${ms(o.outboxLagP99Ms)} ms; loop lag p99 ${ms(o.eventLoopLagP99Ms)} ms`,
      );
    }
  }
  if (c) {
    const other = otherCpu(c.cpu);
    out(`Chain CPU during the steady phase (${c.cpu.wallSeconds.toFixed(1)} s wall, machine busy ${pct(c.cpu.machineBusy)}): ${c.cpu.cpu.map((r) => `${r.name} ${r.seconds.toFixed(1)} s`).join(', ')}${other !== undefined ? `, everything else ${other.toFixed(1)} s` : ''}`);
  }

  printFooter(out, summarizeFindings(), state.notes, state.logDir);
}

function summarizeFindings(): string[] {
  const f: string[] = [];
  const { chain: c, mesh: m } = state;
  if (!m || m.complete === 0) return f;
  const parts = HANDOFFS.map((_, i) => m.handoffs[i]);
  const mean = (pick: (h: (typeof parts)[number]) => Dist) => parts.reduce((s, h) => s + pick(h).mean, 0);
  const handler = mean((h) => h.handler);
  const commit = mean((h) => h.commit);
  const delivery = mean((h) => h.delivery);
  const total = handler + commit + delivery;
  f.push(
    `of the time a run spends in the orchestrator's 6 hand-offs (mean ${ms(total)} ms per run): delivery ${pct(delivery / total)}, handler ${pct(handler / total)}, commit & publish ${pct(commit / total)}`,
  );
  const deliveryAll = summarize(parts.map((h) => h.delivery.p50));
  f.push(
    `delivery p50 per hand-off is ${ms(Math.min(...parts.map((h) => h.delivery.p50)))}-${ms(deliveryAll.max)} ms: mostly the consumer's fetch, which the mock broker holds up to maxWaitTimeInMs (100 ms) when empty and does not wake on new data (~50 ms on average for a message arriving at a random moment)`,
  );
  const slowest = HANDOFFS.map((h, i) => ({ h, o: m.handoffs[i].overhead })).sort((a, b) => b.o.p50 - a.o.p50)[0];
  f.push(`the costliest dispatch is ${short(slowest.h.from)} -> ${short(slowest.h.to)} (${slowest.h.label}): overhead p50 ${ms(slowest.o.p50)} ms, p99 ${ms(slowest.o.p99)} ms`);
  if (c) {
    f.push(
      `per orchestrator hop the workflow takes ${ms(m.orchestratorHopPooled.p50)} ms at p50 against ${ms(c.orchestratorPositionsPooled.p50)} ms for a bare relay at the same positions ` +
        `(${ratio(m.orchestratorHopPooled.p50, c.orchestratorPositionsPooled.p50)}); end to end ${ratio(m.result.p50, c.result.p50)} at p50, ${ratio(m.result.p99, c.result.p99)} at p99`,
    );
    const worst = RUN_FLOW.slice(1)
      .map(([type, by], h) => ({ type, by, d: m.hops[h].p50 - c.hops[h].p50 }))
      .sort((a, b) => b.d - a.d)
      .slice(0, 3);
    f.push(`hops furthest above the floor (p50 difference): ${worst.map((w) => `${short(w.type)} by ${w.by} +${ms(w.d)} ms`).join(', ')}`);
  }
  if (m.cpu.machineBusy !== undefined) f.push(`machine CPU busy ${pct(m.cpu.machineBusy)} during the mesh's steady phase${m.cpu.machineBusy > 0.85 ? ': CPU-bound, the figures include waiting for a core' : ''}`);
  return f;
}

// ------------------------------------------------------------------------------------ main

// The floor first, stopped completely, then the mesh: the two never compete for the CPU.
session.run(async () => {
  await prepare(log, CONFIG.skipBuild, state);
  await runChain();
  await runMesh();
}, report);
