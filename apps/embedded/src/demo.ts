import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * The demo workload of `npm start`: an operator issues agent API keys, and the agents submit
 * intents through the same HTTP ingress any producer uses, followed to their results and printed
 * as a summary. Refusals (a key for a retired agent, an agent posing as another) are shown too.
 * Then the invoice-exception workflow: one invoice paid with no human, one left waiting for
 * finance-ops with the two commands a reviewer uses to see and approve it.
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
  agentId?: string;
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

const isSettled = (v: RunView) => v.status === 'completed' || v.status === 'awaiting_approval' || v.status === 'escalated';

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
        if (isSettled(view)) views.set(s.runId, view);
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

/** The invoices of the workflow demo: the first pays by itself (up to 5000), the second waits for finance-ops. */
export const DEMO_INVOICES = [
  { invoiceId: 'inv-1001', vendor: 'Acme Supplies', amount: 1200, currency: 'EUR', expect: 'verified, with no human' },
  { invoiceId: 'inv-1003', vendor: 'Initech', amount: 7400, currency: 'EUR', expect: 'awaiting_approval by finance-ops' },
] as const;

/** Where the demo keeps the reviewer's key between starts (next to the operator key). */
export const REVIEWER_KEY_FILE = 'reviewer-key';

interface PendingItem {
  id: string;
  runId: string;
  reasons: Array<{ code: string; message: string }>;
}

export interface WaitingInvoice {
  runId: string;
  approvalId: string;
  /** The shell commands printed for the reviewer, exactly as printed. */
  commands: string[];
}

export interface WorkflowDemoResult {
  runs: RunView[];
  waiting: WaitingInvoice | null;
}

/**
 * A finance-ops reviewer key the demo keeps: read from `<dataDir>/reviewer-key` when it still
 * works, else issued by the operator and written there (0600). With an in-memory data directory
 * the key is only returned, and the printed commands carry it inline.
 */
