import { randomUUID } from 'node:crypto';
import { EventTypes, Topics } from '@govmesh/contracts';
import { appendToChain, payloadDigest } from '@govmesh/audit-chain';
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

  const COLUMNS = 'seq, event_id, type, run_id, topic, occurred_at, recorded_at, payload, payload_digest, prev_hash, hash';
  /** Runs an offline edit, checks what verification says, and puts the ledger back as it was. */
  const edited = async (sqls: string[], check: () => Promise<void>) => {
    const snapshot = await h.query<Record<string, unknown>>(`SELECT ${COLUMNS} FROM "${SCHEMA}"."audit_records" ORDER BY seq`);
    for (const sql of sqls) await asOwner(sql);
    try {
      await check();
    } finally {
      await asOwner(`DELETE FROM "${SCHEMA}"."audit_records"`);
      for (const r of snapshot) {
        await asOwner(
          `INSERT INTO "${SCHEMA}"."audit_records" (${COLUMNS}) VALUES (${[r['seq'], r['event_id'], r['type'], r['run_id'], r['topic']].map((v) => (v === null ? 'NULL' : `'${String(v).replace(/'/g, "''")}'`)).join(', ')}, '${(r['occurred_at'] as Date).toISOString()}', '${(r['recorded_at'] as Date).toISOString()}', '${JSON.stringify(r['payload']).replace(/'/g, "''")}'::jsonb, '${r['payload_digest']}', '${r['prev_hash']}', '${r['hash']}')`,
        );
      }
    }
    expect((await verify()).body.intact).toBe(true);
  };
  const full = () => h.http<{ intact: boolean; length: number; verifiedFrom: number; problem?: { seq: number; kind: string; reason: string } }>('GET', '/v1/audit/verify?from=genesis', { key: auditor });

  it.each([
    ['event_id', `event_id = 'forged'`],
    ['type', `type = 'govmesh.intent.submitted.v1'`],
    ['run_id', `run_id = 'another-run'`],
    ['run_id (to none)', `run_id = NULL`],
    ['topic', `topic = 'govmesh.intents'`],
    ['occurred_at', `occurred_at = occurred_at + interval '1 second'`],
    ['payload', `payload = jsonb_set(payload, '{data,effect}', '"allow"')`],
    ['payload_digest', `payload_digest = repeat('0', 64)`],
    ['prev_hash', `prev_hash = repeat('1', 64)`],
    ['hash', `hash = repeat('2', 64)`],
  ])('names an edit of %s at the record it was made to', async (_column, set) => {
    await edited([`UPDATE "${SCHEMA}"."audit_records" SET ${set} WHERE seq = 12`], async () => {
      const body = (await full()).body;
      expect(body).toMatchObject({ intact: false, problem: { seq: 12 } });
      expect(['modified', 'inserted']).toContain(body.problem!.kind);
    });
  });

  it('names a record deleted from the middle, a record inserted after the head and two records swapped', async () => {
    await edited([`DELETE FROM "${SCHEMA}"."audit_records" WHERE seq = 9`], async () => {
      expect((await full()).body).toMatchObject({ intact: false, length: 8, problem: { seq: 9, kind: 'deleted' } });
    });
    // A forger who knows the hash function: the record is chained from the last one, consistent in itself.
    const [last] = await h.query<Record<string, unknown>>(`SELECT ${COLUMNS} FROM "${SCHEMA}"."audit_records" WHERE seq = 30`);
    const payload = { forged: true };
    const forged = appendToChain(String(last['hash']), { seq: 31, eventId: 'forged', type: String(last['type']), runId: null, topic: String(last['topic']), occurredAt: new Date().toISOString(), payloadDigest: payloadDigest(payload) });
    await edited([`INSERT INTO "${SCHEMA}"."audit_records" (seq, event_id, type, run_id, topic, occurred_at, payload, payload_digest, prev_hash, hash) VALUES (31, 'forged', '${forged.type}', NULL, '${forged.topic}', '${forged.occurredAt}', '{"forged":true}', '${forged.payloadDigest}', '${forged.prevHash}', '${forged.hash}')`], async () => {
      expect((await full()).body).toMatchObject({ intact: false, length: 31, problem: { seq: 31, kind: 'inserted' } });
    });
    // Two rows change places: each keeps its content and takes the other's sequence number.
    const swap = [
      `CREATE TABLE "${SCHEMA}"."swapped" AS SELECT * FROM "${SCHEMA}"."audit_records" WHERE seq IN (5, 6)`,
      `DELETE FROM "${SCHEMA}"."audit_records" WHERE seq IN (5, 6)`,
      `INSERT INTO "${SCHEMA}"."audit_records" (${COLUMNS}) SELECT 11 - seq, event_id, type, run_id, topic, occurred_at, recorded_at, payload, payload_digest, prev_hash, hash FROM "${SCHEMA}"."swapped"`,
      `DROP TABLE "${SCHEMA}"."swapped"`,
    ];
    await edited(swap, async () => {
      expect((await full()).body).toMatchObject({ intact: false, problem: { seq: 5, kind: 'reordered' } });
    });
  });

  it('signs checkpoints on request (auditors and operators), lists them and verifies incrementally from the last one verified', async () => {
    expect((await h.http('POST', '/v1/audit/checkpoints', { key: await h.apiKey('agent', { agentId: 'support-assistant' }) })).status).toBe(403);
    const made = await h.http<{ made: Array<{ statement: { seq: number; fromSeq: number } }> }>('POST', '/v1/audit/checkpoints', { key: auditor });
    expect(made.status).toBe(200);
    expect(made.body.made.map((c) => c.statement)).toEqual([expect.objectContaining({ seq: 30, fromSeq: 1 })]);
    expect((await h.http<{ made: unknown[] }>('POST', '/v1/audit/checkpoints', { key: await h.apiKey('operator') })).body.made).toEqual([]);
    const listed = await h.http<Array<{ statement: { seq: number }; keyId: string }>>('GET', '/v1/audit/checkpoints', { key: auditor });
    const key = await h.http<{ keyId: string; publicKey: string }>('GET', '/v1/audit/key', { key: auditor });
    expect(listed.body).toEqual([expect.objectContaining({ statement: expect.objectContaining({ seq: 30 }), keyId: key.body.keyId })]);
    expect((await full()).body).toMatchObject({ intact: true, length: 30, checkpoint: { seq: 30 } });
    expect((await verify()).body).toMatchObject({ intact: true, length: 0, verifiedFrom: 30 });
    for (const bad of ['?from=yesterday', '?from=']) expect(await h.http('GET', `/v1/audit/verify${bad}`, { key: auditor })).toMatchObject({ status: 400, body: { code: 'invalid_query' } });
    for (const bad of ['?limit=0', '?limit=abc', '?limit=1001', '?before=-1', '?before=1e3']) expect(await h.http('GET', `/v1/audit/checkpoints${bad}`, { key: auditor })).toMatchObject({ status: 400, body: { code: 'invalid_query' } });
  });

  it('catches the tail cut back past a checkpoint, even with the chain head moved back too', async () => {
    await edited([`DELETE FROM "${SCHEMA}"."audit_records" WHERE seq > 25`, `UPDATE "${SCHEMA}"."audit_chain_head" SET seq = 25, hash = (SELECT hash FROM "${SCHEMA}"."audit_records" WHERE seq = 25)`], async () => {
      expect((await full()).body).toMatchObject({ intact: false, length: 25, problem: { seq: 26, kind: 'truncated' } });
      await h.query(`UPDATE "${SCHEMA}"."audit_chain_head" SET seq = 30, hash = (SELECT c.head FROM "${SCHEMA}"."audit_checkpoints" c WHERE c.seq = 30)`);
    });
  });

  it('names the first of the last ten records deleted, against the chain head', async () => {
    await asOwner(`DELETE FROM "${SCHEMA}"."audit_records" WHERE seq > 20`);
    expect((await full()).body).toMatchObject({ intact: false, length: 20, problem: { seq: 21, kind: 'truncated' } });
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
    // On govmesh.results telemetry is the only govmesh reader, so it dead-letters what it cannot decode itself.
    await h.sendRaw(Topics.results, '{"secret":"customer data"', 'k-1');
    await new Promise((r) => setTimeout(r, 200));
    await h.settle();
    const auditor = await h.apiKey('auditor');
    const list = await h.http<Array<Record<string, unknown>>>('GET', '/v1/dead-letters?reason=malformed_json', { key: auditor });
    expect(list.status).toBe(200);
    expect(list.body.length).toBeGreaterThan(0);
    expect(list.body[0]).toMatchObject({ reasonCode: 'malformed_json', originalTopic: Topics.results, messageKey: 'k-1' });
    expect(list.body[0]).not.toHaveProperty('value');
    expect(JSON.stringify(list.body)).not.toContain('customer data');
    const one = await h.http<{ value: string }>('GET', `/v1/dead-letters/${encodeURIComponent(list.body[0]['id'] as string)}?include=value`, { key: auditor });
    expect(one.body.value).toContain('customer data');
    expect((await h.http('GET', '/v1/dead-letters', { key: await h.apiKey('agent', { agentId: 'support-assistant' }) })).status).toBe(403);
    expect(await h.http('GET', '/v1/dead-letters?reason=DROP%20TABLE', { key: auditor })).toMatchObject({ status: 400, body: { code: 'invalid_query' } });
    expect(await h.http('GET', '/v1/dead-letters/nope', { key: auditor })).toMatchObject({ status: 404, body: { code: 'dead_letter_not_found' } });
  });
});
