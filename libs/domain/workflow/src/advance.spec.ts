import { approvalDigest } from '@govmesh/action-grants';
import { advance, eligibleGroups, newWorkflowRun, reviewerProblem, timerIds, WORKFLOW_DEFAULTS, type Advanced, type TimerToSet, type WorkflowCommand, type WorkflowInput } from './advance';
import { compileWorkflow, type CompiledWorkflow } from './compile';
import type { ReviewSpec, WorkflowDefinition, WorkflowStep } from './definition';
import { CONTRACT_RENEWAL_WORKFLOW, DEFAULT_WORKFLOW, INVOICE_EXCEPTION_WORKFLOW, SUPPORT_TRIAGE_WORKFLOW } from './seeds';
import type { ClaimRef, OpenReview, Reviewer, WorkflowRun } from './state';

const T0 = new Date('2025-03-01T08:00:00.000Z');
const AGENT = 'agent-7';
const REQUESTER = 'user:alice';
const RUN_ID = 'run-1';

const ops = (id = 'olga', extra: Partial<Reviewer> = {}): Reviewer => ({ id, roles: ['reviewer'], groups: ['ops'], ...extra });
const human = (id: string, groups: string[], extra: Partial<Reviewer> = {}): Reviewer => ({ id, roles: ['reviewer'], groups, ...extra });
const claim = (id = 'x-1'): ClaimRef => ({ system: 'erp', entity: 'payment', id, fields: { status: 'paid' } });
const GRANT = { grantId: 'g-1' };

const ESCALATION: ReviewSpec = { levels: [{ name: 'ops', groups: ['ops'], slaSeconds: 600 }] };

function def(steps: unknown[], extra: Partial<WorkflowDefinition> = {}): WorkflowDefinition {
  return { id: 'test-flow', version: 1, deadlineSeconds: 3600, escalation: ESCALATION, steps: steps as WorkflowStep[], ...extra };
}

type Cmd<K extends WorkflowCommand['kind']> = Extract<WorkflowCommand, { kind: K }>;

/**
 * Drives one run through a sequence of inputs with a fixed clock and counted ids; keeps the run
 * of every accepted input and checks that the run completes at most once.
 */
class Driver {
  run: WorkflowRun;
  last!: Advanced;
  now = T0;
  private ids = 0;
  completions = 0;
  readonly timersSet = new Map<string, TimerToSet>();

  constructor(
    readonly wf: CompiledWorkflow,
    input: Record<string, unknown> = {},
    options: { agentVersion?: string | null; task?: string } = {},
  ) {
    this.run = newWorkflowRun(wf, { intentId: RUN_ID, agentId: AGENT, agentVersion: options.agentVersion ?? '1.0.0', task: options.task ?? 'do the thing', input }, REQUESTER, T0);
  }

  send(input: WorkflowInput): Advanced {
    const before = structuredClone(this.run);
    this.last = advance(this.wf, this.run, input, { now: this.now, newId: () => `r${++this.ids}` });
    // advance never mutates the run it is given
    expect(this.run).toEqual(before);
    if (this.last.refused) {
      expect(this.last.changed).toBe(false);
      expect(this.last.run).toEqual(before);
      expect(this.last.commands).toEqual([]);
      expect(this.last.timers).toEqual([]);
    } else {
      this.run = this.last.run;
      for (const t of this.last.timers) this.timersSet.set(t.id, t);
    }
    const completes = this.last.commands.filter((c) => c.kind === 'complete').length;
    this.completions += completes;
    expect(this.completions).toBeLessThanOrEqual(1);
    if (completes === 1) expect(this.last.run.status).toBe('completed');
    return this.last;
  }

  after(seconds: number): this {
    this.now = new Date(this.now.getTime() + seconds * 1000);
    return this;
  }

  start() {
    return this.send({ kind: 'start' });
  }

  cmd<K extends WorkflowCommand['kind']>(kind: K, from: Advanced = this.last): Cmd<K> {
    const found = from.commands.filter((c) => c.kind === kind);
    if (found.length !== 1) throw new Error(`expected one ${kind} command, got ${found.length}: ${JSON.stringify(from.commands.map((c) => c.kind))}`);
    return found[0] as Cmd<K>;
  }

  kinds(from: Advanced = this.last) {
    return from.commands.map((c) => c.kind);
  }

  get execId(): string {
    return this.run.cursor!.execId;
  }

  get review(): OpenReview {
    return this.run.review!;
  }

  retrieved() {
    return this.send({ kind: 'context_retrieved', execId: this.execId, citations: [{ documentId: 'd1', source: 'kb' }], withheld: 0 });
  }

  modelStructured(output: Record<string, unknown>, confidence = 0.9) {
    return this.send({ kind: 'model_completed', execId: this.execId, model: 'm-1', confidence, proposal: { kind: 'no_action', rationale: 'structured answer' }, output });
  }

  modelProposes(tool: string, args: Record<string, unknown>, confidence = 0.9) {
    return this.send({ kind: 'model_completed', execId: this.execId, model: 'm-1', confidence, proposal: { kind: 'tool_call', tool, arguments: args, rationale: 'because' } });
  }

  decided(effect: 'allow' | 'deny' | 'require_approval' | 'escalate', extra: { approvers?: string[]; grant?: unknown } = {}) {
    return this.send({ kind: 'action_decided', execId: this.execId, effect, reasons: [{ code: `policy_${effect}`, message: effect }], policyVersion: 'p1', ...(effect === 'allow' ? { grant: GRANT } : {}), ...extra });
  }

  /** A failure is retryable unless told otherwise (the gateway's `retryable`). */
  executed(status: 'succeeded' | 'failed' | 'rejected' = 'succeeded', withClaim: ClaimRef | null = claim(), retryable = true) {
    return this.send({
      kind: 'tool_executed',
      execId: this.execId,
      status,
      output: status === 'succeeded' ? { ok: true } : undefined,
      ...(withClaim && status === 'succeeded' ? { claim: withClaim } : {}),
      reasons: status === 'succeeded' ? [] : [{ code: `tool_${status}`, message: status }],
      executionId: 'ex-1',
      ...(status === 'failed' ? { retryable } : {}),
    });
  }

  verified(verdict: 'confirmed' | 'mismatch' | 'not_found' | 'unsupported' = 'confirmed') {
    return this.send({ kind: 'verification_completed', execId: this.execId, verdict, observed: { status: verdict === 'confirmed' ? 'paid' : 'open' }, reasons: verdict === 'confirmed' ? [] : [{ code: verdict, message: verdict }] });
  }

  decide(reviewer: Reviewer, decision: Extract<WorkflowInput, { kind: 'review' }>['decision'], extra: Partial<Extract<WorkflowInput, { kind: 'review' }>> = {}) {
    return this.send({ kind: 'review', reviewId: this.run.review?.id ?? 'none', reviewer, decision, ...extra });
  }

  /** Fires a timer an earlier input set (by id; the latest setting), whether or not it was cancelled since. */
  fire(id: string) {
    const timer = this.timersSet.get(id);
    if (!timer) throw new Error(`no timer ${id} was set; set: ${[...this.timersSet.keys()].join(', ')}`);
    return this.send({ kind: 'timer', timerId: timer.id, purpose: timer.purpose, payload: timer.payload });
  }

  timer(purpose: Extract<WorkflowInput, { kind: 'timer' }>['purpose'], payload: Record<string, unknown>, timerId = `${purpose}:test`) {
    return this.send({ kind: 'timer', timerId, purpose, payload });
  }
}

const compile = (d: WorkflowDefinition) => compileWorkflow(d);

/** Expects an input refused with this status and code, and the run unchanged. */
function expectRefused(result: Advanced, status: number, code: string) {
  expect(result.refused).toMatchObject({ status, code });
  expect(result.changed).toBe(false);
  expect(result.commands).toEqual([]);
  expect(result.timeline).toEqual([]);
}

// -------------------------------------------------------------------------------------------------

describe('newWorkflowRun', () => {
  it('pins the workflow version and sets the deadline from the definition or the intent', async () => {
    const wf = await compile(def([{ id: 'w', kind: 'wait', seconds: 1 }]));
    const run = newWorkflowRun(wf, { intentId: 'i-1', agentId: 'a', task: 't' }, 'u', T0);
    expect(run).toMatchObject({ runId: 'i-1', workflowId: 'test-flow', workflowVersion: 1, status: 'pending', outcome: null, agentVersion: null, input: {}, executions: 0 });
    expect(run.deadlineAt).toBe('2025-03-01T09:00:00.000Z');
    expect(newWorkflowRun(wf, { intentId: 'i-1', agentId: 'a', task: 't' }, 'u', T0, 60).deadlineAt).toBe('2025-03-01T08:01:00.000Z');
  });
});