async function reviewerKey(baseUrl: string, operatorKey: string, dataDir: string): Promise<{ key: string; shell: string }> {
  const persistent = !dataDir.startsWith('memory://');
  const file = join(dataDir, REVIEWER_KEY_FILE);
  if (persistent && existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    if ((await call(baseUrl, 'GET', '/v1/approvals?limit=1', key)).status === 200) return { key, shell: `$(cat ${file})` };
  }
  const res = await call<{ key: string; code?: string; message?: string }>(baseUrl, 'POST', '/v1/api-keys', operatorKey, { name: 'demo reviewer (finance-ops)', role: 'reviewer', groups: ['finance-ops'] });
  if (res.status !== 201) throw new Error(`the reviewer key was refused: ${res.body.code}: ${res.body.message}`);
  if (!persistent) return { key: res.body.key, shell: res.body.key };
  mkdirSync(dataDir, { recursive: true });
  writeFileSync(file, `${res.body.key}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return { key: res.body.key, shell: `$(cat ${file})` };
}

/**
 * The invoice-exception workflow as a newcomer sees it: the agent submits two invoices through
 * the HTTP ingress naming the workflow; the small one is paid and verified with no human, the
 * large one waits for finance-ops. The demo prints the two commands a reviewer uses to see and
 * approve it; after the approval the run completes `verified`. An invoice already paid by an
 * earlier start (the sandbox keeps its state in the data directory) shows `escalated` with
 * `invoice_not_payable`, for a human to look at; a demo approval still waiting from an earlier start is shown again
 * instead of asking for a new one.
 */
export async function runWorkflowDemo(baseUrl: string, operatorKey: string, dataDir: string, print: (line: string) => void, timeoutMs = 30000): Promise<WorkflowDemoResult> {
  const agent = await call<{ id: string; key: string; code?: string; message?: string }>(baseUrl, 'POST', '/v1/api-keys', operatorKey, { name: 'demo invoice-exceptions-agent', role: 'agent', agentId: 'invoice-exceptions-agent' });
  if (agent.status !== 201) throw new Error(`the agent key was refused: ${agent.body.code}: ${agent.body.message}`);
  try {
    const reviewer = await reviewerKey(baseUrl, operatorKey, dataDir);
    const pending = await call<{ items: PendingItem[] }>(baseUrl, 'GET', '/v1/approvals?status=pending&agentId=invoice-exceptions-agent&limit=1', reviewer.key);
    const earlier = pending.body.items?.[0];
    const invoices = earlier ? DEMO_INVOICES.slice(0, 1) : DEMO_INVOICES;
    const runIds: string[] = [];
    for (const inv of invoices) {
      const res = await call<{ runId: string; code?: string; message?: string }>(baseUrl, 'POST', '/v1/intents', agent.body.key, {
        agentId: 'invoice-exceptions-agent',
        workflow: 'invoice-exception',
        task: `Invoice ${inv.invoiceId} from ${inv.vendor} is on hold: resolve the exception and pay it`,
        input: { invoiceId: inv.invoiceId, amount: inv.amount, currency: inv.currency, vendor: inv.vendor },
      });
      if (res.status !== 202 && res.status !== 200) throw new Error(`intent for ${inv.invoiceId} refused: ${res.body.code}: ${res.body.message}`);
      runIds.push(res.body.runId);
    }
    const views = new Map<string, RunView>();
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && views.size < runIds.length) {
      for (const id of runIds) {
        if (views.has(id)) continue;
        const view = (await call<RunView>(baseUrl, 'GET', `/v1/runs/${id}`, operatorKey)).body;
        if (isSettled(view)) views.set(id, view);
      }
      if (views.size < runIds.length) await sleep(100);
    }
    const waitingRun = earlier?.runId ?? (views.get(runIds[1])?.status === 'awaiting_approval' ? runIds[1] : undefined);
    const item = earlier ?? (waitingRun ? (await call<{ items: PendingItem[] }>(baseUrl, 'GET', `/v1/approvals?status=pending&runId=${waitingRun}`, reviewer.key)).body.items?.[0] : undefined);
    // An escalated run (an invoice paid by an earlier start, say) shows why, from its escalation.
    const escalations = new Map<string, PendingItem>();
    for (const v of views.values()) {
      if (v.status !== 'escalated') continue;
      const found = (await call<{ items: PendingItem[] }>(baseUrl, 'GET', `/v1/escalations?status=pending&runId=${v.runId}`, operatorKey)).body.items?.[0];
      if (found) escalations.set(v.runId, found);
    }
    print('govmesh demo: the invoice-exception workflow (policy pays up to 5000 by itself; above, finance-ops approves)');
    print(`${'invoice'.padEnd(10)} ${'amount'.padStart(10)}  ${'outcome'.padEnd(18)} reason`);
    invoices.forEach((inv, i) => {
      const v = views.get(runIds[i]);
      const outcome = v ? (v.outcome ?? v.status) : 'still running';
      const reason = v?.reasons[0] ?? (item && item.runId === runIds[i] ? item.reasons[0] : escalations.get(runIds[i])?.reasons[0]);
      print(`${inv.invoiceId.padEnd(10)} ${`${inv.amount} ${inv.currency}`.padStart(10)}  ${outcome.padEnd(18)} ${reason ? `${reason.code}: ${reason.message}` : ''}`);
    });
    let waiting: WaitingInvoice | null = null;
    if (waitingRun && item) {
      const auth = `-H "authorization: Bearer ${reviewer.shell}"`;
      const commands = [
        `curl -s ${auth} '${baseUrl}/v1/approvals?status=pending'`,
        `curl -s -X POST ${auth} -H 'content-type: application/json' -d '{"decision":"approve","reason":"matches the purchase order"}' '${baseUrl}/v1/approvals/${item.id}/decision'`,
      ];
      waiting = { runId: waitingRun, approvalId: item.id, commands };
      print(`${earlier ? 'An invoice from an earlier start is still' : `${DEMO_INVOICES[1].invoiceId} is`} waiting for finance-ops. As the demo reviewer (group finance-ops), see it with its full context, then approve it:`);
      for (const c of commands) print(`  ${c}`);
      print(`The run then completes verified: GET ${baseUrl}/v1/runs/${waitingRun} (operator or agent key). Reject with {"decision":"reject","reason":"..."}.`);
    }
    print('');
    return { runs: [...views.values()], waiting };
  } finally {
    await call(baseUrl, 'POST', `/v1/api-keys/${agent.body.id}/revoke`, operatorKey);
  }
}
