/**
 * `npm run bench:policy`: in-process cost of one policy decision (`@govmesh/policy-engine`), for
 * the seed policy set and for a 500-policy set (the seed set plus generated per-agent and per-tool
 * policies of the kinds operators write). Warms up first, then times each decision with
 * `process.hrtime.bigint()`. Target (issue): p99 ≤ 200 µs per decision.
 *
 *   BENCH_POLICY_N=20000 npm run bench:policy     # decisions timed per row (default 20000)
 */
import * as os from 'node:os';
import {
  SEED_AGENTS,
  SEED_POLICIES,
  SEED_TOOL_PROFILES,
  decideAction,
  decideIntent,
  loadPolicyBundle,
  type ActionRequest,
  type AgentIdentity,
  type AutonomyTier,
  type Classification,
  type PolicyBundle,
  type SideEffect,
  type ToolProfile,
} from '@govmesh/policy-engine';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { fmt, summarize, table } from './stats';

const N = Number(process.env['BENCH_POLICY_N'] ?? 20_000);
if (!Number.isInteger(N) || N < 100) throw new Error(`BENCH_POLICY_N must be an integer ≥ 100 (got "${process.env['BENCH_POLICY_N']}")`);
const TARGET_P99_US = 200;

// ------------------------------------------------------------------------ a 500-policy set

const TIERS: AutonomyTier[] = ['prepare', 'execute_low', 'execute_high'];
const CLASSES: Classification[] = ['public', 'internal', 'confidential'];
const EFFECTS: SideEffect[] = ['read', 'write', 'write', 'read'];
const DOMAINS = ['crm', 'erp', 'hr', 'billing', 'tickets', 'docs', 'inventory', 'payroll', 'procurement', 'legal'];
const TEAMS = ['finance-ops', 'legal', 'support-operations', 'sales-ops', 'it-ops', 'hr-ops'];

const agents: AgentIdentity[] = Array.from({ length: 50 }, (_, i) => ({
  id: `bench-agent-${String(i).padStart(2, '0')}`,
  version: '1.0.0',
  owner: TEAMS[i % TEAMS.length],
  tier: TIERS[i % TIERS.length],
  status: 'active',
  clearance: 'confidential',
  groups: [TEAMS[i % TEAMS.length], `region-${i % 4}`],
}));

const tools: ToolProfile[] = Array.from({ length: 100 }, (_, i) => ({
  name: `${DOMAINS[i % DOMAINS.length]}.action_${String(i).padStart(2, '0')}`,
  sideEffect: EFFECTS[i % EFFECTS.length],
  classification: CLASSES[i % CLASSES.length],
}));

/** The seed set plus generated policies up to 500: per agent and tool, per tool, per agent, per group, and a few unscoped. */
function largePolicySet(): Record<string, string> {
  const policies: Record<string, string> = { ...SEED_POLICIES };
  const add = (id: string, text: string) => {
    if (Object.keys(policies).length < 500) policies[id] = text;
  };
  const invoke = 'action == Action::"InvokeTool"';
  for (let i = 0; i < 300; i++) {
    const agent = agents[i % agents.length];
    const tool = tools[(i * 7) % tools.length];
    add(
      `${agent.id}-may-${tool.name}-${i}`,
      `@description("${agent.id} may use ${tool.name} for amounts up to ${(i % 20) * 500 + 500} EUR")
permit(principal == Agent::"${agent.id}", ${invoke}, resource == Tool::"${tool.name}")
when { context has amount && context.amount <= ${(i % 20) * 500 + 500} && context has currency && context.currency == "EUR" && context.effectiveTierRank >= 2 };`,
    );
  }
  for (let i = 0; i < 80; i++) {
    const tool = tools[i];
    const team = TEAMS[i % TEAMS.length];
    add(
      `${tool.name}-large-needs-${team}`,
      `@description("Large ${tool.name} calls wait for ${team}")
@effect("require_approval")
@approvers("${team}")
permit(principal in Group::"${team}", ${invoke}, resource == Tool::"${tool.name}")
when { context has amount && context.amount > ${(i % 10) * 1000 + 1000} };`,
    );
  }
  for (let i = 0; i < 60; i++) {
    const agent = agents[i % agents.length];
    add(
      `${agent.id}-no-mail-to-${i}`,
      `@description("${agent.id} never writes to competitor-${i}.example")
forbid(principal == Agent::"${agent.id}", ${invoke}, resource is Tool)
when { context has recipientDomain && context.recipientDomain == "competitor-${i}.example" };`,
    );
  }
  for (let i = 0; i < 30; i++) {
    const tool = tools[(i * 3) % tools.length];
    add(
      `${tool.name}-frozen-accounts-${i}`,
      `@description("Frozen accounts are off limits for ${tool.name}")
@reason("account_frozen")
forbid(principal, ${invoke}, resource == Tool::"${tool.name}")
when { context has accountId && context.accountId like "frozen-${i}-*" };`,
    );
  }
  for (let i = 0; i < 20; i++) {
    const team = TEAMS[i % TEAMS.length];
    add(
      `region-${i % 4}-${team}-reads-${i}`,
      `@description("Region ${i % 4} ${team} agents may read internal data of their region")
permit(principal in Group::"region-${i % 4}", ${invoke}, resource is Tool)
when { principal.owner == "${team}" && resource.sideEffect == "read" && context.dataClassificationRank <= 1 };`,
    );
  }
  for (let i = 0; Object.keys(policies).length < 500; i++) {
    add(`contractor-${i}-no-confidential`, `forbid(principal is Agent, ${invoke}, resource is Tool) when { principal.owner == "contractor-${i}" && resource.classificationRank >= 2 };`);
  }
  return policies;
}

// ------------------------------------------------------------------------ workloads

