/**
 * The demo workload of `npm start`: an operator issues agent API keys, and the agents submit
 * intents through the same HTTP ingress any producer uses, followed to their results and printed
 * as a summary. Refusals (a key for a retired agent, an agent posing as another) are shown too.
 */
export interface DemoIntent {
  agentId: string;
  /** The agent whose key submits the intent, when it is not the agent itself (an impersonation attempt). */
  submittedBy?: string;
  task: string;
  input?: Record<string, unknown>;
  expect: string;
}

export const DEMO_INTENTS: DemoIntent[] = [
  { agentId: 'support-assistant', task: 'What is the status of account acc-001?', input: { accountId: 'acc-001' }, expect: 'verified' },
  { agentId: 'support-assistant', task: 'A customer asks about the balance of acc-003', expect: 'denied: acc-003 is restricted, above the agent\'s clearance' },
  { agentId: 'support-assistant', task: 'Look up account acc-999 for a caller', expect: 'failed: no such account' },
  { agentId: 'research-assistant', task: 'Summarise account acc-002', expect: 'denied: Assist tier may not use tools' },
  { agentId: 'research-assistant', submittedBy: 'support-assistant', task: 'Read account acc-001', expect: 'refused: a key acts only for its own agent' },
];

/** Agents the demo asks keys for: the retired one is refused one. */
const DEMO_KEY_HOLDERS = ['support-assistant', 'research-assistant', 'legacy-batch-bot'];

interface RunView {
  runId: string;
  status: string;
  outcome: string | null;
  reasons: Array<{ code: string; message: string }>;
  createdAt: string;
  completedAt: string | null;
}

interface Row {
  agent: string;
  outcome: string;
  ms: string;
  reason: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function call<T>(baseUrl: string, method: string, path: string, key: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

export async function runDemo(baseUrl: string, operatorKey: string, print: (line: string) => void, timeoutMs = 30000): Promise<RunView[]> {
  const rows: Row[] = [];
  const keys = new Map<string, { id: string; key: string }>();
  for (const agentId of DEMO_KEY_HOLDERS) {
    const res = await call<{ id: string; key: string; code?: string; message?: string }>(baseUrl, 'POST', '/v1/api-keys', operatorKey, { name: `demo ${agentId}`, role: 'agent', agentId });
    if (res.status === 201) keys.set(agentId, { id: res.body.id, key: res.body.key });
    else rows.push({ agent: agentId, outcome: `key refused ${res.status}`, ms: '-', reason: `${res.body.code}: ${res.body.message}` });
  }
  try {
    const submitted: Array<{ intent: DemoIntent; runId: string }> = [];
    for (const intent of DEMO_INTENTS) {
      const key = keys.get(intent.submittedBy ?? intent.agentId)!.key;
      const res = await call<{ runId: string; code?: string; message?: string }>(baseUrl, 'POST', '/v1/intents', key, { agentId: intent.agentId, task: intent.task, ...(intent.input ? { input: intent.input } : {}) });
      if (res.status === 202) submitted.push({ intent, runId: res.body.runId });
      else rows.push({ agent: intent.submittedBy ? `${intent.submittedBy} as ${intent.agentId}` : intent.agentId, outcome: `refused ${res.status}`, ms: '-', reason: `${res.body.code}: ${res.body.message}` });
    }
    const deadline = Date.now() + timeoutMs;
    const views = new Map<string, RunView>();
    while (Date.now() < deadline && views.size < submitted.length) {
      for (const s of submitted) {
        if (views.has(s.runId)) continue;
        const view = (await call<RunView>(baseUrl, 'GET', `/v1/runs/${s.runId}`, keys.get(s.intent.agentId)!.key)).body;
        if (view.status === 'completed' || view.status === 'awaiting_approval') views.set(s.runId, view);
      }
      if (views.size < submitted.length) await sleep(100);
    }
    const runRows: Row[] = submitted.map((s) => {
      const v = views.get(s.runId);
      const ms = v?.completedAt ? new Date(v.completedAt).getTime() - new Date(v.createdAt).getTime() : NaN;
      return { agent: s.intent.agentId, outcome: v ? (v.outcome ?? v.status) : 'still running', ms: Number.isNaN(ms) ? '-' : String(ms), reason: v?.reasons[0] ? `${v.reasons[0].code}: ${v.reasons[0].message}` : '' };
    });
    print('');
    print('govmesh demo: intents through all seven layers, each agent with its own API key');
    print(`${'agent'.padEnd(40)} ${'outcome'.padEnd(16)} ${'ms'.padStart(4)}  reason`);
    for (const r of [...runRows, ...rows]) print(`${r.agent.padEnd(40)} ${r.outcome.padEnd(16)} ${r.ms.padStart(4)}  ${r.reason}`);
    if (submitted[0]) print(`runs: GET ${baseUrl}/v1/runs/<runId> with an operator or the agent's key, e.g. /v1/runs/${submitted[0].runId}`);
    print('');
    return [...views.values()];
  } finally {
    // The demo's keys live only as long as the demo.
    for (const { id } of keys.values()) await call(baseUrl, 'POST', `/v1/api-keys/${id}/revoke`, operatorKey);
  }
}
