import { randomUUID } from 'node:crypto';
import { getDataSourceToken } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { issueGrant } from '@govmesh/action-grants';
import { ServiceKeys } from '@govmesh/nest-runtime';
import { EventTypes, type GovmeshEvent } from '@govmesh/contracts';
import { ServiceHarness } from '@govmesh/testing';
import { TOOL_GATEWAY_DATABASE, TOOL_GATEWAY_SERVICE } from './database';
import { ToolGatewayServiceModule } from './tool-gateway.module';
import { grantTools, SANDBOX_TOOLS } from './registry/tool-grants.fixtures';
import { ToolCatalog, type ToolCall, type ToolResult } from './tools';

const SCHEMA = TOOL_GATEWAY_DATABASE.schema;

describe('tool gateway: the seed workflows\' sandbox systems of record', () => {
  let h: ServiceHarness;
  let sandbox: DataSource;
  const catalog = new ToolCatalog();

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [ToolGatewayServiceModule], schemas: [SCHEMA] });
    await grantTools(h, 'finance-agent', SANDBOX_TOOLS);
    sandbox = h.app.get<DataSource>(getDataSourceToken(TOOL_GATEWAY_SERVICE));
  });

  afterAll(async () => {
    await h?.close();
  });

  /** A tool request with a grant policy issued for exactly this action, under an idempotency key when given. */
  function request(runId: string, tool: string, args: Record<string, unknown>, idempotencyKey?: string, stepId = 'execute'): GovmeshEvent<typeof EventTypes.ToolRequested> {
    const key = h.app.get(ServiceKeys).signingKey('grant');
    const grant = issueGrant(key, { agentId: 'finance-agent', agentVersion: '1.0.0', tool, arguments: args, policyVersion: 'p1' }, { runId, stepId }, randomUUID(), new Date(), 30);
    return h.event(EventTypes.ToolRequested, { runId, stepId, agentId: 'finance-agent', agentVersion: '1.0.0', tool, arguments: args, grant, ...(idempotencyKey ? { idempotencyKey } : {}) });
  }

  const results = (runId: string) => h.emitted(EventTypes.ToolExecuted).filter((e) => e.data.runId === runId);
  const invoice = async (id: string) =>
    (await h.query<{ status: string; payments: number }>(`SELECT status, (SELECT count(*)::int FROM "sandbox"."payments" p WHERE p.invoice_id = i.id) AS payments FROM "sandbox"."invoices" i WHERE id = $1`, [id]))[0];
  const call = (idempotencyKey = `test:${randomUUID()}`): ToolCall => ({ runId: 'r-direct', executionId: randomUUID(), idempotencyKey, signal: new AbortController().signal, latencyMs: 0 });
  const execute = (tool: string, args: Record<string, unknown>, c: ToolCall = call()): Promise<ToolResult> => catalog.find(tool)!.execute(sandbox, args, c);

  it('seeds the demo invoices, contracts and tickets', async () => {
    expect(await h.query(`SELECT id, vendor, amount::float8 AS amount, currency, status, reason FROM "sandbox"."invoices" WHERE id IN ('inv-1001', 'inv-1002') ORDER BY id`)).toEqual([
      { id: 'inv-1001', vendor: 'Acme Supplies', amount: 1200, currency: 'EUR', status: 'open', reason: 'price mismatch 2%' },
      { id: 'inv-1002', vendor: 'Globex Logistics', amount: 82000, currency: 'EUR', status: 'open', reason: 'duplicate PO suspected' },
    ]);
    expect((await h.query(`SELECT id FROM "sandbox"."invoices" ORDER BY id`)).map((r) => r['id'])).toHaveLength(10);
    expect(await h.query(`SELECT id, drop_writes, unavailable_calls FROM "sandbox"."invoices" WHERE drop_writes OR unavailable_calls <> 0 ORDER BY id`)).toEqual([
      { id: 'inv-1009', drop_writes: true, unavailable_calls: 0 },
      { id: 'inv-1010', drop_writes: false, unavailable_calls: -1 },
    ]);
    expect(await h.query(`SELECT customer, customer_email_domain, end_date::text AS end_date FROM "sandbox"."contracts" WHERE id = 'ctr-2001'`)).toEqual([
      { customer: 'Umbrella Corp', customer_email_domain: 'umbrella.example', end_date: '2027-01-31' },
    ]);
    expect(await h.query(`SELECT subject, priority, status FROM "sandbox"."tickets" WHERE id = 'tkt-3001'`)).toEqual([{ subject: 'Cannot log in since update', priority: 'normal', status: 'open' }]);
  });

  describe('invoices.approve_payment through the gateway', () => {
    it('approves an open invoice, books one payment and claims what the ERP now shows', async () => {
      const runId = `r-${randomUUID()}`;
      await h.send(request(runId, 'invoices.approve_payment', { invoiceId: 'inv-1001', amount: 1200, currency: 'EUR' }, `${runId}:exec-1`));
      const [result] = results(runId);
      expect(result.data).toMatchObject({
        status: 'succeeded',
        output: { invoiceId: 'inv-1001', status: 'approved', amount: 1200, currency: 'EUR' },
        claim: { system: 'sandbox', entity: 'invoice', id: 'inv-1001', fields: { status: 'approved', amount: 1200, paymentCount: 1 } },
      });
      expect(await invoice('inv-1001')).toEqual({ status: 'approved', payments: 1 });
      const [row] = await h.query<{ idempotency_key: string; claim: unknown }>(`SELECT idempotency_key, claim FROM "${SCHEMA}"."executions" WHERE run_id = $1`, [runId]);
      expect(row).toEqual({ idempotency_key: `${runId}:exec-1`, claim: result.data.claim });
      expect(await h.query(`SELECT idempotency_key FROM "sandbox"."payments" WHERE invoice_id = 'inv-1001'`)).toEqual([{ idempotency_key: `tool:${runId}:exec-1` }]);
    });

    it('twice under one idempotency key (with a fresh grant): one payment, and the second answer is the stored result', async () => {
      const runId = `r-${randomUUID()}`;
      const args = { invoiceId: 'inv-1004', amount: 450, currency: 'EUR' };
      await h.send(request(runId, 'invoices.approve_payment', args, `${runId}:exec-1`));
      await h.send(request(runId, 'invoices.approve_payment', args, `${runId}:exec-1`));
      const [first, second] = results(runId);
      expect([first.data.status, second.data.status]).toEqual(['succeeded', 'succeeded']);
      expect(second.data.executionId).toBe(first.data.executionId);
      expect(second.data.output).toEqual(first.data.output);
      expect(second.data.claim).toEqual(first.data.claim);
      expect(second.data.reasons.map((r) => r.code)).toEqual(['payment_approved', 'idempotent_replay']);
      expect(await invoice('inv-1004')).toEqual({ status: 'approved', payments: 1 });
      expect(await h.query(`SELECT 1 FROM "${SCHEMA}"."executions" WHERE run_id = $1`, [runId])).toHaveLength(1);
    });

    it('twice under one key in the same batch: performed once, the second waits for the first', async () => {
      const runId = `r-${randomUUID()}`;
      const args = { invoiceId: 'inv-1005', amount: 3100, currency: 'EUR' };
      await h.send(request(runId, 'invoices.approve_payment', args, `${runId}:exec-1`), request(runId, 'invoices.approve_payment', args, `${runId}:exec-1`));
      expect(results(runId).map((r) => r.data.status)).toEqual(['succeeded']);
      expect(await invoice('inv-1005')).toEqual({ status: 'approved', payments: 1 });
      // Once done, a replay answers with the stored result.
      await h.send(request(runId, 'invoices.approve_payment', args, `${runId}:exec-1`));
      expect(results(runId).map((r) => r.data.status)).toEqual(['succeeded', 'succeeded']);
      expect(await invoice('inv-1005')).toEqual({ status: 'approved', payments: 1 });
    });

    it('a key in progress is not performed a second time', async () => {
      const runId = `r-${randomUUID()}`;
      const key = `${runId}:exec-1`;
      await h.query(`INSERT INTO "${SCHEMA}"."executions" (id, run_id, step_id, tool, grant_id, idempotency_key, arguments, status) VALUES ($1, $2, 'execute', 'invoices.approve_payment', $3, $4, $5, 'in_progress')`, [
        randomUUID(),
        runId,
        randomUUID(),
        key,
        JSON.stringify({ invoiceId: 'inv-1006', amount: 5000, currency: 'EUR' }),
      ]);
      await h.send(request(runId, 'invoices.approve_payment', { invoiceId: 'inv-1006', amount: 5000, currency: 'EUR' }, key));
      expect(results(runId)).toHaveLength(0);
      expect(await invoice('inv-1006')).toEqual({ status: 'open', payments: 0 });
    });

    it('a key reused for another action is refused', async () => {
      const runId = `r-${randomUUID()}`;
      await h.send(request(runId, 'tickets.update', { ticketId: 'tkt-3002', priority: 'low' }, `${runId}:exec-1`));
      await h.send(request(runId, 'tickets.update', { ticketId: 'tkt-3002', priority: 'urgent' }, `${runId}:exec-1`));
      expect(results(runId).map((r) => [r.data.status, r.data.reasons[0].code])).toEqual([
        ['succeeded', 'ticket_updated'],
        ['rejected', 'idempotency_key_reused'],
      ]);
      expect((await h.query(`SELECT priority FROM "sandbox"."tickets" WHERE id = 'tkt-3002'`))[0]).toEqual({ priority: 'low' });
    });

    it('an unavailable ERP fails with the retryable system_unavailable and changes nothing', async () => {
      const runId = `r-${randomUUID()}`;
      await h.send(request(runId, 'invoices.approve_payment', { invoiceId: 'inv-1010', amount: 640, currency: 'EUR' }, `${runId}:exec-1`));
      expect(results(runId)[0].data).toMatchObject({ status: 'failed', reasons: [{ code: 'system_unavailable' }], retryable: true });
      expect(results(runId)[0].data.claim).toBeUndefined();
      expect(await invoice('inv-1010')).toEqual({ status: 'open', payments: 0 });
    });

    it('after a failure, a retry under the same key is performed again and acts once', async () => {
      const runId = `r-${randomUUID()}`;
      const args = { invoiceId: 'inv-1008', amount: 980, currency: 'EUR' };
      await h.query(`UPDATE "sandbox"."invoices" SET unavailable_calls = 1 WHERE id = 'inv-1008'`);
      await h.send(request(runId, 'invoices.approve_payment', args, `${runId}:exec-1`));
      await h.send(request(runId, 'invoices.approve_payment', args, `${runId}:exec-1`));
      await h.send(request(runId, 'invoices.approve_payment', args, `${runId}:exec-1`));
      expect(results(runId).map((r) => [r.data.status, r.data.reasons[0].code])).toEqual([
        ['failed', 'system_unavailable'],
        ['succeeded', 'payment_approved'],
        ['succeeded', 'payment_approved'],
      ]);
      expect(await invoice('inv-1008')).toEqual({ status: 'approved', payments: 1 });
      expect(await h.query(`SELECT status, idempotency_key FROM "${SCHEMA}"."executions" WHERE run_id = $1 ORDER BY created_at`, [runId])).toEqual([
        { status: 'failed', idempotency_key: null },
        { status: 'succeeded', idempotency_key: `${runId}:exec-1` },
      ]);
    });

    it('without an idempotency key the effect is keyed by the grant, as before', async () => {
      const runId = `r-${randomUUID()}`;
      await h.send(request(runId, 'invoices.lookup', { invoiceId: 'inv-1002' }));
      expect(results(runId)[0].data).toMatchObject({ status: 'succeeded', claim: { entity: 'invoice', id: 'inv-1002', fields: { vendor: 'Globex Logistics', amount: 82000, status: 'open', paymentCount: 0 } } });
    });
  });

  describe('the tools against the sandbox, called directly', () => {
    it('invoices.approve_payment acts once per key even when called twice (a call repeated after a crash)', async () => {
      const c = call();
      const first = await execute('invoices.approve_payment', { invoiceId: 'inv-1003', amount: 7400, currency: 'EUR' }, c);
      const again = await execute('invoices.approve_payment', { invoiceId: 'inv-1003', amount: 7400, currency: 'EUR' }, { ...c, executionId: randomUUID() });
      expect(first.status).toBe('succeeded');
      expect(again).toEqual(first);
      expect(await invoice('inv-1003')).toEqual({ status: 'approved', payments: 1 });
    });

    it('invoices.approve_payment refuses an amount or currency other than the invoice\'s, and an invoice already approved', async () => {
      const mismatch = await execute('invoices.approve_payment', { invoiceId: 'inv-1007', amount: 12000, currency: 'EUR' });
      // Trying again will not help: the failure is final, and a workflow escalates it at once.
      expect(mismatch).toMatchObject({ status: 'failed', reasons: [{ code: 'amount_mismatch' }] });
      expect(mismatch.retryable).toBeUndefined();
      expect((await execute('invoices.approve_payment', { invoiceId: 'inv-1007', amount: 12500, currency: 'USD' })).reasons[0].code).toBe('currency_mismatch');
      expect((await execute('invoices.approve_payment', { invoiceId: 'inv-9999', amount: 1, currency: 'EUR' })).reasons[0].code).toBe('invoice_not_found');
      expect(await invoice('inv-1007')).toEqual({ status: 'open', payments: 0 });
      await h.query(`UPDATE "sandbox"."invoices" SET status = 'paid' WHERE id = 'inv-1007'`);
      expect((await execute('invoices.approve_payment', { invoiceId: 'inv-1007', amount: 12500, currency: 'EUR' })).reasons[0].code).toBe('invoice_not_payable');
      await h.query(`UPDATE "sandbox"."invoices" SET status = 'on_hold' WHERE id = 'inv-1007'`);
      expect((await execute('invoices.approve_payment', { invoiceId: 'inv-1007', amount: 12500, currency: 'EUR' })).status).toBe('succeeded');
      expect(await invoice('inv-1007')).toEqual({ status: 'approved', payments: 1 });
    });

    it('a failed write does not use up its key: the same key works once the cause is gone', async () => {
      await h.query(`INSERT INTO "sandbox"."invoices" (id, vendor, amount, currency, status, updated_at) VALUES ('inv-1101', 'Test', 10, 'EUR', 'open', now())`);
      const c = call();
      expect((await execute('invoices.approve_payment', { invoiceId: 'inv-1101', amount: 11, currency: 'EUR' }, c)).reasons[0].code).toBe('amount_mismatch');
      await h.query(`UPDATE "sandbox"."invoices" SET amount = 11 WHERE id = 'inv-1101'`);
      expect((await execute('invoices.approve_payment', { invoiceId: 'inv-1101', amount: 11, currency: 'EUR' }, c)).status).toBe('succeeded');
    });

    it('the drop-write invoice answers success with its claim, but the record does not change', async () => {
      const result = await execute('invoices.approve_payment', { invoiceId: 'inv-1009', amount: 2300, currency: 'EUR' });
      expect(result).toMatchObject({ status: 'succeeded', claim: { entity: 'invoice', id: 'inv-1009', fields: { status: 'approved', amount: 2300, paymentCount: 1 } } });
      expect(await invoice('inv-1009')).toEqual({ status: 'open', payments: 0 });
    });

    it('a positive unavailable_calls fails that many calls, then works', async () => {
      await h.query(`INSERT INTO "sandbox"."invoices" (id, vendor, amount, currency, status, unavailable_calls, updated_at) VALUES ('inv-1102', 'Test', 5, 'EUR', 'open', 2, now())`);
      const args = { invoiceId: 'inv-1102', amount: 5, currency: 'EUR' };
      const c = call();
      expect((await execute('invoices.approve_payment', args, c)).reasons[0].code).toBe('system_unavailable');
      expect((await execute('invoices.approve_payment', args, c)).reasons[0].code).toBe('system_unavailable');
      expect((await execute('invoices.approve_payment', args, c)).status).toBe('succeeded');
    });

    it('contracts: lookup, then a renewal draft stored once per key', async () => {
      expect(await execute('contracts.lookup', { contractId: 'ctr-2002' })).toMatchObject({
        status: 'succeeded',
        claim: { entity: 'contract', id: 'ctr-2002', fields: { customer: 'Vandelay Industries', customerEmailDomain: 'vandelay.example', endDate: '2027-03-15', status: 'active' } },
      });
      const c = call();
      const drafted = await execute('contracts.draft_renewal', { contractId: 'ctr-2002', draft: 'Dear Vandelay, renew?' }, c);
      expect(drafted.claim).toEqual({
        system: 'sandbox',
        entity: 'contract',
        id: 'ctr-2002',
        fields: { status: 'renewal_drafted', renewalDraftLength: 21, renewalDraftSha256: expect.stringMatching(/^[a-f0-9]{64}$/) },
      });
      await h.query(`UPDATE "sandbox"."contracts" SET renewal_draft = 'edited by hand' WHERE id = 'ctr-2002'`);
      expect(await execute('contracts.draft_renewal', { contractId: 'ctr-2002', draft: 'Dear Vandelay, renew?' }, c)).toEqual(drafted);
      expect((await h.query(`SELECT renewal_draft FROM "sandbox"."contracts" WHERE id = 'ctr-2002'`))[0]).toEqual({ renewal_draft: 'edited by hand' });
      expect((await execute('contracts.draft_renewal', { contractId: 'ctr-9999', draft: 'x' })).reasons[0].code).toBe('contract_not_found');
    });

    it('mail.send_external puts one message in the outbox per key', async () => {
      const c = call();
      const args = { to: 'legal@vandelay.example', subject: 'Your renewal', body: 'Please find the renewal attached.', contractId: 'ctr-2002' };
      const sent = await execute('mail.send_external', args, c);
      expect(sent).toMatchObject({ status: 'succeeded', claim: { system: 'sandbox', entity: 'outbound_mail', fields: { to: 'legal@vandelay.example', subject: 'Your renewal' } } });
      expect(await execute('mail.send_external', args, c)).toEqual(sent);
      expect(await h.query(`SELECT id, "to", contract_id FROM "sandbox"."outbound_mail" WHERE idempotency_key = $1`, [c.idempotencyKey])).toEqual([{ id: sent.claim!.id, to: 'legal@vandelay.example', contract_id: 'ctr-2002' }]);
      expect((await execute('mail.send_external', { ...args, contractId: 'ctr-9999' })).reasons[0].code).toBe('contract_not_found');
    });

    it('tickets: lookup, and an update that claims the fields it changed', async () => {
      expect(await execute('tickets.lookup', { ticketId: 'tkt-3001' })).toMatchObject({
        status: 'succeeded',
        output: { ticketId: 'tkt-3001', subject: 'Cannot log in since update', priority: 'normal', status: 'open', assigneeGroup: null },
      });
      const updated = await execute('tickets.update', { ticketId: 'tkt-3003', priority: 'urgent', assigneeGroup: 'sre' });
      expect(updated).toMatchObject({ status: 'succeeded', claim: { entity: 'ticket', id: 'tkt-3003', fields: { priority: 'urgent', assigneeGroup: 'sre' } }, output: { status: 'open' } });
      expect((await execute('tickets.update', { ticketId: 'tkt-9999', status: 'closed' })).reasons[0].code).toBe('ticket_not_found');
    });
  });
});
