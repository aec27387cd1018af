import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { appendToChain, GENESIS_HASH, payloadDigest, verifyChain, type ChainVerdict } from '@govmesh/audit-chain';
import { EVENT_CATALOG, Headers, Topics, type GovmeshEvent } from '@govmesh/contracts';
import type { EventHandler, EventHandlers, HandlerContext, IncomingMessage } from '@govmesh/messaging';
import { insertable } from '@govmesh/persistence';
import { ENDPOINT_DEPS, ServiceEndpoint, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { TELEMETRY_DATABASE, TELEMETRY_SERVICE } from './database';
import { AuditChainHead, AuditRecord, DeadLetterRecord } from './entities';

/** The chain head as read under lock in the current transaction, and the records appended since. */
interface ChainState {
  seq: bigint;
  hash: string;
  pending: Array<ReturnType<typeof insertable<AuditRecord>>>;
}

type AuditInput = { eventId: string; type: string; runId: string | null; topic: string; occurredAt: Date; payload: Record<string, unknown> };

/** Layer 7: records every event in a tamper-evident chain, and every dead letter for operators. */
@Injectable()
export class TelemetryEndpoint extends ServiceEndpoint {
  /** The chain head as read under lock in the current transaction. */
  private readonly heads = new WeakMap<EntityManager, ChainState>();

  constructor(@InjectDataSource(TELEMETRY_SERVICE) dataSource: DataSource, @Inject(ENDPOINT_DEPS) deps: ServiceEndpointDeps) {
    super(TELEMETRY_SERVICE, TELEMETRY_DATABASE.schema, dataSource, deps);
  }

  protected override async prepare(): Promise<void> {
    await this.dataSource.createQueryBuilder().insert().into(AuditChainHead).values({ id: 1, seq: '0', hash: GENESIS_HASH }).orIgnore().execute();
  }

  protected handlers(): EventHandlers {
    const record: EventHandler = (event, ctx) => this.append(ctx, event);
    return Object.fromEntries(Object.keys(EVENT_CATALOG).map((type) => [type, record])) as EventHandlers;
  }

  protected override rawHandlers() {
    return {
      [Topics.deadLetters]: async (message: IncomingMessage, ctx: HandlerContext) => {
        const h = message.headers;
        const value = message.value ?? Buffer.alloc(0);
        const text = value.toString('utf8');
        const isUtf8 = Buffer.from(text, 'utf8').equals(value);
        const id = `${message.topic}:${message.partition}:${message.offset}`;
        const row = {
          id,
          reasonCode: h[Headers.dlqReasonCode] ?? 'unknown',
          reason: h[Headers.dlqReason] ?? 'no reason given',
          originalTopic: h[Headers.dlqOriginalTopic] ?? 'unknown',
          originalPartition: Number(h[Headers.dlqOriginalPartition] ?? -1),
          originalOffset: h[Headers.dlqOriginalOffset] ?? '',
          consumerGroup: h[Headers.dlqConsumerGroup] ?? '',
          messageKey: message.key,
          headers: h,
          value: isUtf8 ? text : value.toString('base64'),
          valueEncoding: isUtf8 ? 'utf8' : 'base64',
          failedAt: h[Headers.dlqFailedAt] ? new Date(h[Headers.dlqFailedAt]) : null,
        } as const;
        await ctx.manager.insert(DeadLetterRecord, insertable<DeadLetterRecord>(row));
        await this.appendEntry(ctx, {
          eventId: `dlq:${id}`,
          type: 'govmesh.deadletter.recorded',
          runId: message.key,
          topic: message.topic,
          occurredAt: row.failedAt ?? new Date(),
          payload: { ...row, value: undefined, valueBytes: value.length },
        });
      },
    };
  }

  private append(ctx: HandlerContext, event: GovmeshEvent): Promise<void> {
    return this.appendEntry(ctx, {
      eventId: event.id,
      type: event.type,
      runId: event.correlationid ?? event.subject ?? null,
      topic: ctx.message.topic,
      occurredAt: new Date(event.time),
      payload: event as unknown as Record<string, unknown>,
    });
  }

  /**
   * Chains the entry onto the head held under lock for this transaction. The records and the new
   * head are written once per batch, just before commit: one INSERT and one UPDATE per batch
   * instead of per event.
   */
  private async appendEntry(ctx: HandlerContext, e: AuditInput): Promise<void> {
    const { manager } = ctx;
    let state = this.heads.get(manager);
    if (!state) {
      const row = await manager.findOneOrFail(AuditChainHead, { where: { id: 1 }, lock: { mode: 'pessimistic_write' } });
      const created: ChainState = { seq: BigInt(row.seq), hash: row.hash.trim(), pending: [] };
      state = created;
      this.heads.set(manager, created);
      ctx.beforeCommit('audit-chain', () => this.flush(manager, created));
    }
    const digest = payloadDigest(e.payload);
    const seq = state.seq + 1n;
    const chained = appendToChain(state.hash, { seq: Number(seq), eventId: e.eventId, type: e.type, runId: e.runId, topic: e.topic, occurredAt: e.occurredAt.toISOString(), payloadDigest: digest });
    state.pending.push(insertable<AuditRecord>({
      seq: seq.toString(),
      eventId: e.eventId,
      type: e.type,
      runId: e.runId,
      topic: e.topic,
      occurredAt: e.occurredAt,
      payload: e.payload,
      payloadDigest: digest,
      prevHash: chained.prevHash,
      hash: chained.hash,
    }));
    state.seq = seq;
    state.hash = chained.hash;
  }

  private async flush(manager: EntityManager, state: ChainState): Promise<void> {
    if (state.pending.length === 0) return;
    await manager.insert(AuditRecord, state.pending);
    await manager.update(AuditChainHead, { id: 1 }, { seq: state.seq.toString(), hash: state.hash });
    this.deps.metrics.auditRecords.inc({ service: this.service }, state.pending.length);
  }

  /** Recomputes the whole chain from the stored records. */
  async verifyAuditChain(): Promise<ChainVerdict> {
    const rows = await this.dataSource.getRepository(AuditRecord).find({ order: { seq: 'ASC' } });
    return verifyChain(
      rows.map((r) => ({
        seq: Number(r.seq),
        eventId: r.eventId,
        type: r.type,
        runId: r.runId,
        topic: r.topic,
        occurredAt: new Date(r.occurredAt).toISOString(),
        payloadDigest: r.payloadDigest.trim(),
        prevHash: r.prevHash.trim(),
        hash: r.hash.trim(),
      })),
    );
  }

  async runTimeline(runId: string): Promise<AuditRecord[]> {
    return this.dataSource.getRepository(AuditRecord).find({ where: { runId }, order: { seq: 'ASC' } });
  }

  async deadLetters(limit: number): Promise<DeadLetterRecord[]> {
    return this.dataSource.getRepository(DeadLetterRecord).find({ order: { recordedAt: 'DESC' }, take: limit });
  }
}
