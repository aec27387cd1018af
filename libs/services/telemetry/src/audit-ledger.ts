import { appendFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import {
  CHECKPOINT_LEDGER,
  EVIDENCE_FORMAT,
  inclusionProof,
  sealEvidenceBundle,
  summarizeEvidence,
  type EvidenceRecord,
  CHECKPOINT_VERSION,
  checkpointDigest,
  checkpointProblem,
  GENESIS_HASH,
  verifyLedger,
  sqlLedgerSource,
  toSignedCheckpoint,
  toStoredRecord,
  RECORD_COLUMNS,
  CHECKPOINT_COLUMNS,
  type CheckpointRow,
  MerkleRootBuilder,
  NO_CHECKPOINT,
  signCheckpoint,
  type LedgerVerdict,
  type SignedCheckpoint,
} from '@govmesh/audit-chain';
import { encodePublicKey, keyIdOf, loadPublicKey, publicKeyOf } from '@govmesh/signing';
import { ENDPOINT_DEPS, ServiceKeys, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { TELEMETRY_SERVICE } from './database';

const T = '"telemetry"';
/** Serializes checkpointing across telemetry instances. */
const CHECKPOINT_LOCK = 7_357_001;
const PAGE = 2000;

export type AuditVerifyResult = LedgerVerdict & { keyId: string };

/**
 * The audit ledger's signed checkpoints and its verification. Every interval (and on demand), the
 * records added since the last checkpoint are covered by a new one: their Merkle root, the chain
 * head, the previous checkpoint's digest and the time, signed with the audit key and, when a sink
 * is configured, copied outside the database. Verification streams the records after the last
 * checkpoint verified intact (or from the first record) against the chain and the checkpoints.
 */
@Injectable()
export class AuditLedger implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('audit-ledger');
  private signingKey!: KeyObject;
  private publicKey!: string;
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  /** Checkpoints the sink has not taken yet, retried with the next ones. */
  private unsent: SignedCheckpoint[] = [];

  constructor(
    @InjectDataSource(TELEMETRY_SERVICE) private readonly dataSource: DataSource,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
    private readonly keys: ServiceKeys,
  ) {}

  onModuleInit(): void {
    this.signingKey = this.keys.signingKey('audit');
    this.publicKey = publicKeyOf(this.signingKey);
    const configured = this.deps.config.keys.auditPublic;
    if (configured !== undefined) {
      let matches = false;
      try {
        matches = encodePublicKey(loadPublicKey(configured)) === this.publicKey;
      } catch {
        matches = false;
      }
      if (!matches) throw new Error('Config validation error: "GOVMESH_AUDIT_PUBLIC_KEY" is not the public key of GOVMESH_AUDIT_SIGNING_KEY');
    }
    const { intervalMs } = this.deps.config.auditCheckpoint;
    this.timer = setInterval(() => void this.checkpointInBackground(), intervalMs);
    this.timer.unref();
  }

  /** The grants protect the ledger only from a role that cannot step around them: say so when this one can. */
  async onApplicationBootstrap(): Promise<void> {
    if (this.deps.config.mode !== 'distributed') return;
    try {
      const [me] = (await this.dataSource.query('SELECT rolsuper, rolcreaterole FROM pg_roles WHERE rolname = current_user')) as Array<{ rolsuper: boolean; rolcreaterole: boolean }>;
      if (me?.rolsuper || me?.rolcreaterole) {
        this.logger.warn(
          `the database role is ${me.rolsuper ? 'a superuser' : 'allowed to create roles'}: the audit ledger's append-only triggers and signed checkpoints still detect edits, ` +
            'but only a role without those rights is refused UPDATE and DELETE by the database (see deploy/README.md)',
        );
      }
    } catch {
      // Embedded PGlite and restricted catalogs: nothing to report.
    }
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** The public key auditors verify checkpoints and evidence bundles with. */
  get key(): { keyId: string; publicKey: string } {
    return { keyId: keyIdOf(this.publicKey), publicKey: this.publicKey };
  }

  private async checkpointInBackground(): Promise<void> {
    if (this.running) return;
    this.running = this.checkpoint().catch((err: Error) => this.logger.warn(`checkpoint failed, retried at the next interval: ${err.message}`));
    try {
      await this.running;
    } finally {
      this.running = undefined;
    }
  }

  /**
   * Signs checkpoints over every record added since the last one (several when more than the
   * configured maximum were added), then copies them to the sink. Returns the new checkpoints.
   */
  async checkpoint(): Promise<SignedCheckpoint[]> {
    const { maxRecords } = this.deps.config.auditCheckpoint;
    const made = await this.dataSource.transaction(async (m) => {
      await m.query('SELECT pg_advisory_xact_lock($1)', [CHECKPOINT_LOCK]);
      const [head] = (await m.query(`SELECT seq FROM ${T}."audit_chain_head" WHERE id = 1`)) as Array<{ seq: string }>;
      let last = await this.lastCheckpoint(m);
      const created: SignedCheckpoint[] = [];
      const headSeq = Number(head?.seq ?? 0);
      while ((last?.statement.seq ?? 0) < headSeq) {
        const fromSeq = (last?.statement.seq ?? 0) + 1;
        const toSeq = Math.min(headSeq, fromSeq + maxRecords - 1);
        const merkle = new MerkleRootBuilder();
        let headHash = GENESIS_HASH;
        for (let after = fromSeq - 1; after < toSeq; ) {
          const rows = (await m.query(`SELECT seq, hash FROM ${T}."audit_records" WHERE seq > $1 AND seq <= $2 ORDER BY seq LIMIT $3`, [after, toSeq, PAGE])) as Array<{ seq: string; hash: string }>;
          if (rows.length === 0) break;
          for (const r of rows) {
            merkle.push(r.hash.trim());
            headHash = r.hash.trim();
          }
          after = Number(rows[rows.length - 1].seq);
        }
        // A ledger with records missing below its head is not signed over: verification names the gap.
        if (merkle.size !== toSeq - fromSeq + 1) throw new Error(`records ${fromSeq}..${toSeq} are not all in the ledger (${merkle.size} found): no checkpoint signed`);
        const cp = signCheckpoint(
          { v: CHECKPOINT_VERSION, ledger: CHECKPOINT_LEDGER, seq: toSeq, fromSeq, head: headHash, root: merkle.root(), prev: last ? checkpointDigest(last.statement) : NO_CHECKPOINT, time: new Date().toISOString() },
          this.signingKey,
          this.publicKey,
        );
        await m.query(`INSERT INTO ${T}."audit_checkpoints" (${CHECKPOINT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [
          cp.statement.seq,
          cp.statement.fromSeq,
          cp.statement.head,
          cp.statement.root,
          cp.statement.prev,
          cp.statement.time,
          cp.keyId,
          cp.signature,
        ]);
        created.push(cp);
        last = cp;
      }
      return created;
    });
    if (made.length > 0) {
      const { metrics } = this.deps;
      metrics.auditCheckpoints.inc({ service: TELEMETRY_SERVICE }, made.length);
      metrics.auditChainLength.set({ service: TELEMETRY_SERVICE }, made[made.length - 1].statement.seq);
      await this.sink(made);
    }
    return made;
  }

  async lastCheckpoint(m: EntityManager | DataSource = this.dataSource): Promise<SignedCheckpoint | null> {
    const [row] = (await m.query(`SELECT ${CHECKPOINT_COLUMNS} FROM ${T}."audit_checkpoints" ORDER BY seq DESC LIMIT 1`)) as CheckpointRow[];
    return row ? toSignedCheckpoint(row) : null;
  }

  /** The checkpoint covering a record: the first one at or after it. */
  async checkpointCovering(seq: number, m: EntityManager | DataSource = this.dataSource): Promise<SignedCheckpoint | null> {
    const [row] = (await m.query(`SELECT ${CHECKPOINT_COLUMNS} FROM ${T}."audit_checkpoints" WHERE seq >= $1 ORDER BY seq LIMIT 1`, [seq])) as CheckpointRow[];
    return row ? toSignedCheckpoint(row) : null;
  }

  /** Checkpoints newest first, a page at a time. */
  async checkpoints(limit: number, beforeSeq?: number): Promise<SignedCheckpoint[]> {
    const rows = (await this.dataSource.query(`SELECT ${CHECKPOINT_COLUMNS} FROM ${T}."audit_checkpoints" WHERE ($2::bigint IS NULL OR seq < $2) ORDER BY seq DESC LIMIT $1`, [limit, beforeSeq ?? null])) as CheckpointRow[];
    return rows.map(toSignedCheckpoint);
  }

  private async sink(made: SignedCheckpoint[]): Promise<void> {
    const { sink, sinkToken } = this.deps.config.auditCheckpoint;
    if (!sink) return;
    const batch = [...this.unsent, ...made];
    const kind = sink.startsWith('file:') ? 'file' : 'http';
    try {
      if (kind === 'file') {
        await appendFile(fileURLToPath(sink), batch.map((cp) => `${JSON.stringify(cp)}\n`).join(''), { mode: 0o600 });
      } else {
        for (const cp of batch) {
          const res = await fetch(sink, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...(sinkToken ? { authorization: `Bearer ${sinkToken}` } : {}) },
            body: JSON.stringify(cp),
            redirect: 'error',
            signal: AbortSignal.timeout(5000),
          });
          if (!res.ok) throw new Error(`the sink answered ${res.status}`);
        }
      }
      this.unsent = [];
    } catch (err) {
      // Bounded: a sink down for long keeps the newest checkpoints; each one covers all before it.
      this.unsent = batch.slice(-1000);
      this.deps.metrics.auditCheckpointSinkFailures.inc({ service: TELEMETRY_SERVICE, sink: kind });
      this.logger.warn(`the checkpoint sink did not take ${batch.length} checkpoint(s), retried with the next: ${(err as Error).message}`);
    }
  }

  /**
   * Verifies the ledger in one consistent snapshot, streamed a page at a time: from the last
   * checkpoint a verification found intact (`from: 'checkpoint'`), or from the first record
   * (`from: 'genesis'`). Records an intact result as the next starting point.
   */
  async verify(from: 'checkpoint' | 'genesis' = 'checkpoint'): Promise<AuditVerifyResult> {
    const runner = this.dataSource.createQueryRunner();
    await runner.connect();
    let verdict: LedgerVerdict;
    let next: SignedCheckpoint | null = null;
    try {
      await runner.startTransaction('REPEATABLE READ');
      const q = (sql: string, params?: unknown[]) => runner.query(sql, params) as Promise<Array<Record<string, unknown>>>;
      let start: SignedCheckpoint | null = null;
      if (from === 'checkpoint') {
        const [state] = await q(`SELECT checkpoint_seq FROM ${T}."audit_verification" WHERE id = 1`);
        if (state) {
          const [row] = (await q(`SELECT ${CHECKPOINT_COLUMNS} FROM ${T}."audit_checkpoints" WHERE seq = $1`, [state['checkpoint_seq']])) as unknown as CheckpointRow[];
          start = row ? toSignedCheckpoint(row) : null;
          // A starting point that is not a checkpoint signed with this key is no starting point.
          if (start && checkpointProblem(start, this.publicKey) !== null) start = null;
        }
      }
      ({ verdict, verifiedCheckpoint: next } = await verifyLedger(sqlLedgerSource(q), this.publicKey, start, PAGE));
      await runner.commitTransaction();
    } catch (err) {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      throw err;
    } finally {
      await runner.release();
    }
    this.deps.metrics.auditVerifications.inc({ service: TELEMETRY_SERVICE, result: verdict.intact ? 'intact' : 'broken' });
    if (verdict.intact && next) {
      await this.dataSource.query(
        `INSERT INTO ${T}."audit_verification" (id, checkpoint_seq, verified_at) VALUES (1, $1, now())
         ON CONFLICT (id) DO UPDATE SET checkpoint_seq = GREATEST(${T}."audit_verification".checkpoint_seq, EXCLUDED.checkpoint_seq), verified_at = now()`,
        [next.statement.seq],
      );
    } else if (!verdict.intact) {
      this.logger.error(`the audit ledger is not intact: ${verdict.problem.kind} at ${verdict.problem.seq}: ${verdict.reason}`);
    }
    return { ...verdict, keyId: this.key.keyId };
  }

  /**
   * One run's evidence bundle as the file to hand over (canonical JSON, signed), or null when the
   * ledger holds no record of the run. Records not yet under a checkpoint get one first, so every
   * record comes with its inclusion proof.
   */
  async evidence(runId: string): Promise<{ text: string; records: number } | null> {
    const rows = (await this.dataSource.query(`SELECT ${RECORD_COLUMNS} FROM ${T}."audit_records" WHERE run_id = $1 ORDER BY seq LIMIT $2`, [runId, MAX_EVIDENCE_RECORDS + 1])) as Array<Record<string, unknown>>;
    if (rows.length === 0) return null;
    if (rows.length > MAX_EVIDENCE_RECORDS) throw new EvidenceTooLargeError(runId);
    const records = rows.map(toStoredRecord);
    const lastSeq = records[records.length - 1].seq;
    if (((await this.lastCheckpoint())?.statement.seq ?? 0) < lastSeq) await this.checkpoint();
    const checkpoints = new Map<number, { cp: SignedCheckpoint; hashes: string[] }>();
    const withProofs: EvidenceRecord[] = [];
    for (const record of records) {
      let covering = [...checkpoints.values()].find(({ cp }) => cp.statement.fromSeq <= record.seq && record.seq <= cp.statement.seq);
      if (!covering) {
        const cp = await this.checkpointCovering(record.seq);
        if (!cp) throw new Error(`no checkpoint covers record ${record.seq}`);
        const hashes = ((await this.dataSource.query(`SELECT hash FROM ${T}."audit_records" WHERE seq >= $1 AND seq <= $2 ORDER BY seq`, [cp.statement.fromSeq, cp.statement.seq])) as Array<{ hash: string }>).map((r) => r.hash.trim());
        covering = { cp, hashes };
        checkpoints.set(cp.statement.seq, covering);
      }
      const index = record.seq - covering.cp.statement.fromSeq;
      withProofs.push({ ...record, proof: { checkpoint: covering.cp.statement.seq, index, path: inclusionProof(covering.hashes, index) } });
    }
    const text = sealEvidenceBundle(
      {
        format: EVIDENCE_FORMAT,
        runId,
        exportedAt: new Date().toISOString(),
        key: this.key,
        summary: summarizeEvidence(records),
        records: withProofs,
        checkpoints: [...checkpoints.values()].map(({ cp }) => cp),
      },
      this.signingKey,
    );
    return { text, records: records.length };
  }
}

/** The most records one evidence bundle holds. */
export const MAX_EVIDENCE_RECORDS = 20000;

export class EvidenceTooLargeError extends Error {
  constructor(readonly runId: string) {
    super(`run "${runId}" has more than ${MAX_EVIDENCE_RECORDS} ledger records: too many for one evidence bundle`);
  }
}