describe('the seed workflows', () => {
  describe('retrieve-plan-act-verify (default)', () => {
    it('runs to verified: retrieve, plan, propose, execute with the idempotency key, verify', async () => {
      const d = new Driver(await compile(DEFAULT_WORKFLOW), {}, { task: 'refund order 42' });
      d.start();
      expect(d.cmd('retrieve')).toEqual({ kind: 'retrieve', execId: 'retrieve#1', query: 'refund order 42', limit: 3 });
      expect(d.run.status).toBe('running');
      expect(d.last.timers).toEqual([{ id: timerIds.step(RUN_ID, 'retrieve#1'), purpose: 'step_timeout', dueAt: new Date(T0.getTime() + 120_000), payload: { execId: 'retrieve#1' } }]);

      d.retrieved();
      expect(d.cmd('call_model')).toMatchObject({ execId: 'plan#2', risk: 'low', steps: { retrieve: { citations: [{ documentId: 'd1', source: 'kb' }], withheld: 0 } } });
      expect(d.last.cancelTimers).toContain(timerIds.step(RUN_ID, 'retrieve#1'));

      d.modelProposes('orders.refund', { orderId: 42 });
      const proposed = d.cmd('propose_action');
      expect(proposed).toEqual({ kind: 'propose_action', execId: 'act#3', tool: 'orders.refund', arguments: { orderId: 42 }, rationale: 'because' });
      expect(d.run.cursor).toMatchObject({ phase: 'deciding', idempotencyKey: `${RUN_ID}/act#3`, action: { digest: approvalDigest({ agentId: AGENT, agentVersion: '1.0.0', tool: 'orders.refund', arguments: { orderId: 42 } }) } });

      d.decided('allow');
      expect(d.cmd('execute_tool')).toEqual({ kind: 'execute_tool', execId: 'act#3', tool: 'orders.refund', arguments: { orderId: 42 }, grant: GRANT, idempotencyKey: `${RUN_ID}/act#3` });

      d.executed('succeeded', claim('rf-1'));
      // the verifier gets the executed call with the claim: the tool's checks are evaluated over it
      const call = { tool: 'orders.refund', executionId: 'ex-1', arguments: { orderId: 42 }, output: { ok: true } };
      expect(d.cmd('verify')).toEqual({ kind: 'verify', execId: 'verify#4', claim: claim('rf-1'), call });
      expect(d.run.claims).toEqual({ act: { claim: claim('rf-1'), verified: 'pending', call } });

      d.verified('confirmed');
      expect(d.last.outcome).toBe('verified');
      expect(d.cmd('complete')).toMatchObject({ outcome: 'verified', result: { ok: true } });
      expect(d.run).toMatchObject({ status: 'completed', outcome: 'verified', cursor: null, completedAt: T0.toISOString() });
      expect(d.last.cancelTimers).toContain(timerIds.deadline(RUN_ID));
      // the verify step's execution is recorded once, with its output
      expect(d.last.executions.filter((e) => e.id === 'verify#4')).toEqual([expect.objectContaining({ status: 'succeeded', output: { verdict: 'confirmed', observed: { status: 'paid' } } })]);
    });

    it('fails when the model proposes no action', async () => {
      const d = new Driver(await compile(DEFAULT_WORKFLOW));
      d.start();
      d.retrieved();
      d.send({ kind: 'model_completed', execId: d.execId, model: 'm', confidence: 0.99, proposal: { kind: 'no_action', rationale: 'nothing to do' } });
      expect(d.run.outcome).toBe('failed');
      expect(d.run.reasons[0]).toMatchObject({ code: 'no_action_proposed', message: 'the model proposed no action: nothing to do' });
    });

    it('escalates, instead of failing, when the model router refused the proposal', async () => {
      const d = new Driver(await compile(DEFAULT_WORKFLOW));
      d.start();
      d.retrieved();
      const refused = [{ code: 'tool_arguments_invalid', message: 'sandbox.lookup_account: /accountId must match pattern' }];
      d.send({ kind: 'model_completed', execId: d.execId, model: 'm', confidence: 0, proposal: { kind: 'no_action', rationale: 'refused by the model router' }, reasons: refused });
      expect(d.run.outcome).toBeNull();
      expect(d.review).toMatchObject({ escalationCase: 'model_output_invalid', decisions: ['supply', 'retry', 'abort'] });
      expect(d.cmd('review_requested').reasons).toEqual(refused);
      expect(d.cmd('review_requested').state).toMatchObject({ model: { refused } });
    });

    it('ends denied when policy denies the proposed action', async () => {
      const d = new Driver(await compile(DEFAULT_WORKFLOW));
      d.start();
      d.retrieved();
      d.modelProposes('db.drop', {});
      d.decided('deny');
      expect(d.run.outcome).toBe('denied');
      expect(d.run.reasons).toEqual([{ code: 'policy_deny', message: 'deny' }]);
      expect(d.kinds()).not.toContain('execute_tool');
    });
  });

  describe('invoice-exception', () => {
    const input = (amount: number) => ({ invoiceId: 'inv-001', amount, currency: 'EUR' });

    async function toPayment(amount: number) {
      const d = new Driver(await compile(INVOICE_EXCEPTION_WORKFLOW), input(amount));
      d.start();
      expect(d.cmd('retrieve').query).toBe('invoice exception payment policy inv-001');
      d.retrieved();
      expect(d.cmd('call_model')).toMatchObject({ execId: 'assess#2', outputSchema: INVOICE_EXCEPTION_WORKFLOW.steps[1].kind === 'model' ? INVOICE_EXCEPTION_WORKFLOW.steps[1].outputSchema : undefined });
      d.modelStructured({ recommendation: 'pay', amount, currency: 'EUR', rationale: 'within policy' }, 0.9);
      return d;
    }

    it('pays a small invoice with no human and ends verified', async () => {
      const d = await toPayment(1200);
      expect(d.cmd('propose_action')).toEqual({ kind: 'propose_action', execId: 'pay#4', tool: 'invoices.approve_payment', arguments: { invoiceId: 'inv-001', amount: 1200, currency: 'EUR' }, tier: 'execute_low' });
      expect(d.run.outputs['route']).toEqual({ next: 'pay' });
      d.decided('allow');
      d.executed();
      expect(d.cmd('verify').execId).toBe('verify#5');
      d.verified();
      expect(d.run.outcome).toBe('verified');
    });

    it('holds a larger payment for finance-ops; the approval binds to the digest and policy decides again', async () => {
      const d = await toPayment(12_000);
      const digest = d.run.cursor!.action!.digest;
      d.decided('require_approval', { approvers: ['finance-ops', 'finance-leads'] });
      const requested = d.cmd('review_requested');
      expect(requested.review).toMatchObject({ id: 'r1', kind: 'approval', stepId: 'pay', execId: 'pay#4', level: 1, digest, policyApprovers: ['finance-ops', 'finance-leads'], decisions: ['approve', 'reject', 'edit'], onExpiry: 'fail', expiresAt: '2025-03-03T08:00:00.000Z' });
      expect(requested.state).toMatchObject({ requester: REQUESTER, proposedAction: { digest }, policy: { effect: 'require_approval' } });
      expect(d.cmd('notify')).toEqual({ kind: 'notify', reviewId: 'r1', reviewKind: 'approval', groups: ['finance-ops', 'finance-leads'], event: 'arrived', level: 1, dueAt: '2025-03-01T12:00:00.000Z' });
      expect(d.run.status).toBe('awaiting_approval');
      expect(d.last.cancelTimers).toContain(timerIds.step(RUN_ID, 'pay#4'));
      expect(d.last.timers.map((t) => t.id).sort()).toEqual([timerIds.expiry('r1'), timerIds.sla('r1', 1), timerIds.warning('r1', 1)].sort());

      d.after(60).decide(human('fiona', ['finance-ops'], { name: 'Fiona' }), 'approve', { reason: 'ok' });
      expect(d.cmd('propose_action')).toEqual({
        kind: 'propose_action',
        execId: 'pay#4',
        tool: 'invoices.approve_payment',
        arguments: { invoiceId: 'inv-001', amount: 12_000, currency: 'EUR' },
        tier: 'execute_low',
        approval: { reviewId: 'r1', approvalId: 'r1#4', digest, reviewer: { id: 'fiona', name: 'Fiona', groups: ['finance-ops'] }, decidedAt: '2025-03-01T08:01:00.000Z' },
      });
      expect(d.cmd('review_decided')).toMatchObject({ reviewId: 'r1', decision: 'approved', digest, reviewer: { id: 'fiona' }, level: 1, reason: 'ok' });
      expect(d.run).toMatchObject({ status: 'running', review: null, cursor: { phase: 'deciding', execId: 'pay#4', idempotencyKey: `${RUN_ID}/pay#4` } });
      expect(d.last.cancelTimers).toEqual(expect.arrayContaining([timerIds.expiry('r1'), timerIds.sla('r1', 1), timerIds.sla('r1', 2), timerIds.warning('r1', 1)]));
      expect(d.last.timers).toEqual([expect.objectContaining({ id: timerIds.step(RUN_ID, 'pay#4'), purpose: 'step_timeout' })]);

      d.decided('allow');
      expect(d.cmd('execute_tool').idempotencyKey).toBe(`${RUN_ID}/pay#4`);
      d.executed();
      d.verified();
      expect(d.run.outcome).toBe('verified');
    });

    it('retries exactly the approved payment under the same approval (a new use of it) and the same idempotency key', async () => {
      const d = await toPayment(12_000);
      const digest = d.run.cursor!.action!.digest;
      d.decided('require_approval', { approvers: ['finance-ops'] });
      d.decide(human('fiona', ['finance-ops']), 'approve');
      d.decided('allow');
      d.executed('failed');
      d.after(1).fire(timerIds.retry(RUN_ID, 'pay#4'));
      const retried = d.cmd('propose_action');
      expect(retried).toMatchObject({ execId: 'pay#5', approval: { reviewId: 'r1', approvalId: 'r1#5', digest, reviewer: { id: 'fiona' } } });
      expect(d.kinds()).not.toContain('review_requested');
      d.decided('allow');
      expect(d.cmd('execute_tool').idempotencyKey).toBe(`${RUN_ID}/pay#4`);
    });

    it('does not retry a failure the gateway calls final: a human decides at once', async () => {
      const d = await toPayment(1200);
      d.decided('allow');
      d.executed('failed', null, false);
      expect(d.last.timers.map((t) => t.purpose)).not.toContain('retry');
      expect(d.run.status).toBe('escalated');
      expect(d.review).toMatchObject({ kind: 'escalation', escalationCase: 'tool_failed' });
      expect(d.last.timeline.map((l) => l.kind)).not.toContain('retry_scheduled');
    });

    it('starts an approval above 50,000 at finance-leads: finance-ops may not decide it', async () => {
      const d = await toPayment(60_000);
      d.decided('require_approval', { approvers: ['finance-ops', 'finance-leads'] });
      expect(d.review.level).toBe(2);
      expect(d.cmd('notify')).toMatchObject({ groups: ['finance-leads'], level: 2, dueAt: '2025-03-01T16:00:00.000Z' });
      expectRefused(d.decide(human('fiona', ['finance-ops']), 'approve'), 403, 'reviewer_not_in_group');
      d.decide(human('lena', ['finance-leads']), 'approve');
      expect(d.cmd('propose_action').approval?.reviewer.id).toBe('lena');
    });

    it('ends succeeded without acting when the model recommends holding (branch to end)', async () => {
      const d = new Driver(await compile(INVOICE_EXCEPTION_WORKFLOW), input(900));
      d.start();
      d.retrieved();
      d.modelStructured({ recommendation: 'hold', amount: 900, currency: 'EUR' });
      expect(d.run.outcome).toBe('succeeded');
      expect(d.run.outputs['route']).toEqual({ next: 'end' });
      expect(d.kinds()).toEqual(['complete']);
      expect(d.last.timeline.map((l) => l.kind)).toContain('branch_taken');
    });

    it('escalates a payment policy holds when nobody approves, then fails closed after the last level', async () => {
      const d = await toPayment(12_000);
      d.decided('require_approval', { approvers: ['finance-ops', 'finance-leads'] });
      d.after(4 * 3600).fire(timerIds.sla('r1', 1));
      expect(d.review.level).toBe(2);
      d.after(8 * 3600).fire(timerIds.sla('r1', 2));
      expect(d.run.outcome).toBe('expired');
      expect(d.run.reasons[0]).toMatchObject({ code: 'approval_expired' });
      expect(d.kinds()).not.toContain('propose_action');
    });
  });

  describe('contract-renewal', () => {
    async function toCheckpoint() {
      const d = new Driver(await compile(CONTRACT_RENEWAL_WORKFLOW), { contractId: 'ctr-123', customerEmail: 'buyer@example.com' });
      d.start();
      expect(d.cmd('retrieve').query).toBe('contract renewal terms ctr-123');
      d.retrieved();
      d.modelStructured({ summary: 'renew 12 months', subject: 'Your renewal', body: 'Dear customer' }, 0.8);
      expect(d.cmd('propose_action')).toMatchObject({ tool: 'contracts.draft_renewal', arguments: { contractId: 'ctr-123', draft: 'Dear customer' } });
      d.decided('allow');
      d.executed('succeeded', { system: 'crm', entity: 'draft', id: 'dr-1', fields: {} });
      d.verified();
      expect(d.run.claims['draft'].verified).toBe('confirmed');
      expect(d.review).toMatchObject({ kind: 'checkpoint', stepId: 'review_mail', decisions: ['approve', 'reject', 'edit'], level: 1 });
      expect(d.run.status).toBe('awaiting_approval');
      return d;
    }

    it('a reviewer edits the mail, legal approves the send, both claims verify', async () => {
      const d = await toCheckpoint();
      const am = human('amy', ['account-managers']);
      expectRefused(d.decide(am, 'edit', { output: { subject: '' } }), 400, 'output_invalid');
      expect(d.last.refused?.fields?.length).toBeGreaterThan(0);
      expectRefused(d.decide(am, 'edit'), 400, 'output_required');
      d.decide(am, 'edit', { output: { subject: 'Renewal offer', body: 'Dear Buyer' } });
      expect(d.cmd('review_decided')).toMatchObject({ decision: 'edited', detail: { subject: 'Renewal offer', body: 'Dear Buyer' } });
      expect(d.run.outputs['review_mail']).toEqual({ subject: 'Renewal offer', body: 'Dear Buyer', decision: 'edited', reviewer: 'amy' });
      expect(d.cmd('propose_action')).toMatchObject({ tool: 'mail.send_external', arguments: { to: 'buyer@example.com', subject: 'Renewal offer', body: 'Dear Buyer', contractId: 'ctr-123' } });

      d.decided('require_approval', { approvers: ['legal'] });
      expect(d.review).toMatchObject({ kind: 'approval', stepId: 'send', levels: [{ name: 'legal', groups: ['legal'], slaSeconds: 86_400 }] });
      expectRefused(d.decide(am, 'approve'), 403, 'reviewer_not_in_group');
      d.decide(human('lou', ['legal']), 'approve');
      d.decided('allow');
      d.executed('succeeded', { system: 'mail', entity: 'message', id: 'msg-1', fields: {} });
      d.verified();
      expect(d.run.outcome).toBe('verified');
      expect(d.run.reasons[0].message).toContain('draft, send');
    });

    it('a plain approval keeps the model mail', async () => {
      const d = await toCheckpoint();
      d.decide(human('amy', ['account-managers']), 'approve');
      expect(d.run.outputs['review_mail']).toEqual({ decision: 'approved', reviewer: 'amy' });
      expect(d.cmd('propose_action').arguments).toMatchObject({ subject: 'Your renewal', body: 'Dear customer' });
    });

    it('a rejected checkpoint ends the run rejected', async () => {
      const d = await toCheckpoint();
      d.decide(human('amy', ['account-managers']), 'reject', { reason: 'wrong terms' });
      expect(d.run.outcome).toBe('rejected');
      expect(d.run.reasons).toEqual([{ code: 'checkpoint_rejected', message: 'amy rejected it: wrong terms' }]);
      expect(d.cmd('review_decided').decision).toBe('rejected');
    });

    it('refuses input without the contract fields, then starts once a reviewer supplies them', async () => {
      const d = new Driver(await compile(CONTRACT_RENEWAL_WORKFLOW), { contractId: 'ctr-123' });
      d.start();
      expect(d.review).toMatchObject({ kind: 'escalation', escalationCase: 'input_incomplete', decisions: ['supply', 'abort'], stepId: null, execId: null });
      expect(d.cmd('review_requested').state).toMatchObject({ problems: [{ field: '/', problem: "must have required property 'customerEmail'" }] });
      expect(d.run.status).toBe('escalated');
      const am = human('amy', ['account-managers']);
      expectRefused(d.decide(am, 'supply'), 400, 'input_required');
      expectRefused(d.decide(am, 'supply', { input: { customerEmail: 'not-an-email' } }), 400, 'input_still_incomplete');
      expect(d.last.refused?.fields).toEqual([{ field: '/customerEmail', problem: 'must match format "email"' }]);
      d.decide(am, 'supply', { input: { customerEmail: 'buyer@example.com' } });
      expect(d.run.input).toEqual({ contractId: 'ctr-123', customerEmail: 'buyer@example.com' });
      expect(d.cmd('review_decided')).toMatchObject({ decision: 'supplied', stepId: 'intent', detail: { input: { customerEmail: 'buyer@example.com' } } });
      expect(d.cmd('retrieve').execId).toBe('research#1');
    });
  });

  describe('support-triage', () => {
    async function classified(priority: string) {
      const d = new Driver(await compile(SUPPORT_TRIAGE_WORKFLOW), { ticketId: 'tkt-001' });
      d.start();
      expect(d.cmd('propose_action')).toMatchObject({ tool: 'tickets.lookup', arguments: { ticketId: 'tkt-001' } });
      d.decided('allow');
      d.executed('succeeded', { system: 'helpdesk', entity: 'ticket', id: 'tkt-001', fields: {} });
      d.verified();
      d.modelStructured({ priority, assigneeGroup: 'billing' }, 0.95);
      return d;
    }

    it('updates a normal ticket without a checkpoint and ends verified', async () => {
      const d = await classified('normal');
      expect(d.run.outputs['route']).toEqual({ next: 'update' });
      expect(d.cmd('propose_action').arguments).toEqual({ ticketId: 'tkt-001', priority: 'normal', assigneeGroup: 'billing', status: 'triaged' });
      d.decided('allow');
      d.executed('succeeded', { system: 'helpdesk', entity: 'ticket', id: 'tkt-001', fields: { priority: 'normal' } });
      d.verified();
      expect(d.run.outcome).toBe('verified');
    });

    it('has a support lead confirm an urgent ticket first', async () => {
      const d = await classified('urgent');
      expect(d.review).toMatchObject({ kind: 'checkpoint', stepId: 'confirm', decisions: ['approve', 'reject'] });
      expect(d.last.timers.find((t) => t.purpose === 'review_sla')?.dueAt).toEqual(new Date(T0.getTime() + 1800_000));
      expectRefused(d.decide(human('sam', ['support-leads']), 'edit', { output: {} }), 400, 'decision_not_allowed');
      d.decide(human('sam', ['support-leads']), 'approve');
      expect(d.cmd('propose_action').arguments).toMatchObject({ priority: 'urgent' });
      d.decided('allow');
      d.executed();
      d.verified();
      expect(d.run.outcome).toBe('verified');
    });
  });
});

