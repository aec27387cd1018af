import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { appendToChain, ChainVerifier, GENESIS_HASH, payloadDigest, type ChainVerdict } from '@govmesh/audit-chain';
import { EVENT_CATALOG, eventKey, Headers, isRunScoped, MAX_KEY_LENGTH, Topics, type EventType } from '@govmesh/contracts';
import { HandlesEvents, HandlesRawTopics, type BatchEventHandler, type Consumed, type IncomingMessage, type RawMessageHandler, type UnitOfWork } from '@govmesh/messaging';
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

/** Text Postgres can store: U+0000 written as its escape. */
const storable = (s: string): string => s.split('\u0000').join('\\u0000');

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

  /**
   * Recomputes the chain from the stored records, payloads included, a page at a time (constant
   * memory), and checks that it ends at the chain head: names the first modified, deleted,
   * inserted, reordered or truncated record.
   */
  async verify(pageSize = 1000): Promise<ChainVerdict> {
    const [head] = await this.dataSource.query(`SELECT seq, hash FROM "telemetry"."audit_chain_head" WHERE id = 1`);
    const verifier = new ChainVerifier();
    let after = '0';
    for (;;) {
      const rows: Array<Record<string, unknown> & { seq: string }> = await this.dataSource.query(
        `SELECT seq, event_id, type, run_id, topic, occurred_at, payload, payload_digest, prev_hash, hash FROM "telemetry"."audit_records" WHERE seq > $1 ORDER BY seq LIMIT $2`,
        [after, pageSize],
      );
      let going = true;
      for (const r of rows) {
        going = verifier.push({
          seq: Number(r.seq),
          eventId: r['event_id'] as string,
          type: r['type'] as string,
          runId: r['run_id'] as string | null,
          topic: r['topic'] as string,
          occurredAt: new Date(r['occurred_at'] as string).toISOString(),
          payload: r['payload'],
          payloadDigest: String(r['payload_digest']).trim(),
          prevHash: String(r['prev_hash']).trim(),
          hash: String(r['hash']).trim(),
        });
        if (!going) break;
      }
      if (!going || rows.length < pageSize) break;
      after = rows[rows.length - 1].seq;
    }
    return verifier.finish({ seq: Number(head?.seq ?? 0), hash: String(head?.hash ?? GENESIS_HASH).trim() });
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
              CASE WHEN value_encoding = 'base64' THEN (length(value) * 3) / 4 ELSE octet_length(value) END AS "valueBytes",
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

/** How long the audit consumer waits for fuller batches: the ledger trails the runs by this much, at a fraction of the cost. */
const AUDIT_LINGER_MS = 50;

/** Layer 7: records every event of every topic in the tamper-evident chain. */
@Injectable()
@HandlesEvents(TELEMETRY_SERVICE, Object.keys(EVENT_CATALOG) as EventType[], { lingerMs: AUDIT_LINGER_MS })
export class AuditHandler implements BatchEventHandler {
  constructor(private readonly audit: AuditRepository) {}

  async handle(batch: ReadonlyArray<Consumed>, uow: UnitOfWork): Promise<void> {
    await this.audit.append(
      uow,
      batch.map(({ event, message }) => ({
        eventId: event.id,
        type: event.type,
        // Registry events (an agent changed) belong to no run; their entity is in the payload.
        runId: isRunScoped(event.type) ? eventKey(event.type, event.data) : null,
        topic: message.topic,
        occurredAt: new Date(event.time),
        payload: event as unknown as Record<string, unknown>,
      })),
    );
  }
}

/**
 * Records every dead letter for operators, and audits it. What it stores is made storable (keys
 * of any length, NUL bytes, binary values), because a dead letter it could not store would have
 * nowhere else to go.
 */
@Injectable()
@HandlesRawTopics(TELEMETRY_SERVICE, [Topics.deadLetters])
export class DeadLettersHandler implements RawMessageHandler {
  constructor(private readonly audit: AuditRepository) {}

  async handleRaw(messages: readonly IncomingMessage[], uow: UnitOfWork): Promise<void> {
    const rows: Array<Record<string, unknown>> = [];
    const entries: AuditInput[] = [];
    for (const message of messages) {
      const h = Object.fromEntries(Object.entries(message.headers).map(([k, v]) => [storable(k), storable(v)]));
      const value = message.value ?? Buffer.alloc(0);
      const text = value.toString('utf8');
      const isText = Buffer.from(text, 'utf8').equals(value) && !text.includes('\u0000');
      const id = `${message.topic}:${message.partition}:${message.offset}`;
      const failedAt = h[Headers.dlqFailedAt] && !Number.isNaN(Date.parse(h[Headers.dlqFailedAt])) ? new Date(h[Headers.dlqFailedAt]) : null;
      const row = {
        id,
        reason_code: (h[Headers.dlqReasonCode] ?? 'unknown').slice(0, 64),
        reason: h[Headers.dlqReason] ?? 'no reason given',
        original_topic: (h[Headers.dlqOriginalTopic] ?? 'unknown').slice(0, 255),
        original_partition: Number.isInteger(Number(h[Headers.dlqOriginalPartition])) ? Number(h[Headers.dlqOriginalPartition]) : -1,
        original_offset: (h[Headers.dlqOriginalOffset] ?? '').slice(0, 32),
        consumer_group: (h[Headers.dlqConsumerGroup] ?? '').slice(0, 255),
        message_key: message.key === null ? null : storable(message.key),
        headers: h,
        value: isText ? text : value.toString('base64'),
        value_encoding: isText ? 'utf8' : 'base64',
        failed_at: failedAt?.toISOString() ?? null,
      };
      rows.push(row);
      const key = row.message_key as string | null;
      entries.push({
        eventId: `dlq:${id}`,
        type: 'govmesh.deadletter.recorded',
        runId: key !== null && key.length <= MAX_KEY_LENGTH ? key : null,
        topic: message.topic,
        occurredAt: failedAt ?? new Date(),
        payload: { ...row, value: undefined, valueBytes: value.length },
      });
    }
    await this.audit.recordDeadLetters(uow, rows);
    await this.audit.append(uow, entries);
  }
}
