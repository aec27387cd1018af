import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { appendToChain, GENESIS_HASH, payloadDigest } from '@govmesh/audit-chain';
import type { UnitOfWork } from '@govmesh/messaging';
import { ENDPOINT_DEPS, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { TELEMETRY_SERVICE } from './database';
import { AuditChainHead, AuditRecord, DeadLetterRecord } from './entities';

export interface AuditInput {
  eventId: string;
  type: string;
  runId: string | null;
  topic: string;
  occurredAt: Date;
  payload: Record<string, unknown>;
}

/** One event of a run's timeline, as telemetry recorded it. */
export interface RunTimelineEvent {
  seq: number;
  eventId: string;
  type: string;
  topic: string;
  occurredAt: Date;
  recordedAt: Date;
  summary: Record<string, unknown>;
}

/** All SQL of the audit ledger and the dead-letter store. */
@Injectable()
export class AuditRepository implements OnModuleInit {
  constructor(
    @InjectDataSource(TELEMETRY_SERVICE) private readonly dataSource: DataSource,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.dataSource.createQueryBuilder().insert().into(AuditChainHead).values({ id: 1, seq: '0', hash: GENESIS_HASH }).orIgnore().execute();
  }

  /**
   * Chains the entries onto the head, locked for this transaction: one SELECT, one INSERT and one
   * UPDATE per batch, however many entries.
   */
  async append(uow: UnitOfWork, entries: readonly AuditInput[]): Promise<void> {
    if (entries.length === 0) return;
    const [head] = await uow.query<{ seq: string; hash: string }>(`SELECT seq, hash FROM ${uow.table('audit_chain_head')} WHERE id = 1 FOR UPDATE`);
    let seq = BigInt(head.seq);
    let hash = head.hash.trim();
    const rows = entries.map((e) => {
      seq += 1n;
      const digest = payloadDigest(e.payload);
      const chained = appendToChain(hash, { seq: Number(seq), eventId: e.eventId, type: e.type, runId: e.runId, topic: e.topic, occurredAt: e.occurredAt.toISOString(), payloadDigest: digest });
      hash = chained.hash;
      return {
        seq: seq.toString(),
        event_id: e.eventId,
        type: e.type,
        run_id: e.runId,
        topic: e.topic,
        occurred_at: e.occurredAt.toISOString(),
        payload: e.payload,
        payload_digest: digest,
        prev_hash: chained.prevHash,
        hash: chained.hash,
      };
    });
    await uow.insertMany('audit_records', rows);
    await uow.query(`UPDATE ${uow.table('audit_chain_head')} SET seq = $1, hash = $2 WHERE id = 1`, [seq.toString(), hash]);
    uow.afterCommit(() => this.deps.metrics.auditRecords.inc({ service: TELEMETRY_SERVICE }, rows.length));
  }

  async recordDeadLetters(uow: UnitOfWork, rows: ReadonlyArray<Record<string, unknown>>): Promise<void> {
    await uow.insertMany('dead_letters', rows, { onConflictDoNothing: true });
  }

  runTimeline(runId: string): Promise<AuditRecord[]> {
    return this.dataSource.getRepository(AuditRecord).find({ where: { runId }, order: { seq: 'ASC' } });
  }

  /** The agent a run belongs to, as its first event that names one says; null when telemetry holds no such event. */
  async runAgent(runId: string): Promise<string | null> {
    const rows: Array<{ agent_id: string }> = await this.dataSource.query(
      `SELECT payload->'data'->>'agentId' AS agent_id FROM "telemetry"."audit_records" WHERE run_id = $1 AND payload->'data' ? 'agentId' ORDER BY seq LIMIT 1`,
      [runId],
    );
    return rows[0]?.agent_id ?? null;
  }

  /**
   * One page of a run's events in ledger order, after `afterSeq`, with their timing and a summary
   * of what each says (effect, status, outcome, verdict, tool, decision), never the whole payload;
   * `startedAt` is the run's first event, so every page times against the same origin.
   */
  async runEvents(runId: string, afterSeq: number, limit: number): Promise<{ startedAt: Date | null; events: RunTimelineEvent[] }> {
    const rows: Array<{ seq: string; event_id: string; type: string; topic: string; occurred_at: Date; recorded_at: Date; data: Record<string, unknown> | null; started_at: Date | null }> = await this.dataSource.query(
      `SELECT seq, event_id, type, topic, occurred_at, recorded_at,
              jsonb_strip_nulls(jsonb_build_object(
                'stepId', payload->'data'->'stepId', 'effect', payload->'data'->'effect', 'status', payload->'data'->'status',
                'outcome', payload->'data'->'outcome', 'verdict', payload->'data'->'verdict', 'tool', payload->'data'->'tool',
                'decision', payload->'data'->'decision', 'model', payload->'data'->'model',
                'reason', payload->'data'->'reasons'->0->'code')) AS data,
              (SELECT min(occurred_at) FROM "telemetry"."audit_records" WHERE run_id = $1) AS started_at
       FROM "telemetry"."audit_records" WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`,
      [runId, afterSeq, limit],
    );
    return {
      startedAt: rows[0]?.started_at ?? null,
      events: rows.map((r) => ({ seq: Number(r.seq), eventId: r.event_id, type: r.type, topic: r.topic, occurredAt: r.occurred_at, recordedAt: r.recorded_at, summary: r.data ?? {} })),
    };
  }

  /** Dead letters, newest first: what, where from and why, without the original bytes. */
  deadLetters(limit: number, reasonCode?: string): Promise<Array<Omit<DeadLetterRecord, 'value' | 'headers'> & { valueBytes: number }>> {
    return this.dataSource.query(
      `SELECT id, reason_code AS "reasonCode", reason, original_topic AS "originalTopic", original_partition AS "originalPartition", original_offset AS "originalOffset",
              consumer_group AS "consumerGroup", message_key AS "messageKey", value_encoding AS "valueEncoding",
              CASE WHEN value_encoding = 'base64' THEN (length(value) * 3) / 4 - (2 - length(rtrim(right(value, 2), '='))) ELSE octet_length(value) END AS "valueBytes",
              failed_at AS "failedAt", recorded_at AS "recordedAt"
       FROM "telemetry"."dead_letters" WHERE ($2::text IS NULL OR reason_code = $2) ORDER BY recorded_at DESC LIMIT $1`,
      [limit, reasonCode ?? null],
    );
  }

  /** One dead letter with its original headers and bytes (base64 when they are not text). */
  deadLetter(id: string): Promise<DeadLetterRecord | null> {
    return this.dataSource.getRepository(DeadLetterRecord).findOne({ where: { id } });
  }
}