// -------------------------------------------------------------------------------------------------

describe('step kinds', () => {
  it('context: evaluates the query over the input and uses the limit', async () => {
    const d = new Driver(await compile(def([{ id: 'look', kind: 'context', query: '"about " + input.topic', limit: 7 }])), { topic: 'tax' });
    d.start();
    expect(d.cmd('retrieve')).toEqual({ kind: 'retrieve', execId: 'look#1', query: 'about tax', limit: 7 });
    d.retrieved();
    expect(d.run.outcome).toBe('succeeded');
    expect(d.run.outputs['look']).toMatchObject({ withheld: 0 });
    expect(d.run.reasons[0].code).toBe('completed');
  });

  it('model: passes instructions, schema, declared risk and earlier outputs', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }, { id: 'm', kind: 'model', instructions: 'think', risk: 'high', outputSchema: { type: 'object' } }])), { risk: 'low' });
    d.start();
    d.retrieved();
    expect(d.cmd('call_model')).toEqual({ kind: 'call_model', execId: 'm#2', instructions: 'think', outputSchema: { type: 'object' }, risk: 'high', steps: { c: expect.any(Object) } });
  });

  it('model: risk from the input when the step declares none', async () => {
    const d = new Driver(await compile(def([{ id: 'm', kind: 'model' }])), { risk: 'medium' });
    d.start();
    expect(d.cmd('call_model').risk).toBe('medium');
  });

  it('action with tool: arguments are CEL over input and earlier outputs; ints come out as numbers', async () => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 'crm.update', arguments: { id: 'input.id', n: '1 + 2', label: '"x-" + input.id', flag: 'true' } }])), { id: 'c-9' });
    d.start();
    expect(d.cmd('propose_action').arguments).toEqual({ id: 'c-9', n: 3, label: 'x-c-9', flag: true });
  });

  it('action from a model step: fails when the model step proposed nothing usable', async () => {
    const wf = await compile(def([{ id: 'm', kind: 'model', minConfidence: 0.5 }, { id: 'a', kind: 'action', from: 'm' }]));
    const d = new Driver(wf);
    d.start();
    d.send({ kind: 'model_completed', execId: 'm#1', model: 'x', confidence: 0.1, proposal: { kind: 'tool_call', tool: 't', arguments: {}, rationale: 'r' } });
    // low confidence: a reviewer supplies an output that proposes nothing
    d.decide(ops(), 'supply', { output: { note: 'no call' } });
    expect(d.run.outcome).toBe('failed');
    expect(d.run.reasons[0].code).toBe('no_action_proposed');
  });

  it('action: an argument that fails to evaluate escalates before anything is proposed', async () => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 't', arguments: { id: 'input.missing' } }])));
    d.start();
    expect(d.kinds()).toEqual(['review_requested', 'notify']);
    expect(d.review).toMatchObject({ escalationCase: 'expression_failed', execId: 'a#1' });
    expect(d.cmd('review_requested').reasons[0].message).toContain('the argument id `input.missing` could not be evaluated');
    expectRefused(d.decide(ops(), 'retry'), 400, 'decision_not_allowed');
    d.decide(ops(), 'take_over', { output: { done: 'by hand' } });
    expect(d.run.outcome).toBe('succeeded');
    expect(d.run.reasons[0].code).toBe('completed_with_reviewer_overrides');
  });

  it('action allowed without a grant fails', async () => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 't' }])));
    d.start();
    d.send({ kind: 'action_decided', execId: 'a#1', effect: 'allow', reasons: [], policyVersion: 'p' });
    expect(d.run.outcome).toBe('failed');
    expect(d.run.reasons[0].code).toBe('grant_missing');
    expect(d.kinds()).not.toContain('execute_tool');
  });

  it('action: policy escalate is an approval too, defaulting to policy approver groups with one level', async () => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 't' }])));
    d.start();
    d.decided('escalate', { approvers: ['risk'] });
    expect(d.review).toMatchObject({ kind: 'approval', levels: [{ name: 'approvers', groups: ['risk'], slaSeconds: WORKFLOW_DEFAULTS.reviewSlaSeconds }], onExpiry: 'fail', expiresAt: null, policyApprovers: ['risk'] });
    expectRefused(d.decide(ops(), 'approve'), 403, 'reviewer_not_in_group');
  });

  it('action: without approvers from policy the escalation groups decide', async () => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 't' }])));
    d.start();
    d.decided('require_approval');
    expect(d.review.levels[0].groups).toEqual(['ops']);
    expect(d.review.policyApprovers).toEqual([]);
    d.decide(ops(), 'approve');
    expect(d.cmd('propose_action').approval?.reviewer.id).toBe('olga');
  });

  it('action: a rejected tool call ends the run failed with the gateway reasons', async () => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 't', retry: { maxAttempts: 3, backoffSeconds: 1 } }])));
    d.start();
    d.decided('allow');
    d.executed('rejected');
    expect(d.run.outcome).toBe('failed');
    expect(d.run.reasons).toEqual([{ code: 'tool_rejected', message: 'rejected' }]);
    expect(d.last.timers).toEqual([]);
  });

  it('checkpoint: without an edit schema a reviewer may only approve or reject; approve continues with who approved', async () => {
    const d = new Driver(await compile(def([{ id: 'k', kind: 'checkpoint', review: ESCALATION }, { id: 'w', kind: 'wait', seconds: 5 }])));
    d.start();
    expect(d.review).toMatchObject({ kind: 'checkpoint', decisions: ['approve', 'reject'], execId: 'k#1' });
    expect(d.last.executions).toEqual([expect.objectContaining({ id: 'k#1', status: 'running', dueAt: null })]);
    expect(d.last.timers.map((t) => t.purpose)).not.toContain('step_timeout');
    d.decide(ops(), 'approve');
    expect(d.run.outputs['k']).toEqual({ decision: 'approved', reviewer: 'olga' });
    expect(d.run.cursor).toMatchObject({ stepId: 'w', phase: 'waiting' });
  });

  it('verify: with no claim to verify the run ends verification_failed', async () => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 't' }, { id: 'v', kind: 'verify', of: 'a' }])));
    d.start();
    d.decided('allow');
    d.executed('succeeded', null);
    expect(d.run.outcome).toBe('verification_failed');
    expect(d.run.reasons[0].code).toBe('nothing_to_verify');
  });

  it('verify without `of` verifies the latest claim', async () => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 't' }, { id: 'b', kind: 'action', tool: 'u' }, { id: 'v', kind: 'verify' }, { id: 'v2', kind: 'verify', of: 'a' }])));
    d.start();
    d.decided('allow');
    d.executed('succeeded', claim('first'));
    d.decided('allow');
    d.executed('succeeded', claim('second'));
    expect(d.cmd('verify').claim.id).toBe('second');
    d.verified();
    expect(d.run.claims['b'].verified).toBe('confirmed');
    expect(d.cmd('verify').claim.id).toBe('first');
    d.verified();
    expect(d.run.outcome).toBe('verified');
  });

  it('an action claim nobody verifies ends the run verification_failed', async () => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 't' }])));
    d.start();
    d.decided('allow');
    d.executed();
    expect(d.run.outcome).toBe('verification_failed');
    expect(d.run.reasons[0]).toMatchObject({ code: 'unverified_claims' });
    expect(d.run.reasons[0].message).toContain('step(s) a');
    // the action's execution itself succeeded, and is recorded once
    expect(d.last.executions.filter((e) => e.id === 'a#1')).toEqual([expect.objectContaining({ status: 'succeeded', output: { ok: true } })]);
  });

  describe('branch', () => {
    const branchy = () =>
      compile(
        def([
          {
            id: 'pick',
            kind: 'branch',
            cases: [
              { when: 'input.n > 10', next: 'big' },
              { when: 'input.n > 5', next: 'mid' },
              { when: 'input.n < 0', next: 'end' },
            ],
            default: 'small',
          },
          { id: 'big', kind: 'wait', seconds: 1, next: 'end' },
          { id: 'mid', kind: 'wait', seconds: 2, next: 'end' },
          { id: 'small', kind: 'wait', seconds: 3 },
        ]),
      );

    it.each([
      [20, 'big'],
      [7, 'mid'],
      [1, 'small'],
    ])('n=%s goes to %s (the first case that holds, else the default)', async (n, target) => {
      const d = new Driver(await branchy(), { n });
      d.start();
      expect(d.run.cursor).toMatchObject({ stepId: target, execId: `${target}#2`, phase: 'waiting' });
      expect(d.run.outputs['pick']).toEqual({ next: target });
      expect(d.last.executions[0]).toMatchObject({ id: 'pick#1', status: 'running' });
      expect(d.last.executions[1]).toMatchObject({ id: 'pick#1', status: 'succeeded', output: { next: target } });
    });

    it('a case to `end` finishes the workflow', async () => {
      const d = new Driver(await branchy(), { n: -1 });
      d.start();
      expect(d.run.outcome).toBe('succeeded');
      expect(d.last.executions.filter((e) => e.id === 'pick#1').map((e) => e.status)).toEqual(['running', 'succeeded']);
    });

    it('a step with next `end` finishes even when more steps follow', async () => {
      const d = new Driver(await branchy(), { n: 20 });
      d.start();
      d.fire(timerIds.wait(RUN_ID, 'big#2'));
      expect(d.run.outcome).toBe('succeeded');
      expect(d.run.outputs['big']).toEqual({ waitedUntil: T0.toISOString() });
    });

    it('a case holds only when its condition is exactly true', async () => {
      const d = new Driver(await compile(def([{ id: 'b', kind: 'branch', cases: [{ when: 'input.name', next: 'end' }], default: 'w' }, { id: 'w', kind: 'wait', seconds: 1 }])), { name: 'yes' });
      d.start();
      expect(d.run.outputs['b']).toEqual({ next: 'w' });
      expect(d.last.timeline.map((l) => l.kind)).toContain('branch_default');
    });

    it('a default of `end` finishes the workflow', async () => {
      const d = new Driver(await compile(def([{ id: 'b', kind: 'branch', cases: [{ when: 'false', next: 'w' }], default: 'end' }, { id: 'w', kind: 'wait', seconds: 1 }])));
      d.start();
      expect(d.run.outcome).toBe('succeeded');
    });

    it('a condition that fails to evaluate escalates with the state; the reviewer takes over or aborts', async () => {
      const wf = await branchy();
      const d = new Driver(wf, {});
      d.start();
      expect(d.review).toMatchObject({ kind: 'escalation', escalationCase: 'expression_failed', decisions: ['take_over', 'abort'], execId: 'pick#1' });
      expect(d.cmd('review_requested').reasons[0]).toMatchObject({ code: 'expression_failed' });
      expect(d.cmd('review_requested').reasons[0].message).toContain('input.n > 10');
      expect(d.last.executions.at(-1)).toMatchObject({ id: 'pick#1', status: 'escalated' });

      const abort = new Driver(wf, {});
      abort.start();
      abort.decide(ops(), 'abort');
      expect(abort.run.outcome).toBe('failed');
      expect(abort.run.reasons[0].code).toBe('escalation_aborted');

      d.decide(ops(), 'take_over', { output: { next: 'small' } });
      expect(d.run.overrides).toEqual(['pick']);
      expect(d.run.outputs['pick']).toEqual({ next: 'small' });
    });

    it('a branch looping back forever is stopped (too_many_steps)', async () => {
      const d = new Driver(await compile(def([{ id: 'spin', kind: 'branch', cases: [{ when: 'true', next: 'spin' }], default: 'end' }])));
      d.start();
      expect(d.run.outcome).toBe('failed');
      expect(d.run.reasons[0].code).toBe('too_many_steps');
      expect(d.run.executions).toBe(WORKFLOW_DEFAULTS.maxExecutions);
    });

    it('a loop through a wait step is stopped too, across inputs', async () => {
      const d = new Driver(await compile(def([{ id: 'w', kind: 'wait', seconds: 1 }, { id: 'again', kind: 'branch', cases: [{ when: 'true', next: 'w' }], default: 'end' }])));
      d.start();
      for (let i = 0; i < WORKFLOW_DEFAULTS.maxExecutions && d.run.status !== 'completed'; i++) d.fire(timerIds.wait(RUN_ID, d.execId));
      expect(d.run.outcome).toBe('failed');
      expect(d.run.reasons[0].code).toBe('too_many_steps');
    });
  });

  describe('wait', () => {
    it('sets a timer and goes on when it fires; other timers are ignored', async () => {
      const d = new Driver(await compile(def([{ id: 'w', kind: 'wait', seconds: 90 }, { id: 'm', kind: 'model' }])));
      d.start();
      expect(d.last.timers).toEqual([{ id: timerIds.wait(RUN_ID, 'w#1'), purpose: 'wait', dueAt: new Date(T0.getTime() + 90_000), payload: { execId: 'w#1' } }]);
      expect(d.run.cursor?.phase).toBe('waiting');
      expect(d.last.commands).toEqual([]);
      d.timer('wait', { execId: 'w#0' });
      expect(d.last.changed).toBe(false);
      expect(d.last.timeline[0].kind).toBe('input_ignored');
      d.timer('step_timeout', { execId: 'w#1' });
      expect(d.last.changed).toBe(false);
      d.after(90).fire(timerIds.wait(RUN_ID, 'w#1'));
      expect(d.run.outputs['w']).toEqual({ waitedUntil: '2025-03-01T08:01:30.000Z' });
      expect(d.last.cancelTimers).toContain(timerIds.wait(RUN_ID, 'w#1'));
      expect(d.cmd('call_model').execId).toBe('m#2');
      // the same timer again (a duplicate delivery) is ignored
      d.fire(timerIds.wait(RUN_ID, 'w#1'));
      expect(d.last.changed).toBe(false);
    });
  });
});


