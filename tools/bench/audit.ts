/**
 * `npm run bench:audit`: the audit ledger's cost, with a baseline in the same run.
 *
 *  1. Appends: N records written in batches, once as plain INSERTs into a table of the ledger's
 *     shape (baseline), once as telemetry appends them (lock the chain head, hash each record
 *     over the previous hash and its canonical content with the payload digest, INSERT, move the
 *     head). Reports records/s and per-batch p50/p99.
 *  2. Verification: a ledger of V records (default 1,000,000) with a signed checkpoint every
 *     10,000, verified from the first record as `GET /v1/audit/verify?from=genesis` does
 *     (streamed, pages of 2,000), reporting records/s and the peak heap while it ran.
 *
 * Usage: npm run bench:audit -- [--records 20000] [--batch 50] [--verify 1000000]
 */
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import {
  appendToChain,
  checkpointDigest,
  GENESIS_HASH,
  MerkleRootBuilder,
  NO_CHECKPOINT,
  payloadDigest,
  signCheckpoint,
  sqlLedgerSource,
  verifyLedger,
  type SignedCheckpoint,
} from '@govmesh/audit-chain';
import { generateKeyPair } from '@govmesh/signing';
import { createScratchDatabase } from '@govmesh/testing';

const { values } = parseArgs({ options: { records: { type: 'string', default: '20000' }, batch: { type: 'string', default: '50' }, verify: { type: 'string', default: '1000000' } } });
const N = Number(values.records);
const BATCH = Number(values.batch);
const V = Number(values.verify);

const TABLE = (name: string) => `CREATE TABLE ${name} (seq bigint PRIMARY KEY, event_id varchar(255) NOT NULL UNIQUE, type varchar(128) NOT NULL, run_id varchar(128), topic varchar(255) NOT NULL,
  occurred_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now(), payload jsonb NOT NULL, payload_digest char(64) NOT NULL, prev_hash char(64) NOT NULL, hash char(64) NOT NULL)`;

function event(i: number) {
  return {
    specversion: '1.0',
    id: `evt-${i}`,
    type: 'govmesh.intent.decided.v1',
    source: 'govmesh/policy',
    time: new Date(Date.UTC(2026, 10, 21, 9, 0, 0, i)).toISOString(),
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    data: { runId: `run-${i % 5000}`, agentId: 'invoice-agent', effect: i % 3 ? 'allow' : 'deny', policyVersion: 'abcdef0123456789', policies: ['active-agents-submit-intents'], reasons: [{ code: 'permitted', message: 'permitted by policy' }], intent: { intentId: `run-${i % 5000}`, agentId: 'invoice-agent', task: `pay invoice inv-${i}` } },
  };
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];

async function insertRows(c: Client, table: string, rows: unknown[][]): Promise<void> {
  const cols = 'seq, event_id, type, run_id, topic, occurred_at, payload, payload_digest, prev_hash, hash';
  const params: unknown[] = [];
  const tuples = rows.map((r) => `(${r.map((v) => `$${params.push(v)}`).join(', ')})`);
  await c.query(`INSERT INTO ${table} (${cols}) VALUES ${tuples.join(', ')}`, params);
}

async function appends(c: Client, chained: boolean): Promise<{ perSecond: number; p50: number; p99: number }> {
  const table = chained ? 'chained' : 'plain';
  await c.query(TABLE(table));
  await c.query('CREATE TABLE IF NOT EXISTS head (id smallint PRIMARY KEY, seq bigint NOT NULL, hash char(64) NOT NULL)');
  await c.query(`INSERT INTO head VALUES (1, 0, $1) ON CONFLICT (id) DO UPDATE SET seq = 0, hash = $1`, [GENESIS_HASH]);
  const latencies: number[] = [];
  const started = performance.now();
  for (let from = 0; from < N; from += BATCH) {
    const t0 = performance.now();
    await c.query('BEGIN');
    const events = Array.from({ length: Math.min(BATCH, N - from) }, (_, k) => event(from + k));
    if (chained) {
      const { rows } = await c.query('SELECT seq, hash FROM head WHERE id = 1 FOR UPDATE');
      let seq = Number(rows[0].seq);
      let hash = String(rows[0].hash);
      const out = events.map((e) => {
        seq++;
        const digest = payloadDigest(e);
        const r = appendToChain(hash, { seq, eventId: e.id, type: e.type, runId: e.data.runId, topic: 'govmesh.decisions', occurredAt: e.time, payloadDigest: digest });
        hash = r.hash;
        return [seq, e.id, e.type, e.data.runId, 'govmesh.decisions', e.time, e, digest, r.prevHash, r.hash];
      });
      await insertRows(c, table, out);
      await c.query('UPDATE head SET seq = $1, hash = $2 WHERE id = 1', [seq, hash]);
    } else {
      await insertRows(c, table, events.map((e, k) => [from + k + 1, e.id, e.type, e.data.runId, 'govmesh.decisions', e.time, e, 'x'.repeat(64), 'x'.repeat(64), 'x'.repeat(64)]));
    }
    await c.query('COMMIT');
    latencies.push(performance.now() - t0);
  }
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: N / seconds, p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99) };
}

