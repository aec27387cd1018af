import { randomUUID } from 'node:crypto';
import { EventTypes, Topics } from '@govmesh/contracts';
import { ServiceHarness } from '@govmesh/testing';
import { TELEMETRY_DATABASE } from './database';
import { TelemetryServiceModule } from './telemetry.module';

const SCHEMA = TELEMETRY_DATABASE.schema;

describe('telemetry: an audit ledger that detects every edit', () => {
  let h: ServiceHarness;
  let auditor: string;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [TelemetryServiceModule], schemas: [SCHEMA] });
    auditor = await h.apiKey('auditor');
    const decisions = Array.from({ length: 30 }, (_, i) =>
      h.event(EventTypes.IntentDecided, {
        runId: `r-${i}-${randomUUID()}`,
        agentId: 'support-assistant',
        effect: 'deny',
        reasons: [{ code: 'no_permit', message: 'denied by default' }],
        policyVersion: '0123456789abcdef',
        intent: { intentId: `r-${i}`, agentId: 'support-assistant', task: 'close account acc-001' },
      }),
    );
    await h.send(...decisions);
    await new Promise((r) => setTimeout(r, 200));
    await h.settle();
  });
  afterAll(async () => {
    await h?.close();
  });

  const verify = () => h.http<{ intact: boolean; length: number; problem?: { seq: number; kind: string; reason: string } }>('GET', '/v1/audit/verify', { key: auditor });
  /** What someone with the schema owner's rights can do offline: switch the append-only triggers off. */
  const asOwner = async (sql: string) => {
    await h.query(`ALTER TABLE "${SCHEMA}"."audit_records" DISABLE TRIGGER USER`);
    try {
      await h.query(sql);
    } finally {
      await h.query(`ALTER TABLE "${SCHEMA}"."audit_records" ENABLE TRIGGER USER`);
    }
  };

  it('verifies an untouched ledger, auditors only', async () => {
    expect((await verify()).body).toMatchObject({ intact: true, length: 30 });
    expect((await h.http('GET', '/v1/audit/verify', { key: await h.apiKey('operator') })).status).toBe(403);
  });

  it('refuses UPDATE, DELETE and TRUNCATE of ledger records in the database itself', async () => {
    for (const sql of [`UPDATE "${SCHEMA}"."audit_records" SET type = 'x' WHERE seq = 1`, `DELETE FROM "${SCHEMA}"."audit_records" WHERE seq = 1`, `TRUNCATE "${SCHEMA}"."audit_records"`]) {
      await expect(h.query(sql)).rejects.toThrow(/append-only/);
    }
    expect((await verify()).body.intact).toBe(true);
  });

  it('names a payload changed from deny to allow, even with the stored digest left alone', async () => {
    await asOwner(`UPDATE "${SCHEMA}"."audit_records" SET payload = jsonb_set(payload, '{data,effect}', '"allow"') WHERE seq = 7`);
    try {
      expect((await verify()).body).toMatchObject({ intact: false, length: 6, problem: { seq: 7, kind: 'modified' } });
    } finally {
      await asOwner(`UPDATE "${SCHEMA}"."audit_records" SET payload = jsonb_set(payload, '{data,effect}', '"deny"') WHERE seq = 7`);
    }
    expect((await verify()).body.intact).toBe(true);
  });

  it('names the first of the last ten records deleted, against the chain head', async () => {
    await asOwner(`DELETE FROM "${SCHEMA}"."audit_records" WHERE seq > 20`);
    expect((await verify()).body).toMatchObject({ intact: false, length: 20, problem: { seq: 21, kind: 'truncated' } });
  });
});

describe('telemetry: dead letters for auditors, metadata first', () => {
  let h: ServiceHarness;

  beforeAll(async () => {
    h = await ServiceHarness.start({ modules: [TelemetryServiceModule], schemas: [SCHEMA] });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('lists reasons and origins without the original bytes, and gives one record\'s bytes on request', async () => {
    await h.sendRaw(Topics.intents, '{"secret":"customer data"', 'k-1');
    await new Promise((r) => setTimeout(r, 200));
    await h.settle();
    const auditor = await h.apiKey('auditor');
    const list = await h.http<Array<Record<string, unknown>>>('GET', '/v1/dead-letters?reason=malformed_json', { key: auditor });
    expect(list.status).toBe(200);
    expect(list.body.length).toBeGreaterThan(0);
    expect(list.body[0]).toMatchObject({ reasonCode: 'malformed_json', originalTopic: Topics.intents, messageKey: 'k-1' });
    expect(list.body[0]).not.toHaveProperty('value');
    expect(JSON.stringify(list.body)).not.toContain('customer data');
    const one = await h.http<{ value: string }>('GET', `/v1/dead-letters/${encodeURIComponent(list.body[0]['id'] as string)}`, { key: auditor });
    expect(one.body.value).toContain('customer data');
    expect((await h.http('GET', '/v1/dead-letters', { key: await h.apiKey('agent', { agentId: 'support-assistant' }) })).status).toBe(403);
    expect(await h.http('GET', '/v1/dead-letters?reason=DROP%20TABLE', { key: auditor })).toMatchObject({ status: 400, body: { code: 'invalid_query' } });
    expect(await h.http('GET', '/v1/dead-letters/nope', { key: auditor })).toMatchObject({ status: 404, body: { code: 'dead_letter_not_found' } });
  });
});