// -------------------------------------------------------------------------------------------------

describe('timeouts and retries', () => {
  const flaky = (retry: Record<string, unknown> = { maxAttempts: 3, backoffSeconds: 2 }) =>
    compile(def([{ id: 'a', kind: 'action', tool: 'erp.pay', arguments: { n: '1' }, timeoutSeconds: 30, retry }, { id: 'v', kind: 'verify', of: 'a' }]));

  it('a step times out after its timeoutSeconds, or the default', async () => {
    const d = new Driver(await flaky());
    d.start();
    expect(d.last.timers).toEqual([{ id: timerIds.step(RUN_ID, 'a#1'), purpose: 'step_timeout', dueAt: new Date(T0.getTime() + 30_000), payload: { execId: 'a#1' } }]);
    const e = new Driver(await compile(def([{ id: 'c', kind: 'context' }])));
    e.start();
    expect(e.last.timers[0].dueAt).toEqual(new Date(T0.getTime() + WORKFLOW_DEFAULTS.stepTimeoutSeconds * 1000));
  });

  it('retries a timed-out action with exponential backoff, a new execution id and the same idempotency key, then escalates', async () => {
    const d = new Driver(await flaky());
    d.start();
    d.after(30).fire(timerIds.step(RUN_ID, 'a#1'));
    expect(d.run.cursor).toMatchObject({ execId: 'a#1', phase: 'backoff', attempt: 1 });
    expect(d.run.status).toBe('running');
    expect(d.last.timers).toEqual([{ id: timerIds.retry(RUN_ID, 'a#1'), purpose: 'retry', dueAt: new Date(d.now.getTime() + 2000), payload: { execId: 'a#1' } }]);
    expect(d.last.executions).toEqual([expect.objectContaining({ id: 'a#1', status: 'failed', reasons: [expect.objectContaining({ code: 'step_timed_out' })] })]);
    expect(d.last.timeline.map((l) => l.kind)).toEqual(['retry_scheduled']);
    expect(d.last.commands).toEqual([]);

    // a late reply for the timed-out attempt is ignored while backing off
    d.decided('allow');
    expect(d.last.changed).toBe(false);
    expect(d.last.timeline[0].kind).toBe('reply_ignored');

    d.after(2).fire(timerIds.retry(RUN_ID, 'a#1'));
    expect(d.run.cursor).toMatchObject({ execId: 'a#2', attempt: 2, phase: 'deciding', idempotencyKey: `${RUN_ID}/a#1` });
    expect(d.cmd('propose_action').execId).toBe('a#2');
    // the first attempt's timers fire late: ignored
    d.fire(timerIds.step(RUN_ID, 'a#1'));
    expect(d.last.changed).toBe(false);
    d.fire(timerIds.retry(RUN_ID, 'a#1'));
    expect(d.last.changed).toBe(false);

    d.after(30).fire(timerIds.step(RUN_ID, 'a#2'));
    expect(d.last.timers[0]).toMatchObject({ id: timerIds.retry(RUN_ID, 'a#2'), dueAt: new Date(d.now.getTime() + 4000) });
    d.after(4).fire(timerIds.retry(RUN_ID, 'a#2'));
    expect(d.run.cursor).toMatchObject({ execId: 'a#3', attempt: 3 });

    d.decided('allow');
    expect(d.cmd('execute_tool')).toMatchObject({ execId: 'a#3', idempotencyKey: `${RUN_ID}/a#1` });
    d.executed('failed');
    // the last attempt failed: a human decides, with the tool's failure in the state
    expect(d.review).toMatchObject({ kind: 'escalation', escalationCase: 'tool_failed', decisions: ['retry', 'take_over', 'abort'], execId: 'a#3' });
    expect(d.run.status).toBe('escalated');
    expect(d.cmd('review_requested').state).toMatchObject({ tool: { name: 'erp.pay', executionId: 'ex-1' }, step: { id: 'a', attempt: 3 }, escalation: { case: 'tool_failed' } });
    expect(d.last.executions).toEqual([expect.objectContaining({ id: 'a#3', status: 'escalated' })]);
    expect(d.last.cancelTimers).toContain(timerIds.step(RUN_ID, 'a#3'));

    // the reviewer retries: attempts start over, the key stays
    d.decide(ops(), 'retry');
    expect(d.cmd('review_decided')).toMatchObject({ decision: 'approved', reason: 'retry' });
    expect(d.run.cursor).toMatchObject({ execId: 'a#4', attempt: 1, idempotencyKey: `${RUN_ID}/a#1` });
    d.decided('allow');
    expect(d.cmd('execute_tool').idempotencyKey).toBe(`${RUN_ID}/a#1`);
    d.executed();
    d.verified();
    expect(d.run.outcome).toBe('verified');
  });

  it('multiplies the backoff by the multiplier', async () => {
    const d = new Driver(await flaky({ maxAttempts: 4, backoffSeconds: 1, multiplier: 3 }));
    d.start();
    const waits: number[] = [];
    for (let i = 1; i <= 3; i++) {
      d.fire(timerIds.step(RUN_ID, d.execId));
      const t = d.last.timers[0];
      waits.push((t.dueAt.getTime() - d.now.getTime()) / 1000);
      d.fire(t.id);
    }
    expect(waits).toEqual([1, 3, 9]);
    d.fire(timerIds.step(RUN_ID, d.execId));
    expect(d.review.escalationCase).toBe('step_timed_out');
  });

  it('a failed tool call is retried like a timeout', async () => {
    const d = new Driver(await flaky({ maxAttempts: 2, backoffSeconds: 0 }));
    d.start();
    d.decided('allow');
    d.executed('failed');
    expect(d.run.cursor?.phase).toBe('backoff');
    expect(d.last.timers[0]).toMatchObject({ purpose: 'retry', dueAt: d.now });
    d.fire(timerIds.retry(RUN_ID, 'a#1'));
    d.decided('allow');
    d.executed('failed');
    expect(d.review.escalationCase).toBe('tool_failed');
  });

  it('no reply while the gateway executes counts as a failed tool call', async () => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 't', timeoutSeconds: 10 }])));
    d.start();
    d.decided('allow');
    expect(d.last.timers).toEqual([expect.objectContaining({ id: timerIds.step(RUN_ID, 'a#1'), dueAt: new Date(T0.getTime() + 10_000) })]);
    d.after(10).fire(timerIds.step(RUN_ID, 'a#1'));
    expect(d.review).toMatchObject({ escalationCase: 'tool_failed' });
  });

  it('a step timeout while a human reviews is ignored', async () => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 't', timeoutSeconds: 10 }])));
    d.start();
    d.decided('require_approval');
    d.fire(timerIds.step(RUN_ID, 'a#1'));
    expect(d.last.changed).toBe(false);
    expect(d.run.review).not.toBeNull();
  });

  it('a timed-out model step escalates; a reviewer takes it over and the run ends succeeded, not verified', async () => {
    const d = new Driver(await compile(def([{ id: 'm', kind: 'model', outputSchema: { type: 'object', required: ['a'] } }, { id: 'w', kind: 'wait', seconds: 1 }])));
    d.start();
    d.after(120).fire(timerIds.step(RUN_ID, 'm#1'));
    expect(d.review).toMatchObject({ escalationCase: 'step_timed_out', decisions: ['retry', 'take_over', 'abort'] });
    expectRefused(d.decide(ops(), 'take_over'), 400, 'output_required');
    expectRefused(d.decide(ops(), 'take_over', { output: { b: 1 } }), 400, 'output_invalid');
    d.decide(ops(), 'take_over', { output: { a: 1 } });
    expect(d.cmd('review_decided')).toMatchObject({ decision: 'taken_over', detail: { a: 1 } });
    expect(d.run.outputs['m']).toEqual({ a: 1 });
    expect(d.run.overrides).toEqual(['m']);
    d.fire(timerIds.wait(RUN_ID, 'w#2'));
    expect(d.run.outcome).toBe('succeeded');
    expect(d.run.reasons[0].code).toBe('completed_with_reviewer_overrides');
  });

  it('a tool step taken over by a reviewer is not verified: the run continues and ends succeeded', async () => {
    const d = new Driver(await flaky({ maxAttempts: 1, backoffSeconds: 0 }));
    d.start();
    d.decided('allow');
    d.executed('failed');
    d.decide(ops(), 'take_over', { output: { paidManually: true } });
    expect(d.run.overrides).toEqual(['a']);
    expect(d.run.outputs['v']).toEqual({ verdict: 'taken_over', of: 'a' });
    expect(d.run.outcome).toBe('succeeded');
    expect(d.kinds()).not.toContain('verify');
  });

  it('abort of a failed tool ends the run failed', async () => {
    const d = new Driver(await flaky({ maxAttempts: 1, backoffSeconds: 0 }));
    d.start();
    d.decided('allow');
    d.executed('failed');
    d.decide(ops(), 'abort', { reason: 'vendor down' });
    expect(d.run.outcome).toBe('failed');
    expect(d.run.reasons).toEqual([{ code: 'escalation_aborted', message: 'olga aborted it: vendor down' }]);
    expect(d.last.executions).toEqual([expect.objectContaining({ id: 'a#1', status: 'cancelled' })]);
  });
});

