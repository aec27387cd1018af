/**
 * The demo workload of `npm start`: a handful of intents submitted through the same HTTP
 * ingress any producer uses, followed to their results, printed as a summary.
 */
export interface DemoIntent {
  agentId: string;
  task: string;
  input?: Record<string, unknown>;
  expect: string;
}

export const DEMO_INTENTS: DemoIntent[] = [
  { agentId: 'support-assistant', task: 'What is the status of account acc-001?', input: { accountId: 'acc-001' }, expect: 'verified' },
  { agentId: 'support-assistant', task: 'A customer asks about the balance of acc-003', expect: 'verified' },
  { agentId: 'support-assistant', task: 'Look up account acc-999 for a caller', expect: 'failed: no such account' },
  { agentId: 'research-assistant', task: 'Summarise account acc-002', expect: 'denied: Assist tier may not use tools' },
  { agentId: 'legacy-batch-bot', task: 'Close account acc-003', expect: 'denied: retired agent' },
  { agentId: 'ghost-agent', task: 'Read account acc-001', expect: 'denied: unregistered agent' },
];

interface RunView {
  runId: string;
  status: string;
  outcome: string | null;
  reasons: Array<{ code: string; message: string }>;
  createdAt: string;
  completedAt: string | null;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runDemo(baseUrl: string, print: (line: string) => void, timeoutMs = 30000): Promise<RunView[]> {
  const submitted: Array<{ intent: DemoIntent; runId: string }> = [];
  for (const intent of DEMO_INTENTS) {
    const res = await fetch(`${baseUrl}/v1/intents`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agentId: intent.agentId, task: intent.task, ...(intent.input ? { input: intent.input } : {}) }),
    });
    const body = (await res.json()) as { runId: string };
    if (res.status >= 300) throw new Error(`demo intent rejected: ${res.status} ${JSON.stringify(body)}`);
    submitted.push({ intent, runId: body.runId });
  }
  const deadline = Date.now() + timeoutMs;
  const views = new Map<string, RunView>();
  while (Date.now() < deadline && views.size < submitted.length) {
    for (const s of submitted) {
      if (views.has(s.runId)) continue;
      const view = (await (await fetch(`${baseUrl}/v1/runs/${s.runId}`)).json()) as RunView;
      if (view.status === 'completed' || view.status === 'awaiting_approval') views.set(s.runId, view);
    }
    if (views.size < submitted.length) await sleep(100);
  }
  print('');
  print('govmesh demo: intents through all seven layers');
  print('agent               outcome               ms  reason');
  for (const s of submitted) {
    const v = views.get(s.runId);
    const ms = v?.completedAt ? new Date(v.completedAt).getTime() - new Date(v.createdAt).getTime() : NaN;
    const outcome = v ? (v.outcome ?? v.status) : 'still running';
    const reason = v?.reasons[0] ? `${v.reasons[0].code}: ${v.reasons[0].message}` : '';
    print(`${s.intent.agentId.padEnd(19)} ${outcome.padEnd(19)} ${String(Number.isNaN(ms) ? '-' : ms).padStart(4)}  ${reason}`);
  }
  print(`runs: GET ${baseUrl}/v1/runs/<runId>   e.g. ${baseUrl}/v1/runs/${submitted[0].runId}`);
  print('');
  return [...views.values()];
}
