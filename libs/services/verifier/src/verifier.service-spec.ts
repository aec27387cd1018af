import { randomUUID, type KeyObject } from 'node:crypto';
import { checkVerificationRead, signVerificationAnswer } from '@govmesh/action-grants';
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

  /** The gateway's answer to a read, signed with the gateway's key (in embedded mode every service holds the pairs). */
  function answer(read: ReadRequest, status: 'succeeded' | 'failed' | 'rejected', output?: Record<string, unknown>, reasons: Reason[] = [{ code: 'read_completed', message: 'read' }]) {
    const { runId, verificationId, check, tool } = read.data;
    return signed({ runId, verificationId, check, tool, executionId: randomUUID(), status, ...(output ? { output } : {}), reasons });
  }
  function signed(fields: Omit<GovmeshEvent<typeof EventTypes.VerificationReadCompleted>['data'], 'keyId' | 'signature'>, key: KeyObject | string = h.app.get(ServiceKeys).signingKey('gateway')) {
    return h.event(EventTypes.VerificationReadCompleted, signVerificationAnswer(key, fields));
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

  });

  describe('citation', () => {
    const DOCUMENTS = 'documents.read';
    const TEXT = ['1. Term. This agreement runs until 2027-01-31.', '2. Renewal. Either party may give notice of non-renewal at least 90 days before the end date.', '3. Fees. EUR 52,000 a year.'].join('\n');
    const QUOTE = 'at least 90 days before the end date';
    const AT = Array.from(TEXT).length - Array.from(TEXT.slice(TEXT.indexOf(QUOTE))).length;
    const citation: VerificationCheck = { check: 'citation', tool: DOCUMENTS, document: 'output.documentId', version: 'output.version', quote: 'output.quote', offset: "has(output.offset) ? output.offset : null" };
    const cites = (extra: Record<string, unknown> = {}) => ({ output: { documentId: 'doc-4001', version: '2', quote: QUOTE, offset: AT, ...extra } });
    const documentVersion = (version = '2', text = TEXT) => ({ documentId: 'doc-4001', version, title: 'MSA', text, sha256: 'ab'.repeat(32) });

    it('reads the cited document version through the read tool, and confirms a quote where the call says', async () => {
      const before = await checkCount('citation', 'pass');
      const { runId, reads } = await requested([citation], cites());
      expect(reads.map((r) => [r.data.tool, r.data.arguments])).toEqual([[DOCUMENTS, { documentId: 'doc-4001', version: '2' }]]);
      expect(checkVerificationRead(h.app.get(ServiceKeys).publicKey('verifier'), reads[0].data, new Date())).toBeNull();
      await h.send(answer(reads[0], 'succeeded', documentVersion()));
      const [verdict] = verdictsFor(runId);
      expect(verdict).toMatchObject({ verdict: 'confirmed', reasons: [{ code: 'citation_check_passed', message: expect.stringContaining(`at code point ${AT}, as cited`) }] });
      // the evidence, never the document
      expect(verdict.observed).toEqual({
        cited: { documentId: 'doc-4001', version: '2', quote: QUOTE, quoteLength: QUOTE.length, offset: AT },
        observed: { documentId: 'doc-4001', version: '2', sha256: 'ab'.repeat(32), length: TEXT.length, atOffset: QUOTE, foundAt: [AT] },
      });
      expect(JSON.stringify(await row(runId))).not.toContain('Fees. EUR');
      expect(await checkCount('citation', 'pass')).toBe(before + 1);
    });

    it('without an offset, the quote may be anywhere', async () => {
      const { runId, reads } = await requested([{ check: 'citation', tool: DOCUMENTS, document: 'output.documentId', version: 'output.version', quote: 'output.quote' }], cites());
      await h.send(answer(reads[0], 'succeeded', documentVersion()));
      expect(verdictsFor(runId).map((v) => [v.verdict, v.reasons[0].code])).toEqual([['confirmed', 'citation_check_passed']]);
    });

    it.each([
      ['another version answered', documentVersion('3'), 'citation_version_mismatch', 'but the system of record answered version "3"'],
      ['another document answered', { ...documentVersion(), documentId: 'doc-9999' }, 'citation_document_mismatch', 'cites document doc-4001'],
      ['the quote elsewhere', documentVersion('2', `Preamble. ${TEXT}`), 'citation_offset_mismatch', `does not start at the cited code point ${AT}`],
      ['the quote absent', documentVersion('2', TEXT.replace('90 days', '60 days')), 'citation_not_found', 'does not occur in doc-4001 version 2'],
      ['the quote with other whitespace', documentVersion('2', TEXT.replace('90 days', '90  days')), 'citation_not_found', 'no case, whitespace or Unicode normalisation'],
    ])('%s: a mismatch', async (_, record, code, message) => {
      const before = await checkCount('citation', 'mismatch');
      const { runId, reads } = await requested([citation], cites());
      await h.send(answer(reads[0], 'succeeded', record));
      const [verdict] = verdictsFor(runId);
      expect(verdict).toMatchObject({ verdict: 'mismatch', reasons: [{ code, message: expect.stringContaining(message) }] });
      expect(await checkCount('citation', 'mismatch')).toBe(before + 1);
    });

    it('a document or version the system does not have is not_found; a read that failed otherwise, or answered no text, cannot confirm', async () => {
      const missing = await requested([citation], cites());
      await h.send(answer(missing.reads[0], 'failed', undefined, [{ code: 'document_version_not_found', message: 'document doc-4001 has no version 2' }]));
      expect(verdictsFor(missing.runId).map((v) => [v.verdict, v.reasons[0].code])).toEqual([['not_found', 'citation_read_failed']]);
      expect(verdictsFor(missing.runId)[0].reasons[0].message).toContain('document_version_not_found');
      const refused = await requested([citation], cites());
      await h.send(answer(refused.reads[0], 'rejected', undefined, [{ code: 'tool_not_granted', message: 'no grant' }]));
      expect(verdictsFor(refused.runId).map((v) => [v.verdict, v.reasons[0].code])).toEqual([['unsupported', 'citation_read_failed']]);
      const textless = await requested([citation], cites());
      await h.send(answer(textless.reads[0], 'succeeded', { documentId: 'doc-4001', version: '2' }));
      expect(verdictsFor(textless.runId).map((v) => [v.verdict, v.reasons[0].code])).toEqual([['unsupported', 'citation_read_failed']]);
    });

    it('an empty quote, an offset that is no position or a citation that is not text is refused without a read', async () => {
      for (const [extra, code] of [
        [{ quote: '' }, 'citation_quote_empty'],
        [{ offset: -1 }, 'citation_offset_invalid'],
        [{ offset: 1.5 }, 'citation_offset_invalid'],
        [{ version: 2 }, 'verification_expression_failed'],
      ] as const) {
        const { runId, reads } = await requested([citation], cites(extra));
        expect(reads).toEqual([]);
        expect({ extra, verdicts: verdictsFor(runId).map((v) => [v.verdict, v.reasons[0].code]) }).toEqual({ extra, verdicts: [['unsupported', code]] });
      }
    });

    it('a citation check naming a tool the manifest says writes is not run', async () => {
      const writer = toolName('write');
      await register(writer, undefined, { sideEffect: 'write' });
      const { runId, reads } = await requested([{ ...citation, tool: writer } as VerificationCheck], cites());
      expect(reads).toEqual([]);
      expect(verdictsFor(runId).map((v) => [v.verdict, v.reasons[0].code])).toEqual([['unsupported', 'read_tool_not_read_only']]);
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
      await h.send(signed({ runId, verificationId: randomUUID(), check: 0, tool: LOOKUP, executionId: randomUUID(), status: 'succeeded', output: INVOICE, reasons: [] }));
      expect(verdictsFor(runId)).toEqual([]);
      expect(h.published(Topics.deadLetters)).toHaveLength(deadLetters);
    });

    it('a forged completion (another run, another tool, a check that asked no read) changes nothing', async () => {
      const { runId, reads } = await requested([readBack, { check: 'read_back', tool: LOOKUP, arguments: { invoiceId: 'output.missingField' } }]);
      const read = reads[0];
      // Signed by the gateway, yet bound to something this check did not ask.
      const fields = () => {
        const { keyId: _k, signature: _s, ...rest } = answer(read, 'succeeded', INVOICE).data;
        return rest;
      };
      await h.send(signed({ ...fields(), runId: `r-${randomUUID()}` }), signed({ ...fields(), tool: 'invoices.other' }), signed({ ...fields(), check: 1 }), signed({ ...fields(), check: 7 }));
      expect(verdictsFor(runId)).toEqual([]);
      expect((await row(runId)).checks.map((c) => c.status)).toEqual(['awaiting_read', 'error']);
      // the genuine answer still settles it
      await h.send(answer(read, 'succeeded', { ...INVOICE, status: 'open' }));
      expect(verdictsFor(runId).map((v) => v.verdict)).toEqual(['mismatch']);
    });

    it('an answer not signed by the gateway, or altered after signing, is refused and counted; the genuine one settles the check', async () => {
      const { runId, reads } = await requested([readBack]);
      const read = reads[0];
      const refusedCount = async (reason: string) => (await h.metrics.verificationAnswersRefused.get()).values.find((v) => v.labels['reason'] === reason)?.value ?? 0;
      const [unknownBefore, invalidBefore] = [await refusedCount('gateway_key_unknown'), await refusedCount('gateway_signature_invalid')];
      const { keyId: _k, signature: _s, ...fields } = answer(read, 'succeeded', INVOICE).data;
      const genuine = answer(read, 'succeeded', { ...INVOICE, status: 'open' });
      await h.send(
        // A plain Kafka client with a key of its own.
        signed(fields, generateKeyPair().privateKeyPem),
        // The gateway's signature over another record.
        h.event(EventTypes.VerificationReadCompleted, { ...genuine.data, output: INVOICE }),
      );
      expect(verdictsFor(runId)).toEqual([]);
      expect((await row(runId)).checks.map((c) => c.status)).toEqual(['awaiting_read']);
      expect(await refusedCount('gateway_key_unknown')).toBe(unknownBefore + 1);
      expect(await refusedCount('gateway_signature_invalid')).toBe(invalidBefore + 1);
      await h.send(genuine);
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