describe('model edge cases', () => {
  const invoice = { invoiceId: 'inv-001', amount: 1200, currency: 'EUR' };
  const finance = human('fiona', ['finance-ops']);

  async function toAssess() {
    const d = new Driver(await compile(INVOICE_EXCEPTION_WORKFLOW), invoice);
    d.start();
    d.retrieved();
    return d;
  }

  it('output failing its schema is retried, then escalated with the problems', async () => {
    const d = await toAssess();
    d.modelStructured({ recommendation: 'maybe' });
    expect(d.run.cursor?.phase).toBe('backoff');
    d.fire(timerIds.retry(RUN_ID, 'assess#2'));
    expect(d.cmd('call_model').execId).toBe('assess#3');
    d.send({ kind: 'model_completed', execId: 'assess#3', model: 'm', confidence: 0.9, proposal: { kind: 'no_action', rationale: 'x' } });
    expect(d.review).toMatchObject({ escalationCase: 'model_output_invalid', decisions: ['supply', 'retry', 'abort'], levels: INVOICE_EXCEPTION_WORKFLOW.escalation.levels, onExpiry: 'escalate' });
    expect(d.cmd('review_requested').state).toMatchObject({ model: { output: null, problems: [{ field: '/', problem: 'no structured output' }] } });
    expect(d.cmd('review_requested').reasons[0].code).toBe('model_output_invalid');
  });

  it('a reviewer supplies a valid output and the run continues from it', async () => {
    const d = await toAssess();
    d.modelStructured({ recommendation: 'maybe' });
    d.fire(timerIds.retry(RUN_ID, 'assess#2'));
    d.modelStructured({});
    expect(d.review.escalationCase).toBe('model_output_invalid');
    expectRefused(d.decide(finance, 'supply', { output: { recommendation: 'pay' } }), 400, 'output_invalid');
    expectRefused(d.decide(finance, 'approve'), 400, 'decision_not_allowed');
    d.decide(finance, 'supply', { output: { recommendation: 'pay', amount: 1000, currency: 'EUR' } });
    expect(d.cmd('review_decided').decision).toBe('supplied');
    expect(d.run.overrides).toEqual([]);
    expect(d.cmd('propose_action').arguments).toEqual({ invoiceId: 'inv-001', amount: 1000, currency: 'EUR' });
  });

  it('a reviewer retries the model, or aborts', async () => {
    const d = await toAssess();
    d.modelStructured({});
    d.fire(timerIds.retry(RUN_ID, 'assess#2'));
    d.modelStructured({});
    d.decide(finance, 'retry');
    expect(d.cmd('call_model')).toMatchObject({ execId: 'assess#4' });
    expect(d.run.cursor?.attempt).toBe(1);

    const e = await toAssess();
    e.modelStructured({});
    e.fire(timerIds.retry(RUN_ID, 'assess#2'));
    e.modelStructured({});
    e.decide(finance, 'abort');
    expect(e.run.outcome).toBe('failed');
  });

  describe('confidence below the threshold', () => {
    async function lowConfidence() {
      const d = await toAssess();
      d.modelStructured({ recommendation: 'pay', amount: 1200, currency: 'EUR' }, 0.4);
      expect(d.review).toMatchObject({ escalationCase: 'model_low_confidence', decisions: ['approve', 'supply', 'retry', 'abort'] });
      expect(d.cmd('review_requested').reasons[0].message).toBe("the model's confidence 0.4 is below the step's threshold 0.6");
      expect(d.cmd('review_requested').state).toMatchObject({ model: { confidence: 0.4, output: { recommendation: 'pay' } } });
      expect(d.kinds()).not.toContain('propose_action');
      return d;
    }

    it('exactly at the threshold goes on', async () => {
      const d = await toAssess();
      d.modelStructured({ recommendation: 'pay', amount: 1200, currency: 'EUR' }, 0.6);
      expect(d.cmd('propose_action')).toBeDefined();
    });

    it('approve accepts the model answer', async () => {
      const d = await lowConfidence();
      d.decide(finance, 'approve');
      expect(d.cmd('propose_action').arguments).toEqual({ invoiceId: 'inv-001', amount: 1200, currency: 'EUR' });
      expect(d.run.overrides).toEqual([]);
    });

    it('supply replaces it (validated against the schema)', async () => {
      const d = await lowConfidence();
      expectRefused(d.decide(finance, 'supply', { output: { amount: -1 } }), 400, 'output_invalid');
      d.decide(finance, 'supply', { output: { recommendation: 'hold', amount: 1, currency: 'EUR' } });
      expect(d.run.outcome).toBe('succeeded');
      expect(d.run.outputs['route']).toEqual({ next: 'end' });
    });

    it('retry asks the model again', async () => {
      const d = await lowConfidence();
      d.decide(finance, 'retry');
      expect(d.cmd('call_model').execId).toBe('assess#3');
      d.modelStructured({ recommendation: 'pay', amount: 1200, currency: 'EUR' }, 0.95);
      expect(d.cmd('propose_action')).toBeDefined();
    });

    it('abort ends the run failed', async () => {
      const d = await lowConfidence();
      d.decide(finance, 'abort');
      expect(d.run.outcome).toBe('failed');
    });
  });

  it('a tool-proposing model step below its threshold escalates too, and approve proceeds with its proposal', async () => {
    const d = new Driver(await compile(def([{ id: 'm', kind: 'model', minConfidence: 0.8 }, { id: 'a', kind: 'action', from: 'm' }])));
    d.start();
    d.modelProposes('crm.update', { id: 1 }, 0.5);
    expect(d.review.escalationCase).toBe('model_low_confidence');
    d.decide(ops(), 'approve');
    expect(d.cmd('propose_action')).toMatchObject({ execId: 'a#2', tool: 'crm.update', arguments: { id: 1 }, rationale: 'because' });
  });
});