async function buildLedger(c: Client, key: ReturnType<typeof generateKeyPair>): Promise<void> {
  await c.query('CREATE SCHEMA ledger');
  await c.query(TABLE('ledger.audit_records'));
  await c.query('CREATE TABLE ledger.audit_chain_head (id smallint PRIMARY KEY, seq bigint NOT NULL, hash char(64) NOT NULL)');
  await c.query(`CREATE TABLE ledger.audit_checkpoints (seq bigint PRIMARY KEY, from_seq bigint NOT NULL, head char(64) NOT NULL, root char(64) NOT NULL, prev char(64) NOT NULL, signed_time varchar(40) NOT NULL, key_id char(16) NOT NULL, signature varchar(128) NOT NULL)`);
  let hash = GENESIS_HASH;
  let merkle = new MerkleRootBuilder();
  let last: SignedCheckpoint | null = null;
  const CHUNK = 2000;
  for (let from = 1; from <= V; from += CHUNK) {
    const rows: unknown[][] = [];
    for (let seq = from; seq < from + CHUNK && seq <= V; seq++) {
      const e = event(seq);
      const digest = payloadDigest(e);
      const r = appendToChain(hash, { seq, eventId: e.id, type: e.type, runId: e.data.runId, topic: 'govmesh.decisions', occurredAt: e.time, payloadDigest: digest });
      hash = r.hash;
      merkle.push(hash);
      rows.push([seq, e.id, e.type, e.data.runId, 'govmesh.decisions', e.time, e, digest, r.prevHash, r.hash]);
      if (seq % 10000 === 0 || seq === V) {
        const cp: SignedCheckpoint = signCheckpoint({ v: 1, ledger: 'govmesh-audit', seq, fromSeq: (last?.statement.seq ?? 0) + 1, head: hash, root: merkle.root(), prev: last ? checkpointDigest(last.statement) : NO_CHECKPOINT, time: new Date().toISOString() }, key.privateKeySeed, key.publicKey);
        await c.query('INSERT INTO ledger.audit_checkpoints VALUES ($1, $2, $3, $4, $5, $6, $7, $8)', [cp.statement.seq, cp.statement.fromSeq, cp.statement.head, cp.statement.root, cp.statement.prev, cp.statement.time, cp.keyId, cp.signature]);
        last = cp;
        merkle = new MerkleRootBuilder();
      }
    }
    await insertRows(c, 'ledger.audit_records', rows.slice(0, 1000));
    await insertRows(c, 'ledger.audit_records', rows.slice(1000));
    if (from % 100000 === 1) process.stdout.write(`  building the ledger: ${from - 1} records\r`);
  }
  await c.query('INSERT INTO ledger.audit_chain_head VALUES (1, $1, $2)', [V, hash]);
}

async function main(): Promise<void> {
  const db = await createScratchDatabase('bench-audit');
  const c = new Client({ connectionString: db.url });
  await c.connect();
  try {
    console.log(`audit ledger appends: ${N} records in transactions of ${BATCH}, same table shape, same run`);
    const plain = await appends(c, false);
    const chained = await appends(c, true);
    const row = (name: string, r: { perSecond: number; p50: number; p99: number }) => console.log(`  ${name.padEnd(34)} ${r.perSecond.toFixed(0).padStart(8)} records/s   batch p50 ${r.p50.toFixed(2)} ms   p99 ${r.p99.toFixed(2)} ms`);
    row('plain INSERT (baseline)', plain);
    row('chained append (hash + head lock)', chained);
    console.log(`  chained / plain: ${((chained.perSecond / plain.perSecond) * 100).toFixed(0)}% (target at least 50%)`);

    const key = generateKeyPair();
    console.log(`\naudit ledger verification over ${V} records (checkpoint every 10,000), from the first record`);
    const t0 = performance.now();
    await buildLedger(c, key);
    console.log(`  built in ${((performance.now() - t0) / 1000).toFixed(0)} s                    `);
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    let peak = heapBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 50);
    await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const started = performance.now();
    // The heap after a full collection every 100,000 records: flat when verification holds constant memory.
    const ledgerSource = sqlLedgerSource(async (sql, params) => (await c.query(sql, params)).rows, 'ledger');
    const settled: number[] = [];
    const source = {
      ...ledgerSource,
      records: async (after: number, limit: number) => {
        if (after % 100000 === 0 && after > 0) {
          global.gc?.();
          settled.push(process.memoryUsage().heapUsed);
        }
        return ledgerSource.records(after, limit);
      },
    };
    const { verdict } = await verifyLedger(source, key.publicKey);
    const seconds = (performance.now() - started) / 1000;
    await c.query('COMMIT');
    clearInterval(sampler);
    console.log(`  verdict: ${verdict.intact ? 'intact' : `broken (${verdict.problem.kind} at ${verdict.problem.seq})`}, ${verdict.length} records in ${seconds.toFixed(1)} s: ${(verdict.length / seconds).toFixed(0)} records/s`);
    console.log(`  heap after a full collection at every 100,000 records: ${settled.map((b) => (b / 2 ** 20).toFixed(0)).join(', ')} MiB`);
    console.log(`  heap before ${(heapBefore / 2 ** 20).toFixed(0)} MiB, peak while verifying ${(peak / 2 ** 20).toFixed(0)} MiB (ledger size in Postgres: ${(await c.query(`SELECT pg_size_pretty(pg_total_relation_size('ledger.audit_records')) AS s`)).rows[0].s})`);
  } finally {
    await c.end();
    await db.drop();
  }
}

void main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
