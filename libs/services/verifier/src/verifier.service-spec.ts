import { randomUUID } from 'node:crypto';
import { checkVerificationRead } from '@govmesh/action-grants';
import { EventTypes, Topics, type GovmeshEvent, type Reason, type RecordClaim, type ToolManifest, type VerificationCheck } from '@govmesh/contracts';
import { ServiceKeys } from '@govmesh/nest-runtime';
import { generateKeyPair } from '@govmesh/signing';
import { ServiceHarness } from '@govmesh/testing';
import { VERIFIER_DATABASE } from './database';
import { VerifierServiceModule } from './verifier.module';

const SCHEMA = VERIFIER_DATABASE.schema;
const LOOKUP = 'invoices.lookup';
const EXECUTION_LOOKUP = 'gateway.execution_lookup';
const PAID = "record.status == 'paid' && record.paymentCount == 1";

type ReadRequest = GovmeshEvent<typeof EventTypes.VerificationReadRequested>;

describe('verifier: claims confirmed through read tools the gateway runs under the verifier\'s identity', () => {
  let h: ServiceHarness;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [VerifierServiceModule], schemas: [SCHEMA] });
  });

  afterAll(async () => {
    await h?.close();
  });

  /** A tool name no other case uses. */
  const toolName = (operation = 'pay') => `erp${randomUUID().slice(0, 8)}.${operation}`;

  function manifest(name: string, verification: VerificationCheck[] | undefined, options: { version?: string; sideEffect?: ToolManifest['sideEffect'] } = {}): ToolManifest {
    return {
      name,
      version: options.version ?? '1.0.0',
      description: `tool ${name}`,
      inputSchema: { type: 'object' },
      sideEffect: options.sideEffect ?? 'write',
      classification: 'internal',
      idempotent: true,
      operation: { connector: 'sandbox', operation: 'invoices.approve_payment' },
      ...(verification ? { verification } : {}),
    };
  }

  /** The registry's event for a tool change, optionally dated (an older event delivered late). */
  function registered(name: string, verification: VerificationCheck[] | undefined, options: { change?: 'registered' | 'updated' | 'retired' | 'seeded'; version?: string; time?: string; sideEffect?: ToolManifest['sideEffect'] } = {}) {
    const change = options.change ?? 'registered';
    const event = h.event(EventTypes.ToolRegistered, { name, change, status: change === 'retired' ? 'retired' : 'active', manifest: manifest(name, verification, options), actor: { kind: 'system', id: 'system' } });
    return options.time ? { ...event, time: options.time } : event;
  }

  const register = (name: string, verification: VerificationCheck[] | undefined, options: Parameters<typeof registered>[2] = {}) => h.send(registered(name, verification, options));

  const readBack: VerificationCheck = { check: 'read_back', tool: LOOKUP, arguments: { invoiceId: 'arguments.invoiceId' } };
  const paidState: VerificationCheck = { check: 'state', tool: LOOKUP, arguments: { invoiceId: 'claim.id' }, expect: PAID, description: 'paid exactly once' };

  const claim = (fields: Record<string, unknown> = { status: 'paid', amount: 1200 }): RecordClaim => ({ system: 'erp', entity: 'invoice', id: 'inv-1001', fields });

  /** What the orchestrator sends after the call: the claim with the call that made it. */
  function verificationRequested(runId: string, tool: string | undefined, options: { claim?: RecordClaim; executionId?: string; arguments?: Record<string, unknown>; output?: Record<string, unknown> } = {}) {
    return h.event(EventTypes.VerificationRequested, {
      runId,
      stepId: 'verify#5',
      claim: options.claim ?? claim(),
      ...(tool ? { tool, executionId: options.executionId ?? randomUUID(), arguments: options.arguments ?? { invoiceId: 'inv-1001', amount: 1200 }, output: options.output ?? { paymentId: 'pay-1' } } : {}),
    });
  }

  const readsFor = (runId: string): ReadRequest[] => h.emitted(EventTypes.VerificationReadRequested).filter((e) => e.data.runId === runId).sort((a, b) => a.data.check - b.data.check);
  const verdictsFor = (runId: string) => h.emitted(EventTypes.VerificationCompleted).filter((e) => e.data.runId === runId).map((e) => e.data);

  /** The gateway's answer to a read. */
  function answer(read: ReadRequest, status: 'succeeded' | 'failed' | 'rejected', output?: Record<string, unknown>, reasons: Reason[] = [{ code: 'read_completed', message: 'read' }]) {
    const { runId, verificationId, check, tool } = read.data;
    return h.event(EventTypes.VerificationReadCompleted, { runId, verificationId, check, tool, executionId: randomUUID(), status, ...(output ? { output } : {}), reasons });
  }

  const INVOICE = { invoiceId: 'inv-1001', vendor: 'Acme', amount: 1200, currency: 'EUR', status: 'paid', paymentCount: 1 };

  /** A tool registered with `checks`, a verification of its claim requested, and the reads it asked for. */
  async function requested(checks: VerificationCheck[], options: Parameters<typeof verificationRequested>[2] = {}) {
    const tool = toolName();
    await register(tool, checks);
    const runId = `r-${randomUUID()}`;
    const request = verificationRequested(runId, tool, options);
    await h.send(request);
    return { tool, runId, request, reads: readsFor(runId) };
  }

  const row = async (runId: string) =>
    (await h.query<{ status: string; verdict: string | null; tool: string; checks: Array<{ status: string }>; observed: unknown; reasons: Reason[] }>(`SELECT status, verdict, tool, checks, observed, reasons FROM "${SCHEMA}"."verifications" WHERE run_id = $1`, [runId]))[0];
  const checkCount = async (check: string, result: string) => (await h.metrics.verificationChecks.get()).values.find((v) => v.labels['check'] === check && v.labels['result'] === result)?.value ?? 0;

  describe('the tool manifest', () => {
    it('learns a tool\'s checks from the registry', async () => {
      const tool = toolName();
      await register(tool, [readBack, paidState]);
      const [spec] = await h.query<{ version: string; side_effect: string; verification: unknown; status: string }>(`SELECT version, side_effect, verification, status FROM "${SCHEMA}"."tool_specs" WHERE name = $1`, [tool]);
      expect(spec).toEqual({ version: '1.0.0', side_effect: 'write', verification: [readBack, paidState], status: 'active' });
    });

    it('an older change delivered late never overwrites a newer one', async () => {
      const tool = toolName();
      await register(tool, [readBack], { version: '2.0.0', change: 'updated' });
      await register(tool, [paidState], { version: '1.0.0', time: '2020-01-01T00:00:00.000Z' });
      const [spec] = await h.query<{ version: string; verification: unknown }>(`SELECT version, verification FROM "${SCHEMA}"."tool_specs" WHERE name = $1`, [tool]);
      expect(spec).toEqual({ version: '2.0.0', verification: [readBack] });
    });

    it('the newest of several changes in one batch wins', async () => {
      const tool = toolName();
      await h.send(registered(tool, [readBack], { version: '1.0.0' }), registered(tool, [paidState], { version: '1.1.0', change: 'updated' }));
      const [spec] = await h.query<{ version: string }>(`SELECT version FROM "${SCHEMA}"."tool_specs" WHERE name = $1`, [tool]);
      expect(spec.version).toBe('1.1.0');
    });

    it('a retired tool is gone: its claims are no longer confirmed', async () => {
      const tool = toolName();
      await register(tool, [readBack]);
      await register(tool, [readBack], { change: 'retired' });
      const runId = `r-${randomUUID()}`;
      await h.send(verificationRequested(runId, tool));
      expect(readsFor(runId)).toEqual([]);
      expect(verdictsFor(runId)).toEqual([{ runId, stepId: 'verify#5', verdict: 'unsupported', reasons: [expect.objectContaining({ code: 'no_verification_spec' })] }]);
    });
  });

  describe('no check, no confirmation', () => {
    it('a tool without a manifest is unsupported: no_verification_spec', async () => {
      const runId = `r-${randomUUID()}`;
      await h.send(verificationRequested(runId, toolName()));
      expect(verdictsFor(runId)).toEqual([{ runId, stepId: 'verify#5', verdict: 'unsupported', reasons: [expect.objectContaining({ code: 'no_verification_spec' })] }]);
      expect(await row(runId)).toMatchObject({ status: 'settled', verdict: 'unsupported' });
    });

    it('a tool whose manifest declares no checks is unsupported', async () => {
      const tool = toolName();
      await register(tool, undefined);
      const runId = `r-${randomUUID()}`;
      await h.send(verificationRequested(runId, tool));
      expect(verdictsFor(runId).map((v) => [v.verdict, v.reasons[0].code])).toEqual([['unsupported', 'no_verification_spec']]);
    });

    it('a request that names no tool is unsupported', async () => {
      const runId = `r-${randomUUID()}`;
      await h.send(verificationRequested(runId, undefined));
      expect(verdictsFor(runId).map((v) => [v.verdict, v.reasons[0].code])).toEqual([['unsupported', 'no_verification_spec']]);
      expect(h.emitted(EventTypes.VerificationReadRequested).filter((e) => e.data.runId === runId)).toEqual([]);
    });
  });

  describe('reads', () => {
    it('asks the gateway one signed read per check, arguments evaluated over the call, and waits', async () => {
      const executionId = randomUUID();
      const { runId, reads } = await requested([readBack, paidState, { check: 'grant' }], { executionId });
      expect(reads.map((r) => [r.data.check, r.data.tool, r.data.arguments])).toEqual([
        [0, LOOKUP, { invoiceId: 'inv-1001' }],
        [1, LOOKUP, { invoiceId: 'inv-1001' }],
        [2, EXECUTION_LOOKUP, { executionId }],
      ]);
      const publicKey = h.app.get(ServiceKeys).publicKey('verifier');
      for (const read of reads) expect(checkVerificationRead(publicKey, read.data, new Date())).toBeNull();
      // The signature covers the arguments: a read altered on the way is refused by the gateway.
      expect(checkVerificationRead(publicKey, { ...reads[0].data, arguments: { invoiceId: 'inv-9999' } }, new Date())?.code).toBe('verifier_signature_invalid');
      // Only the verifier's key signs them.
      expect(checkVerificationRead(generateKeyPair().publicKey, reads[0].data, new Date())?.code).toBe('verifier_key_unknown');
      expect(new Set(reads.map((r) => r.data.verificationId)).size).toBe(1);
      expect(reads[0].data.verificationId).toMatch(/^[0-9a-f-]{36}$/);
      expect(verdictsFor(runId)).toEqual([]);
      const pending = await row(runId);
      expect(pending).toMatchObject({ status: 'pending', verdict: null });
      expect(pending.checks.map((c) => c.status)).toEqual(['awaiting_read', 'awaiting_read', 'awaiting_read']);
      // the reads go to the gateway's commands topic, keyed by the run
      const published = h.published(Topics.toolCommands).filter((m) => m.key === runId);
      expect(published).toHaveLength(3);
    });

    it('an argument expression that fails settles its check as error; the others still read', async () => {
      const broken: VerificationCheck = { check: 'read_back', tool: LOOKUP, arguments: { invoiceId: 'output.missingField' } };
      const { runId, reads } = await requested([broken, readBack]);
      expect(reads.map((r) => r.data.check)).toEqual([1]);
      await h.send(answer(reads[0], 'succeeded', INVOICE));
      const [verdict] = verdictsFor(runId);
      expect(verdict.verdict).toBe('unsupported');
      expect(verdict.reasons.map((r) => r.code)).toEqual(['verification_expression_failed', 'read_back_matches']);
    });

    it('a check naming a tool the manifest says writes is not run', async () => {
      const writer = toolName('write');
      await register(writer, undefined, { sideEffect: 'write' });
      const { runId, reads } = await requested([{ check: 'read_back', tool: writer, arguments: { invoiceId: 'claim.id' } }]);
      expect(reads).toEqual([]);
      expect(verdictsFor(runId).map((v) => [v.verdict, v.reasons[0].code])).toEqual([['unsupported', 'read_tool_not_read_only']]);
    });

    it('a citation check is not available yet: error, never confirmed', async () => {
      const { runId, reads } = await requested([{ check: 'citation', document: 'output.doc', version: 'output.version', quote: 'output.quote' }]);
      expect(reads).toEqual([]);
      expect(verdictsFor(runId).map((v) => [v.verdict, v.reasons[0].code])).toEqual([['unsupported', 'citation_check_unavailable']]);
      expect(await row(runId)).toMatchObject({ status: 'settled', verdict: 'unsupported' });
    });
  });

  describe('read_back', () => {
    it('confirms when the record read back matches every claimed field', async () => {
      const before = await checkCount('read_back', 'pass');
      const { runId, reads } = await requested([readBack]);
      await h.send(answer(reads[0], 'succeeded', INVOICE));
      expect(verdictsFor(runId)).toEqual([{ runId, stepId: 'verify#5', verdict: 'confirmed', observed: INVOICE, reasons: [expect.objectContaining({ code: 'read_back_matches' })] }]);
      const settled = await row(runId);
      expect(settled).toMatchObject({ status: 'settled', verdict: 'confirmed', observed: INVOICE });
      expect(settled.checks.map((c) => c.status)).toEqual(['pass']);
      expect(await checkCount('read_back', 'pass')).toBe(before + 1);
    });

    it('a differing field is a mismatch naming the field', async () => {
      const { runId, reads } = await requested([readBack], { claim: claim({ status: 'paid', amount: 82000 }) });
      await h.send(answer(reads[0], 'succeeded', INVOICE));
      const [verdict] = verdictsFor(runId);
      expect(verdict).toMatchObject({ verdict: 'mismatch', observed: INVOICE });
      expect(verdict.reasons).toEqual([expect.objectContaining({ code: 'field_mismatch', message: expect.stringContaining('amount claimed 82000 but the record says 1200') })]);
    });

    it('compares only the fields the check names', async () => {
      const { runId, reads } = await requested([{ ...readBack, fields: ['status'] } as VerificationCheck], { claim: claim({ status: 'paid', amount: 82000 }) });
      await h.send(answer(reads[0], 'succeeded', INVOICE));
      expect(verdictsFor(runId).map((v) => v.verdict)).toEqual(['confirmed']);
    });

    it('a record the system does not have is not_found', async () => {
      const before = await checkCount('read_back', 'not_found');
      const { runId, reads } = await requested([readBack]);
      await h.send(answer(reads[0], 'failed', undefined, [{ code: 'invoice_not_found', message: 'no invoice inv-1001 in the sandbox ERP' }]));
      expect(verdictsFor(runId).map((v) => [v.verdict, v.reasons[0].code])).toEqual([['not_found', 'record_not_found']]);
      expect(await checkCount('read_back', 'not_found')).toBe(before + 1);
    });

    it('a read the gateway refused or that failed otherwise is an error: unsupported, never confirmed', async () => {
      const { runId, reads } = await requested([readBack]);
      await h.send(answer(reads[0], 'rejected', undefined, [{ code: 'tool_grant_missing', message: 'the verifier holds no grant for the tool' }]));
      const [verdict] = verdictsFor(runId);
      expect([verdict.verdict, verdict.reasons[0].code]).toEqual(['unsupported', 'verification_read_failed']);
      expect(verdict.reasons[0].message).toContain('tool_grant_missing');
    });
  });

  describe('state', () => {
    it('passes when `expect` holds for the record read', async () => {
      const { runId, reads } = await requested([paidState]);
      await h.send(answer(reads[0], 'succeeded', INVOICE));
      expect(verdictsFor(runId)).toEqual([{ runId, stepId: 'verify#5', verdict: 'confirmed', observed: INVOICE, reasons: [expect.objectContaining({ code: 'state_check_passed' })] }]);
    });

    it('fails when it does not: a payment booked twice is a mismatch', async () => {
      const before = await checkCount('state', 'mismatch');
      const { runId, reads } = await requested([paidState]);
      await h.send(answer(reads[0], 'succeeded', { ...INVOICE, paymentCount: 2 }));
      const [verdict] = verdictsFor(runId);
      expect(verdict).toMatchObject({ verdict: 'mismatch', observed: { paymentCount: 2 } });
      expect(verdict.reasons).toEqual([expect.objectContaining({ code: 'state_check_failed', message: expect.stringContaining('paid exactly once') })]);
      expect(await checkCount('state', 'mismatch')).toBe(before + 1);
    });

    it('`expect` sees the call too, and must be exactly true', async () => {
      const sameAmount: VerificationCheck = { check: 'state', tool: LOOKUP, arguments: { invoiceId: 'arguments.invoiceId' }, expect: 'record.amount == arguments.amount && record.vendor == output.vendor' };
      const { runId, reads } = await requested([sameAmount], { output: { vendor: 'Acme' } });
      await h.send(answer(reads[0], 'succeeded', INVOICE));
      expect(verdictsFor(runId).map((v) => v.verdict)).toEqual(['confirmed']);
      const notBoolean: VerificationCheck = { check: 'state', tool: LOOKUP, arguments: { invoiceId: 'claim.id' }, expect: 'record.status' };
      const second = await requested([notBoolean]);
      await h.send(answer(second.reads[0], 'succeeded', INVOICE));
      expect(verdictsFor(second.runId).map((v) => [v.verdict, v.reasons[0].code])).toEqual([['mismatch', 'state_check_failed']]);
    });
  });

  describe('grant', () => {
    const execution = (runId: string, tool: string, executionId: string, extra: Record<string, unknown> = {}) => ({ executionId, runId, stepId: 'pay#3', tool, status: 'succeeded', grantId: randomUUID(), ...extra });

    it('passes when the gateway\'s ledger shows the execution succeeded on this run, for this tool, under a grant', async () => {
      const executionId = randomUUID();
      const { runId, tool, reads } = await requested([{ check: 'grant' }], { executionId });
      await h.send(answer(reads[0], 'succeeded', execution(runId, tool, executionId)));
      const [verdict] = verdictsFor(runId);
      expect([verdict.verdict, verdict.reasons[0].code]).toEqual(['confirmed', 'grant_check_passed']);
      // the gateway's ledger is not the system of record: it is not what was observed
      expect(verdict.observed).toBeUndefined();
    });

    it.each([
      ['another run', (runId: string) => ({ runId: `${runId}-other` })],
      ['another tool', () => ({ tool: 'erp.other' })],
      ['not succeeded', () => ({ status: 'failed' })],
      ['no grant', () => ({ grantId: '' })],
    ])('fails for an execution of %s', async (_, change) => {
      const executionId = randomUUID();
      const { runId, tool, reads } = await requested([{ check: 'grant' }], { executionId });
      await h.send(answer(reads[0], 'succeeded', execution(runId, tool, executionId, change(runId))));
      expect(verdictsFor(runId).map((v) => [v.verdict, v.reasons[0].code])).toEqual([['mismatch', 'grant_check_failed']]);
    });

    it('an execution the ledger does not have is not_found', async () => {
      const { runId, reads } = await requested([{ check: 'grant' }]);
      await h.send(answer(reads[0], 'failed', undefined, [{ code: 'execution_not_found', message: 'no such execution' }]));
      expect(verdictsFor(runId).map((v) => v.verdict)).toEqual(['not_found']);
    });
  });

  describe('several checks, one verdict', () => {
    const checks: VerificationCheck[] = [readBack, paidState, { check: 'grant' }];

    it('confirmed only when every check passes, sent once when the last read is answered', async () => {
      const executionId = randomUUID();
      const { runId, tool, reads } = await requested(checks, { executionId });
      await h.send(answer(reads[2], 'succeeded', { executionId, runId, stepId: 'pay#3', tool, status: 'succeeded', grantId: randomUUID() }));
      await h.send(answer(reads[0], 'succeeded', INVOICE));
      expect(verdictsFor(runId)).toEqual([]);
      expect((await row(runId)).checks.map((c) => c.status)).toEqual(['pass', 'awaiting_read', 'pass']);
      await h.send(answer(reads[1], 'succeeded', INVOICE));
      const verdicts = verdictsFor(runId);
      expect(verdicts).toHaveLength(1);
      expect(verdicts[0]).toMatchObject({ verdict: 'confirmed', observed: INVOICE });
      expect(verdicts[0].reasons.map((r) => r.code)).toEqual(['read_back_matches', 'state_check_passed', 'grant_check_passed']);
    });

    it('a mismatch outranks not_found and errors', async () => {
      const { runId, reads } = await requested(checks);
      await h.send(
        answer(reads[0], 'failed', undefined, [{ code: 'invoice_not_found', message: 'gone' }]),
        answer(reads[1], 'succeeded', { ...INVOICE, status: 'open' }),
        answer(reads[2], 'rejected', undefined, [{ code: 'verifier_signature_invalid', message: 'bad' }]),
      );
      const verdicts = verdictsFor(runId);
      expect(verdicts).toHaveLength(1);
      expect(verdicts[0].verdict).toBe('mismatch');
      expect(verdicts[0].reasons.map((r) => r.code)).toEqual(['record_not_found', 'state_check_failed', 'verification_read_failed']);
    });

    it('different records read back are all observed', async () => {
      const other: VerificationCheck = { check: 'state', tool: 'invoices.payments', arguments: { invoiceId: 'claim.id' }, expect: 'record.count == 1' };
      const { runId, reads } = await requested([readBack, other]);
      await h.send(answer(reads[0], 'succeeded', INVOICE), answer(reads[1], 'succeeded', { count: 1 }));
      expect(verdictsFor(runId)[0]).toMatchObject({
        verdict: 'confirmed',
        observed: { records: [{ check: 0, tool: LOOKUP, record: INVOICE }, { check: 1, tool: 'invoices.payments', record: { count: 1 } }] },
      });
    });
  });

  describe('answers that do not count', () => {
    it('a completion for a verification this verifier never began is skipped, never crashes', async () => {
      const runId = `r-${randomUUID()}`;
      const deadLetters = h.published(Topics.deadLetters).length;
      await h.send(h.event(EventTypes.VerificationReadCompleted, { runId, verificationId: randomUUID(), check: 0, tool: LOOKUP, executionId: randomUUID(), status: 'succeeded', output: INVOICE, reasons: [] }));
      expect(verdictsFor(runId)).toEqual([]);
      expect(h.published(Topics.deadLetters)).toHaveLength(deadLetters);
    });

    it('a forged completion (another run, another tool, a check that asked no read) changes nothing', async () => {
      const { runId, reads } = await requested([readBack, { check: 'citation', document: 'output.doc', version: 'output.v', quote: 'output.q' }]);
      const read = reads[0];
      await h.send(
        h.event(EventTypes.VerificationReadCompleted, { ...answer(read, 'succeeded', INVOICE).data, runId: `r-${randomUUID()}` }),
        h.event(EventTypes.VerificationReadCompleted, { ...answer(read, 'succeeded', INVOICE).data, tool: 'invoices.other' }),
        h.event(EventTypes.VerificationReadCompleted, { ...answer(read, 'succeeded', INVOICE).data, check: 1 }),
        h.event(EventTypes.VerificationReadCompleted, { ...answer(read, 'succeeded', INVOICE).data, check: 7 }),
      );
      expect(verdictsFor(runId)).toEqual([]);
      expect((await row(runId)).checks.map((c) => c.status)).toEqual(['awaiting_read', 'error']);
      // the genuine answer still settles it
      await h.send(answer(read, 'succeeded', { ...INVOICE, status: 'open' }));
      expect(verdictsFor(runId).map((v) => v.verdict)).toEqual(['mismatch']);
    });

    it('a duplicate answer, in the same batch or later, is ignored: one verdict per verification', async () => {
      const { runId, reads } = await requested([readBack]);
      const first = answer(reads[0], 'succeeded', INVOICE);
      await h.send(first, answer(reads[0], 'succeeded', { ...INVOICE, amount: 1 }));
      await h.send(answer(reads[0], 'failed', undefined, [{ code: 'invoice_not_found', message: 'late' }]));
      const verdicts = verdictsFor(runId);
      expect(verdicts).toHaveLength(1);
      expect(verdicts[0].verdict).toBe('confirmed');
      expect(await row(runId)).toMatchObject({ status: 'settled', verdict: 'confirmed', observed: INVOICE });
    });

    it('each request is its own verification: two requests of one run get two verdicts', async () => {
      const tool = toolName();
      await register(tool, [readBack]);
      const runId = `r-${randomUUID()}`;
      await h.send(verificationRequested(runId, tool), verificationRequested(runId, tool));
      const reads = readsFor(runId);
      expect(new Set(reads.map((r) => r.data.verificationId)).size).toBe(2);
      await h.send(...reads.map((r) => answer(r, 'succeeded', INVOICE)), ...reads.map((r) => answer(r, 'succeeded', INVOICE)));
      expect(verdictsFor(runId).map((v) => v.verdict)).toEqual(['confirmed', 'confirmed']);
    });
  });
});