describe('approvals', () => {
  const LEVELS = [
    { name: 'l1', groups: ['ops'], slaSeconds: 600 },
    { name: 'l2', groups: ['leads'], slaSeconds: 1200 },
    { name: 'l3', groups: ['execs'], slaSeconds: 1800 },
  ];
  const approvalFlow = (approval: Partial<ReviewSpec> = {}) =>
    compile(def([{ id: 'pay', kind: 'action', tool: 'erp.pay', arguments: { amount: 'input.amount', to: '"acme"' }, approval: { levels: LEVELS, ...approval } }, { id: 'v', kind: 'verify', of: 'pay' }]));

  async function held(approval: Partial<ReviewSpec> = {}, approvers?: string[], amount = 100) {
    const d = new Driver(await approvalFlow(approval), { amount });
    d.start();
    d.decided('require_approval', approvers ? { approvers } : {});
    return d;
  }

  describe('routes pick the starting level', () => {
    const routes = [
      { when: 'action.arguments.amount > 50000', level: 3 },
      { when: 'action.arguments.amount > 5000', level: 2 },
    ];
    it.each([
      [100, 1, ['ops', 'leads', 'execs']],
      [5001, 2, ['leads', 'execs']],
      [50_001, 3, ['execs']],
    ])('amount %s starts at level %s', async (amount, level, groups) => {
      const d = await held({ routes }, undefined, amount);
      expect(d.review.level).toBe(level);
      expect(d.cmd('notify').groups).toEqual(groups);
      expect(d.review.dueAt).toBe(new Date(T0.getTime() + LEVELS[level - 1].slaSeconds * 1000).toISOString());
    });

    it('a route that cannot be evaluated does not apply', async () => {
      const d = await held({ routes: [{ when: 'action.arguments.missing > 1', level: 3 }] });
      expect(d.review.level).toBe(1);
    });
  });

  it('approve emits the action again bound to its digest and reviewer', async () => {
    const d = await held();
    const digest = approvalDigest({ agentId: AGENT, agentVersion: '1.0.0', tool: 'erp.pay', arguments: { amount: 100, to: 'acme' } });
    expect(d.review.digest).toBe(digest);
    d.decide(human('otto', ['ops', 'other'], { name: 'Otto' }), 'approve');
    expect(d.cmd('propose_action').approval).toEqual({ reviewId: 'r1', approvalId: 'r1#1', digest, reviewer: { id: 'otto', name: 'Otto', groups: ['ops', 'other'] }, decidedAt: T0.toISOString() });
    expect(d.last.timeline.map((l) => l.kind)).toEqual(['review_approved']);
  });

  it('edit-and-approve binds the approval to the new digest, and policy decides the edited action', async () => {
    const d = await held();
    const before = d.review.digest;
    expectRefused(d.decide(ops(), 'edit'), 400, 'arguments_required');
    d.decide(ops(), 'edit', { arguments: { amount: 90, to: 'acme' } });
    const edited = approvalDigest({ agentId: AGENT, agentVersion: '1.0.0', tool: 'erp.pay', arguments: { amount: 90, to: 'acme' } });
    expect(edited).not.toBe(before);
    expect(d.cmd('propose_action')).toMatchObject({ tool: 'erp.pay', arguments: { amount: 90, to: 'acme' }, approval: { digest: edited } });
    expect(d.cmd('review_decided')).toMatchObject({ decision: 'edited', digest: edited, detail: { arguments: { amount: 90, to: 'acme' } } });
    expect(d.run.cursor?.action).toMatchObject({ digest: edited, arguments: { amount: 90, to: 'acme' } });
    expect(d.last.executions).toEqual([expect.objectContaining({ id: 'pay#1', inputDigest: edited, status: 'running' })]);
    d.decided('deny');
    expect(d.run.outcome).toBe('denied');
  });

  it('reject ends the run rejected', async () => {
    const d = await held();
    d.decide(ops(), 'reject');
    expect(d.run.outcome).toBe('rejected');
    expect(d.run.reasons[0].code).toBe('approval_rejected');
    expect(d.kinds()).toEqual(['review_decided', 'complete']);
  });

  describe('refusals leave the run unchanged', () => {
    it.each([
      ['the agent itself', human('agent-7', ['ops'], { agentId: AGENT }), 403, 'reviewer_is_agent'],
      ['any agent principal', human('bot', ['ops'], { roles: ['reviewer', 'agent'] }), 403, 'reviewer_is_agent'],
      ['the requester', human(REQUESTER, ['ops']), 403, 'reviewer_is_requester'],
      ['a principal without the reviewer role', human('pat', ['ops'], { roles: ['operator'] }), 403, 'role_required'],
      ['a reviewer in no group of the item', human('gus', ['marketing']), 403, 'reviewer_not_in_group'],
    ])('%s', async (_what, reviewer, status, code) => {
      const d = await held();
      expectRefused(d.decide(reviewer, 'approve'), status, code);
      expect(d.run.review?.id).toBe('r1');
    });

    it('a reviewer of a higher level may decide at a lower one', async () => {
      const d = await held();
      d.decide(human('eve', ['execs']), 'approve');
      expect(d.last.refused).toBeUndefined();
    });

    it('after an escalation the lower level may no longer decide, the current one may', async () => {
      const d = await held();
      d.after(600).fire(timerIds.sla('r1', 1));
      expect(d.review.level).toBe(2);
      expectRefused(d.decide(ops(), 'approve'), 403, 'reviewer_not_in_group');
      expect(d.last.refused?.message).toContain('level 2 of 3');
      d.decide(human('lee', ['leads']), 'approve');
      expect(d.cmd('review_decided')).toMatchObject({ decision: 'approved', level: 2 });
    });

    it("policy's approver groups narrow who may decide", async () => {
      const d = await held({}, ['leads']);
      expect(d.review.policyApprovers).toEqual(['leads']);
      expect(d.cmd('notify').groups).toEqual(['leads']);
      expectRefused(d.decide(ops(), 'approve'), 403, 'reviewer_not_in_group');
      d.decide(human('lee', ['leads']), 'approve');
      expect(d.last.refused).toBeUndefined();
    });

    it('a decision the item does not allow', async () => {
      const d = await held();
      expectRefused(d.decide(ops(), 'supply', { input: {} }), 400, 'decision_not_allowed');
      expectRefused(d.decide(ops(), 'take_over', { output: {} }), 400, 'decision_not_allowed');
    });

    it('an item that is not open: unknown, already decided, or of a finished run', async () => {
      const d = await held();
      expectRefused(d.send({ kind: 'review', reviewId: 'r9', reviewer: ops(), decision: 'approve' }), 409, 'review_closed');
      d.decide(ops(), 'approve');
      expectRefused(d.send({ kind: 'review', reviewId: 'r1', reviewer: ops('other'), decision: 'approve' }), 409, 'review_closed');
      d.decided('deny');
      expectRefused(d.send({ kind: 'review', reviewId: 'r1', reviewer: ops(), decision: 'reject' }), 409, 'review_closed');
    });

    it('an item past its expiry, before the expiry timer fired', async () => {
      const d = await held({ expiresAfterSeconds: 300 });
      expect(d.review.expiresAt).toBe(new Date(T0.getTime() + 300_000).toISOString());
      d.after(299).decide(ops(), 'approve');
      expect(d.last.refused).toBeUndefined();
      const e = await held({ expiresAfterSeconds: 300 });
      expectRefused(e.after(300).decide(ops(), 'approve'), 409, 'review_expired');
    });
  });

  describe('SLA and expiry', () => {
    it('warns when the SLA is near, once per level', async () => {
      const d = await held();
      const warning = d.timersSet.get(timerIds.warning('r1', 1))!;
      expect(warning.dueAt).toEqual(new Date(T0.getTime() + 480_000));
      d.after(480).fire(warning.id);
      expect(d.last.commands).toEqual([{ kind: 'notify', reviewId: 'r1', reviewKind: 'approval', groups: ['ops', 'leads', 'execs'], event: 'sla_near', level: 1, dueAt: d.review.dueAt }]);
      expect(d.last.timeline[0].kind).toBe('review_sla_near');
      d.after(120).fire(timerIds.sla('r1', 1));
      // the first level's warning again, after the item moved up: ignored
      d.fire(warning.id);
      expect(d.last.commands).toEqual([]);
      expect(d.last.changed).toBe(false);
    });

    it('sets no warning when the fraction is not between 0 and 1', async () => {
      const wf = await approvalFlow();
      const d = new Driver(wf, { amount: 1 });
      d.start();
      const r = advance(wf, d.run, { kind: 'action_decided', execId: 'pay#1', effect: 'require_approval', reasons: [], policyVersion: 'p' }, { now: T0, newId: () => 'rx', slaWarningFraction: 0 });
      expect(r.timers.map((t) => t.purpose)).toEqual(['review_sla']);
      const r2 = advance(wf, d.run, { kind: 'action_decided', execId: 'pay#1', effect: 'require_approval', reasons: [], policyVersion: 'p' }, { now: T0, newId: () => 'rx', slaWarningFraction: 0.5 });
      expect(r2.timers.find((t) => t.purpose === 'review_warning')?.dueAt).toEqual(new Date(T0.getTime() + 300_000));
    });

    it('an SLA that runs out moves the item up a level, then up again, then expires after the last', async () => {
      const d = await held();
      d.after(600).fire(timerIds.sla('r1', 1));
      expect(d.review).toMatchObject({ level: 2, dueAt: new Date(d.now.getTime() + 1_200_000).toISOString() });
      expect(d.run.status).toBe('awaiting_approval');
      expect(d.last.commands).toEqual([
        { kind: 'review_decided', reviewId: 'r1', reviewKind: 'approval', stepId: 'pay#1', decision: 'escalated', reason: 'nobody decided within the SLA', level: 2 },
        { kind: 'notify', reviewId: 'r1', reviewKind: 'approval', groups: ['leads', 'execs'], event: 'escalated', level: 2, dueAt: d.review.dueAt },
      ]);
      expect(d.last.cancelTimers).toEqual([timerIds.sla('r1', 1), timerIds.warning('r1', 1)]);
      expect(d.last.timers.map((t) => t.id)).toEqual([timerIds.sla('r1', 2), timerIds.warning('r1', 2)]);
      expect(d.last.timeline[0]).toMatchObject({ kind: 'review_escalated', detail: { level: 2, groups: ['leads', 'execs'] } });

      // the first level's SLA delivered twice: ignored
      d.fire(timerIds.sla('r1', 1));
      expect(d.last.changed).toBe(false);
      expect(d.review.level).toBe(2);

      d.after(1200).fire(timerIds.sla('r1', 2));
      expect(d.review.level).toBe(3);
      d.after(1800).fire(timerIds.sla('r1', 3));
      expect(d.run.outcome).toBe('expired');
      expect(d.kinds()).toEqual(['review_decided', 'complete']);
      expect(d.cmd('review_decided')).toMatchObject({ decision: 'expired', level: 3 });
      expect(d.run.reasons[0]).toMatchObject({ code: 'approval_expired' });
      expect(d.run.reasons[0].message).toContain('nothing is approved by default');
      expect(d.last.executions).toEqual([expect.objectContaining({ id: 'pay#1', status: 'cancelled' })]);
    });

    it('expiry with onExpiry fail ends the run expired whatever levels are left', async () => {
      const d = await held({ expiresAfterSeconds: 300, onExpiry: 'fail' });
      d.after(300).fire(timerIds.expiry('r1'));
      expect(d.run.outcome).toBe('expired');
      expect(d.cmd('review_decided')).toMatchObject({ decision: 'expired', level: 1 });
    });

    it('expiry with onExpiry escalate moves the item up with a new expiry, and fails closed at the last level', async () => {
      const d = await held({ expiresAfterSeconds: 300, onExpiry: 'escalate' });
      d.after(300).fire(timerIds.expiry('r1'));
      expect(d.review).toMatchObject({ level: 2, expiresAt: new Date(d.now.getTime() + 1_200_000).toISOString() });
      expect(d.cmd('review_decided')).toMatchObject({ decision: 'escalated', reason: 'the item expired at its level', level: 2 });
      expect(d.last.timers.map((t) => t.id)).toEqual([timerIds.expiry('r1'), timerIds.sla('r1', 2), timerIds.warning('r1', 2)]);
      d.after(1200).fire(timerIds.expiry('r1'));
      expect(d.review.level).toBe(3);
      d.after(1800).fire(timerIds.expiry('r1'));
      expect(d.run.outcome).toBe('expired');
    });

    it('timers of a decided item are ignored', async () => {
      const d = await held({ expiresAfterSeconds: 300 });
      d.decide(ops(), 'approve');
      for (const id of [timerIds.sla('r1', 1), timerIds.warning('r1', 1), timerIds.expiry('r1')]) {
        d.fire(id);
        expect(d.last.changed).toBe(false);
        expect(d.last.commands).toEqual([]);
      }
      expect(d.run.cursor?.phase).toBe('deciding');
    });
  });
});

describe('escalation items', () => {
  it('an escalation that nobody decides expires and fails the run closed', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context', query: 'input.q' }])));
    d.start();
    expect(d.review.escalationCase).toBe('expression_failed');
    d.after(600).fire(timerIds.sla('r1', 1));
    expect(d.run.outcome).toBe('expired');
    expect(d.run.reasons[0].code).toBe('escalation_expired');
    expect(d.run.reasons[0].message).toContain('escalation (expression_failed)');
  });

  it('routes of the escalation spec pick its level by the input', async () => {
    const escalation: ReviewSpec = { levels: [{ name: 'a', groups: ['ops'], slaSeconds: 60 }, { name: 'b', groups: ['leads'], slaSeconds: 60 }], routes: [{ when: 'input.vip == true', level: 2 }] };
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context', query: 'input.q' }], { escalation })), { vip: true });
    d.start();
    expect(d.review.level).toBe(2);
  });
});