function actionRequests(policyAgents: AgentIdentity[], policyTools: ToolProfile[], count: number): ActionRequest[] {
  return Array.from({ length: count }, (_, i) => {
    const agent = policyAgents[i % policyAgents.length];
    const tool = policyTools[(i * 7) % policyTools.length];
    const args: Record<string, unknown> = { amount: String((i * 37) % 9000), currency: i % 3 ? 'eur' : 'usd', accountId: `acc-${i}` };
    if (i % 5 === 0) args['to'] = `someone@customer-${i % 3}.example`;
    return { agentId: agent.id, agent, toolName: tool.name, tool, arguments: args, runId: `run-${i}`, ...(i % 4 === 0 ? { workflowTier: 'execute_low' as const } : {}) };
  });
}

interface Row {
  name: string;
  policies: number;
  samples: number[];
  elapsedNs: bigint;
}

function time(name: string, policies: number, decide: (i: number) => unknown, warmup = Math.min(5000, N)): Row {
  for (let i = 0; i < warmup; i++) decide(i);
  const samples = new Array<number>(N);
  const started = process.hrtime.bigint();
  for (let i = 0; i < N; i++) {
    const t0 = process.hrtime.bigint();
    decide(i);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1000;
  }
  return { name, policies, samples, elapsedNs: process.hrtime.bigint() - started };
}

function main(): void {
  const t0 = process.hrtime.bigint();
  const seed = loadPolicyBundle(SEED_POLICIES);
  const seedLoadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const t1 = process.hrtime.bigint();
  const large = loadPolicyBundle(largePolicySet());
  const largeLoadMs = Number(process.hrtime.bigint() - t1) / 1e6;
  const largeCount = Object.keys(large.policies).length;
  if (largeCount !== 500) throw new Error(`expected 500 policies, built ${largeCount}`);

  const seedRequests = actionRequests(
    SEED_AGENTS.filter((a) => a.status === 'active' && a.tier !== 'assist'),
    SEED_TOOL_PROFILES,
    64,
  );
  const largeRequests = actionRequests(agents, tools, 256);
  const intents = SEED_AGENTS.map((agent, i) => ({ agent, intent: { intentId: `intent-${i}`, task: 'Reconcile the open invoices of ACME' } }));

  const effects = (bundle: PolicyBundle, requests: ActionRequest[]) => {
    const counts: Record<string, number> = {};
    for (const r of requests) {
      const effect = decideAction(bundle, r).effect;
      counts[effect] = (counts[effect] ?? 0) + 1;
    }
    return Object.entries(counts)
      .sort()
      .map(([e, c]) => `${e} ${c}`)
      .join(', ');
  };

  // The first decision of a request key no earlier request had: Cedar parses that slice then.
  const fresh = loadPolicyBundle({ ...large.policies, 'bench-fresh-copy': 'permit(principal, action, resource) when { false };' });
  const cold = largeRequests.slice(0, 50).map((r) => {
    const s = process.hrtime.bigint();
    decideAction(fresh, r);
    return Number(process.hrtime.bigint() - s) / 1000;
  });

  // What slicing saves: Cedar on the whole preparsed 500-policy set (preparsed under its version), every attribute passed.
  const wholeSetRequests = largeRequests.map((r) => decideAction(large, r).request);

  const rows: Row[] = [
    time('decideAction, seed set', Object.keys(seed.policies).length, (i) => decideAction(seed, seedRequests[i % seedRequests.length])),
    time('decideAction, 500-policy set', largeCount, (i) => decideAction(large, largeRequests[i % largeRequests.length])),
    time('decideIntent, seed set', Object.keys(seed.policies).length, (i) => decideIntent(seed, intents[i % intents.length].agent.id, intents[i % intents.length].agent, intents[i % intents.length].intent)),
    time('decideIntent, 500-policy set', largeCount, (i) => decideIntent(large, intents[i % intents.length].agent.id, intents[i % intents.length].agent, intents[i % intents.length].intent)),
    time(
      'reference: Cedar on the whole 500 set, no slicing or trimming',
      largeCount,
      (i) => {
        const r = wholeSetRequests[i % wholeSetRequests.length];
        return cedar.statefulIsAuthorized({ principal: r.principal, action: r.action, resource: r.resource, context: r.context, entities: r.entities, preparsedPolicySetId: large.version });
      },
      Math.min(1000, N),
    ),
  ];

  console.log(`policy decision benchmark: node ${process.version}, ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, cedar ${cedar.getCedarVersion()}, ${N} timed decisions per row`);
  console.log(`bundles loaded and validated: seed (${Object.keys(seed.policies).length} policies) ${fmt(seedLoadMs, 1)} ms, 500 policies ${fmt(largeLoadMs, 0)} ms`);
  console.log(`outcomes of the workloads: seed [${effects(seed, seedRequests)}]; 500 [${effects(large, largeRequests)}]\n`);
  console.log(
    table(
      ['decision', 'policies', 'decisions/s', 'p50 µs', 'p99 µs', 'max µs', `p99 ≤ ${TARGET_P99_US} µs`],
      rows.map((r) => {
        const s = summarize(r.samples);
        const perSecond = r.samples.length / (Number(r.elapsedNs) / 1e9);
        return [r.name, String(r.policies), fmt(perSecond), fmt(s.p50, 1), fmt(s.p99, 1), fmt(s.max, 0), r.name.startsWith('reference') ? '-' : s.p99 <= TARGET_P99_US ? 'yes' : 'NO'];
      }),
    ),
  );
  const c = summarize(cold);
  console.log(`\nfirst decision of a new request key on the 500 set (Cedar parses its slice once): p50 ${fmt(c.p50, 0)} µs, max ${fmt(c.max, 0)} µs over ${c.n}`);
}

main();