describe('verification', () => {
  const acted = async (verifyRetry?: Record<string, unknown>) => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 't' }, { id: 'v', kind: 'verify', of: 'a', ...(verifyRetry ? { retry: verifyRetry } : {}) }])));
    d.start();
    d.decided('allow');
    d.executed('succeeded', claim('p-1'));
    return d;
  };

  it('a mismatch escalates with the claim and what the system of record holds', async () => {
    const d = await acted();
    d.verified('mismatch');
    expect(d.review).toMatchObject({ escalationCase: 'verification_mismatch', decisions: ['retry', 'take_over', 'abort'], execId: 'v#2' });
    expect(d.cmd('review_requested').state).toMatchObject({ verification: { of: 'a', claim: claim('p-1'), verdict: 'mismatch', observed: { status: 'open' } } });
    expect(d.last.timeline.map((l) => l.kind)).toEqual(['verification_mismatch', 'escalation_requested']);
  });

  it('retry verifies again and can end verified', async () => {
    const d = await acted();
    d.verified('mismatch');
    d.decide(ops(), 'retry');
    expect(d.cmd('verify')).toMatchObject({ kind: 'verify', execId: 'v#3', claim: claim('p-1'), call: { tool: 't', executionId: 'ex-1' } });
    d.verified('confirmed');
    expect(d.run.outcome).toBe('verified');
  });

  it('take over: the reviewer records the outcome, the run ends succeeded, never verified', async () => {
    const d = await acted();
    d.verified('not_found');
    d.decide(ops(), 'take_over', { output: { checkedBy: 'phone' } });
    expect(d.run.claims['a'].verified).toBe('reviewer');
    expect(d.run.overrides).toEqual(['v']);
    expect(d.run.outcome).toBe('succeeded');
    expect(d.run.reasons[0]).toMatchObject({ code: 'completed_with_reviewer_overrides' });
  });

  it('abort ends the run verification_failed', async () => {
    const d = await acted();
    d.verified('unsupported');
    d.decide(ops(), 'abort');
    expect(d.run.outcome).toBe('verification_failed');
  });

  it('a verify step with a retry policy retries before escalating', async () => {
    const d = await acted({ maxAttempts: 2, backoffSeconds: 5 });
    d.verified('mismatch');
    expect(d.run.cursor?.phase).toBe('backoff');
    d.after(5).fire(timerIds.retry(RUN_ID, 'v#2'));
    expect(d.cmd('verify').execId).toBe('v#3');
    d.verified('mismatch');
    expect(d.review.escalationCase).toBe('verification_mismatch');
  });
});

describe('the run deadline', () => {
  it('ends the run timed_out and withdraws an open review', async () => {
    const d = new Driver(await compile(def([{ id: 'k', kind: 'checkpoint', review: { ...ESCALATION, expiresAfterSeconds: 7200 } }])));
    d.start();
    d.after(3600).timer('run_deadline', {}, timerIds.deadline(RUN_ID));
    expect(d.run).toMatchObject({ status: 'completed', outcome: 'timed_out', review: null, cursor: null });
    expect(d.run.reasons[0]).toMatchObject({ code: 'deadline_passed' });
    expect(d.run.reasons[0].message).toContain('at step k');
    expect(d.cmd('review_decided')).toMatchObject({ reviewId: 'r1', decision: 'withdrawn', reason: 'the run ended timed_out' });
    expect(d.last.cancelTimers).toEqual(expect.arrayContaining([timerIds.expiry('r1'), timerIds.sla('r1', 1), timerIds.warning('r1', 1), timerIds.deadline(RUN_ID)]));
    expect(d.last.executions).toEqual([expect.objectContaining({ id: 'k#1', status: 'cancelled' })]);
    expectRefused(d.decide(ops(), 'approve'), 409, 'review_closed');
  });

  it('ends a run with a step in flight; its late reply is ignored', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }])));
    d.start();
    d.timer('run_deadline', {});
    expect(d.run.outcome).toBe('timed_out');
    expect(d.last.cancelTimers).toContain(timerIds.step(RUN_ID, 'c#1'));
    d.send({ kind: 'context_retrieved', execId: 'c#1', citations: [], withheld: 0 });
    expect(d.last.changed).toBe(false);
    expect(d.last.timeline[0]).toMatchObject({ kind: 'input_ignored', detail: { reason: 'run is timed_out' } });
  });

  it('ends a paused run too', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }])));
    d.send({ kind: 'pause', reason: { code: 'agent_suspended', message: 'suspended' } });
    d.start();
    d.timer('run_deadline', {});
    expect(d.run.outcome).toBe('timed_out');
  });
});

describe('cancel', () => {
  it('ends the run cancelled, withdrawing its review; later inputs are ignored', async () => {
    const d = new Driver(await compile(def([{ id: 'k', kind: 'checkpoint', review: ESCALATION }])));
    d.start();
    d.send({ kind: 'cancel', reason: { code: 'cancelled_by_operator', message: 'no longer needed' } });
    expect(d.run).toMatchObject({ outcome: 'cancelled', reasons: [{ code: 'cancelled_by_operator', message: 'no longer needed' }] });
    expect(d.kinds()).toEqual(['review_decided', 'complete']);
    d.send({ kind: 'cancel', reason: { code: 'again', message: 'again' } });
    expect(d.last.changed).toBe(false);
    d.send({ kind: 'resume' });
    expect(d.last.changed).toBe(false);
    d.timer('run_deadline', {});
    expect(d.last.changed).toBe(false);
    expect(d.run.outcome).toBe('cancelled');
  });

  it('cancels a run that never started', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }])));
    d.send({ kind: 'cancel', reason: { code: 'x', message: 'x' } });
    expect(d.run.outcome).toBe('cancelled');
    d.start();
    expect(d.last.changed).toBe(false);
    expect(d.last.commands).toEqual([]);
  });
});

describe('pause and resume', () => {
  const suspended = { kind: 'pause' as const, reason: { code: 'agent_suspended', message: 'the agent was suspended' } };

  it('a step in flight finishes; the run stops before the next one and resumes there', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }, { id: 'm', kind: 'model' }])));
    d.start();
    d.send(suspended);
    expect(d.run).toMatchObject({ paused: true, status: 'running' });
    expect(d.last.commands).toEqual([]);
    d.retrieved();
    expect(d.run).toMatchObject({ status: 'paused', cursor: { stepId: 'm', phase: 'pending' } });
    expect(d.last.commands).toEqual([]);
    expect(d.last.timeline.map((l) => l.kind)).toContain('run_paused_before_step');
    d.send(suspended);
    expect(d.last.changed).toBe(false);
    d.send({ kind: 'resume' });
    expect(d.run).toMatchObject({ paused: false, status: 'running', cursor: { stepId: 'm', execId: 'm#2' } });
    expect(d.cmd('call_model').execId).toBe('m#2');
    d.send({ kind: 'resume' });
    expect(d.last.changed).toBe(false);
  });

  it('a run paused before it starts starts on resume', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }])));
    d.send(suspended);
    d.start();
    expect(d.run.status).toBe('paused');
    expect(d.last.commands).toEqual([]);
    d.send({ kind: 'resume' });
    expect(d.cmd('retrieve').execId).toBe('c#1');
  });

  it('withdraws an open approval; on resume the action is proposed again with the same idempotency key', async () => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 't' }])));
    d.start();
    d.decided('require_approval');
    d.send(suspended);
    expect(d.run).toMatchObject({ status: 'paused', review: null, cursor: { stepId: 'a', phase: 'pending', idempotencyKey: `${RUN_ID}/a#1` } });
    expect(d.cmd('review_decided')).toMatchObject({ reviewId: 'r1', decision: 'withdrawn', reason: 'the agent was suspended' });
    expect(d.last.cancelTimers).toEqual(expect.arrayContaining([timerIds.sla('r1', 1), timerIds.warning('r1', 1)]));
    expect(d.last.executions).toEqual([expect.objectContaining({ id: 'a#1', status: 'cancelled' })]);
    expectRefused(d.decide(ops(), 'approve'), 409, 'review_closed');
    expectRefused(d.send({ kind: 'review', reviewId: 'r1', reviewer: ops(), decision: 'approve' }), 409, 'review_closed');
    // a late SLA of the withdrawn item does nothing
    d.fire(timerIds.sla('r1', 1));
    expect(d.last.changed).toBe(false);

    d.send({ kind: 'resume' });
    expect(d.run.cursor).toMatchObject({ execId: 'a#2', phase: 'deciding', idempotencyKey: `${RUN_ID}/a#1` });
    expect(d.cmd('propose_action').execId).toBe('a#2');
    d.decided('allow');
    expect(d.cmd('execute_tool').idempotencyKey).toBe(`${RUN_ID}/a#1`);
  });

  it('withdraws an open escalation; resume runs the step again', async () => {
    const d = new Driver(await compile(def([{ id: 'm', kind: 'model', outputSchema: { type: 'object', required: ['x'] } }])));
    d.start();
    d.modelStructured({});
    expect(d.review.escalationCase).toBe('model_output_invalid');
    d.send(suspended);
    expect(d.run.status).toBe('paused');
    expect(d.last.executions).toEqual([]);
    d.send({ kind: 'resume' });
    expect(d.cmd('call_model').execId).toBe('m#2');
  });

  it('withdraws an intent held for approval; resume asks again with the same reasons, never skipping the hold', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }])));
    const reasons = [{ code: 'high_risk', message: 'high risk' }];
    d.send({ kind: 'intent_held', effect: 'require_approval', reasons, policyVersion: 'p1' });
    expect(d.run.heldIntent).toEqual({ effect: 'require_approval', reasons, policyVersion: 'p1' });
    d.send(suspended);
    expect(d.run).toMatchObject({ status: 'paused', review: null, cursor: null });
    expect(d.cmd('review_decided')).toMatchObject({ reviewId: 'r1', reviewKind: 'approval', stepId: 'intent', decision: 'withdrawn', reason: 'the agent was suspended' });
    expect(d.last.cancelTimers).toEqual(expect.arrayContaining([timerIds.sla('r1', 1)]));
    expectRefused(d.send({ kind: 'review', reviewId: 'r1', reviewer: ops(), decision: 'approve' }), 409, 'review_closed');

    d.send({ kind: 'resume' });
    expect(d.kinds()).toEqual(['review_requested', 'notify']);
    expect(d.run).toMatchObject({ status: 'awaiting_approval', cursor: null, review: { id: 'r2', kind: 'approval', escalationCase: 'intent_held' } });
    expect(d.cmd('review_requested')).toMatchObject({ reasons, state: { policy: { effect: 'require_approval', reasons, policyVersion: 'p1' } } });
    d.decide(ops(), 'approve');
    expect(d.run.heldIntent).toBeUndefined();
    expect(d.cmd('retrieve').execId).toBe('c#1');
    // once the hold is lifted, a later pause and resume do not ask for it again
    d.send(suspended);
    d.retrieved();
    d.send({ kind: 'resume' });
    expect(d.run.outcome).toBe('succeeded');
  });

  it('an intent held while the run is paused is asked for on resume, not before', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }])));
    d.send(suspended);
    d.send({ kind: 'intent_held', effect: 'escalate', reasons: [{ code: 'odd', message: 'odd' }], policyVersion: 'p1' });
    expect(d.kinds()).toEqual([]);
    expect(d.run).toMatchObject({ status: 'paused', review: null, cursor: null, heldIntent: { effect: 'escalate' } });
    expect(d.last.timeline.map((l) => l.kind)).toEqual(['run_paused_in_step']);
    d.send({ kind: 'resume' });
    expect(d.run).toMatchObject({ status: 'escalated', review: { id: 'r1', kind: 'escalation', escalationCase: 'intent_held' } });
  });

  it('withdraws an input_incomplete escalation; resume checks the input again', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }], { inputSchema: { type: 'object', required: ['invoiceId'] } })));
    d.start();
    expect(d.review.escalationCase).toBe('input_incomplete');
    d.send(suspended);
    expect(d.cmd('review_decided')).toMatchObject({ reviewId: 'r1', decision: 'withdrawn' });
    expect(d.run).toMatchObject({ status: 'paused', review: null, cursor: null });
    d.send({ kind: 'resume' });
    expect(d.run.review).toMatchObject({ id: 'r2', escalationCase: 'input_incomplete' });
    d.decide(ops(), 'supply', { input: { invoiceId: 'inv-1' } });
    expect(d.cmd('retrieve').execId).toBe('c#1');
  });

  it('an approval policy asks for while the run is paused is not opened: the action is proposed again on resume', async () => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 't' }])));
    d.start();
    d.send(suspended);
    d.decided('require_approval');
    expect(d.kinds()).toEqual([]);
    expect(d.run).toMatchObject({ status: 'paused', review: null, cursor: { stepId: 'a', execId: 'a#1', phase: 'pending' } });
    expect(d.last.executions).toEqual([expect.objectContaining({ id: 'a#1', status: 'cancelled', reasons: [expect.objectContaining({ code: 'run_paused' })] })]);
    expect(d.last.timeline.map((l) => l.kind)).toEqual(['action_require_approval', 'run_paused_in_step']);
    d.send({ kind: 'resume' });
    expect(d.cmd('propose_action')).toMatchObject({ execId: 'a#2' });
    d.decided('require_approval');
    expect(d.run.review).toMatchObject({ id: 'r1', kind: 'approval' });
  });

  it('a grant that arrives while the run is paused is not used; resume proposes the action again without an earlier approval', async () => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 't' }])));
    d.start();
    d.decided('require_approval');
    d.decide(ops(), 'approve');
    expect(d.cmd('propose_action').approval).toMatchObject({ reviewId: 'r1' });
    d.send(suspended);
    d.decided('allow');
    expect(d.kinds()).toEqual([]);
    expect(d.run).toMatchObject({ status: 'paused', cursor: { execId: 'a#1', phase: 'pending' } });
    expect(d.last.cancelTimers).toContain(timerIds.step(RUN_ID, 'a#1'));
    d.send({ kind: 'resume' });
    const proposed = d.cmd('propose_action');
    expect(proposed.execId).toBe('a#2');
    // approvals given before the suspension are not carried over: policy and a reviewer decide again
    expect(proposed.approval).toBeUndefined();
    d.decided('allow');
    expect(d.cmd('execute_tool').idempotencyKey).toBe(`${RUN_ID}/a#1`);
  });

  it('an escalation while the run is paused is not opened; resume runs the step again', async () => {
    const d = new Driver(await compile(def([{ id: 'm', kind: 'model', outputSchema: { type: 'object', required: ['x'] } }])));
    d.start();
    d.send(suspended);
    d.modelStructured({});
    expect(d.kinds()).toEqual([]);
    expect(d.run).toMatchObject({ status: 'paused', review: null, cursor: { stepId: 'm', phase: 'pending' } });
    expect(d.last.executions).toEqual([expect.objectContaining({ id: 'm#1', status: 'escalated' })]);
    d.send({ kind: 'resume' });
    expect(d.cmd('call_model').execId).toBe('m#2');
  });

  it('a retry that comes due while the run is paused waits for resume', async () => {
    const d = new Driver(await compile(def([{ id: 'a', kind: 'action', tool: 't', retry: { maxAttempts: 3, backoffSeconds: 1 } }])));
    d.start();
    d.decided('allow');
    d.executed('failed');
    d.send(suspended);
    d.after(1).fire(timerIds.retry(RUN_ID, 'a#1'));
    expect(d.kinds()).toEqual([]);
    expect(d.run).toMatchObject({ status: 'paused', cursor: { execId: 'a#1', phase: 'pending' } });
    expect(d.last.executions).toEqual([]);
    d.send({ kind: 'resume' });
    expect(d.cmd('propose_action').execId).toBe('a#2');
    expect(d.run.cursor?.idempotencyKey).toBe(`${RUN_ID}/a#1`);
  });

  it('a review left open across a pause (a hold recorded before heldIntent) cannot be decided until the run resumes', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }])));
    d.send({ kind: 'intent_held', effect: 'require_approval', reasons: [{ code: 'high_risk', message: 'high risk' }], policyVersion: 'p1' });
    delete d.run.heldIntent;
    d.send(suspended);
    expect(d.run).toMatchObject({ paused: true, review: { id: 'r1' } });
    expect(d.kinds()).toEqual([]);
    expectRefused(d.decide(ops(), 'approve'), 409, 'run_paused');
    d.send({ kind: 'resume' });
    d.decide(ops(), 'approve');
    expect(d.cmd('retrieve').execId).toBe('c#1');
  });
});

describe('replies that do not fit', () => {
  it('a reply for another execution, a reply in the wrong phase and a duplicate are recorded and ignored', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }, { id: 'a', kind: 'action', tool: 't' }, { id: 'v', kind: 'verify', of: 'a' }])));
    d.start();
    d.send({ kind: 'context_retrieved', execId: 'c#9', citations: [], withheld: 0 });
    expect(d.last).toMatchObject({ changed: false, commands: [], timeline: [{ stepId: 'c#9', kind: 'reply_ignored', detail: { reply: 'context_retrieved', reason: 'the run waits for c#1 (requested), not this reply' } }] });
    d.retrieved();
    d.send({ kind: 'context_retrieved', execId: 'c#1', citations: [], withheld: 0 });
    expect(d.last.timeline[0].kind).toBe('reply_ignored');
    expect(d.last.changed).toBe(false);
    // tool_executed while policy decides: wrong phase
    d.send({ kind: 'tool_executed', execId: 'a#2', status: 'succeeded', claim: claim(), reasons: [], executionId: 'e' });
    expect(d.last.changed).toBe(false);
    expect(d.run.claims).toEqual({});
    d.decided('require_approval');
    // a second policy decision while a human reviews: ignored
    d.decided('allow');
    expect(d.last.changed).toBe(false);
    expect(d.kinds()).toEqual([]);
    // verification reply for an action execution
    d.send({ kind: 'verification_completed', execId: 'a#2', verdict: 'confirmed', reasons: [] });
    expect(d.last.changed).toBe(false);
  });

  it('a model reply for a context step execution id in the right phase is still matched by the execution', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }, { id: 'm', kind: 'model' }])));
    d.start();
    d.retrieved();
    d.send({ kind: 'model_completed', execId: 'c#1', model: 'm', confidence: 1, proposal: { kind: 'no_action', rationale: 'late' } });
    expect(d.last.changed).toBe(false);
    expect(d.run.cursor?.execId).toBe('m#2');
  });
});

describe('intents held by policy', () => {
  const held = { kind: 'intent_held' as const, effect: 'escalate' as const, reasons: [{ code: 'tier', message: 'above tier' }], policyVersion: 'p9' };

  it('approved: the workflow starts', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }])));
    d.send(held);
    expect(d.review).toMatchObject({ kind: 'escalation', escalationCase: 'intent_held', decisions: ['approve', 'reject'], stepId: null });
    expect(d.run.status).toBe('escalated');
    expect(d.cmd('review_requested').state).toMatchObject({ policy: { effect: 'escalate', policyVersion: 'p9' }, step: null });
    d.start();
    expect(d.last.changed).toBe(false);
    d.decide(ops(), 'approve');
    expect(d.cmd('review_decided')).toMatchObject({ decision: 'approved', stepId: 'intent' });
    expect(d.cmd('retrieve').execId).toBe('c#1');
  });

  it('approved with incomplete input: a human supplies it next', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }], { inputSchema: { type: 'object', required: ['id'] } })));
    d.send(held);
    d.decide(ops(), 'approve');
    expect(d.review).toMatchObject({ id: 'r2', escalationCase: 'input_incomplete' });
    d.decide(ops(), 'abort');
    expect(d.run.outcome).toBe('failed');
  });

  it('rejected: the run ends rejected', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }])));
    d.send(held);
    d.decide(ops(), 'reject', { reason: 'no' });
    expect(d.run.outcome).toBe('rejected');
    expect(d.run.reasons[0]).toMatchObject({ code: 'escalation_rejected' });
  });

  it('is ignored once the run started', async () => {
    const d = new Driver(await compile(def([{ id: 'c', kind: 'context' }])));
    d.start();
    d.send(held);
    expect(d.last.changed).toBe(false);
    expect(d.run.review).toBeNull();
  });
});

describe('reviewerProblem and eligibleGroups', () => {
  const review = (over: Partial<OpenReview> = {}): OpenReview => ({
    id: 'r',
    kind: 'approval',
    stepId: 's',
    execId: 's#1',
    level: 1,
    levels: [
      { name: 'a', groups: ['g1', 'shared'], slaSeconds: 1 },
      { name: 'b', groups: ['g2', 'shared'], slaSeconds: 1 },
    ],
    policyApprovers: [],
    requestedAt: '',
    dueAt: '',
    expiresAt: null,
    onExpiry: 'fail',
    decisions: ['approve'],
    ...over,
  });

  it('the current level and those above, deduplicated, narrowed by policy', () => {
    expect(eligibleGroups(review())).toEqual(['g1', 'shared', 'g2']);
    expect(eligibleGroups(review({ level: 2 }))).toEqual(['g2', 'shared']);
    expect(eligibleGroups(review({ policyApprovers: ['g2', 'other'] }))).toEqual(['g2']);
    expect(eligibleGroups(review({ policyApprovers: ['other'] }))).toEqual([]);
  });

  it('checks agent, requester, role and group in that order', () => {
    const run = { agentId: 'ag', requester: 'req' };
    expect(reviewerProblem(run, review(), { id: 'req', roles: ['agent'], groups: ['g1'] })?.code).toBe('reviewer_is_agent');
    expect(reviewerProblem(run, review(), { id: 'req', roles: ['reviewer'], groups: ['g1'] })?.code).toBe('reviewer_is_requester');
    expect(reviewerProblem(run, review(), { id: 'x', roles: [], groups: ['g1'] })?.code).toBe('role_required');
    expect(reviewerProblem(run, review({ level: 2 }), { id: 'x', roles: ['reviewer'], groups: ['g1'] })?.code).toBe('reviewer_not_in_group');
    expect(reviewerProblem(run, review({ level: 2 }), { id: 'x', roles: ['reviewer'], groups: ['shared'] })).toBeNull();
    expect(reviewerProblem(run, review({ policyApprovers: ['other'] }), { id: 'x', roles: ['reviewer'], groups: ['g1'] })?.code).toBe('reviewer_not_in_group');
  });
});

describe('one terminal outcome', () => {
  it('a completed run ignores every further input and never completes twice', async () => {
    const d = new Driver(await compile(def([{ id: 'w', kind: 'wait', seconds: 1 }])));
    d.start();
    d.fire(timerIds.wait(RUN_ID, 'w#1'));
    expect(d.run.outcome).toBe('succeeded');
    const inputs: WorkflowInput[] = [
      { kind: 'start' },
      { kind: 'cancel', reason: { code: 'c', message: 'c' } },
      { kind: 'pause', reason: { code: 'p', message: 'p' } },
      { kind: 'resume' },
      { kind: 'timer', timerId: timerIds.deadline(RUN_ID), purpose: 'run_deadline', payload: {} },
      { kind: 'timer', timerId: 'x', purpose: 'wait', payload: { execId: 'w#1' } },
      { kind: 'intent_held', effect: 'escalate', reasons: [], policyVersion: 'p' },
    ];
    for (const input of inputs) {
      d.send(input);
      expect(d.last.changed).toBe(false);
      expect(d.last.commands).toEqual([]);
    }
    expect(d.run.outcome).toBe('succeeded');
    expect(d.completions).toBe(1);
  });
});
