import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import type { QueryDeepPartialEntity } from 'typeorm/query-builder/QueryPartialEntity';
import { appendToChain, GENESIS_HASH, payloadDigest, verifyChain, type ChainVerdict } from '@govmesh/audit-chain';
import { EVENT_CATALOG, Headers, Topics, type GovmeshEvent } from '@govmesh/contracts';
import type { EventHandler, EventHandlers, IncomingMessage } from '@govmesh/messaging';
import { ENDPOINT_DEPS, ServiceEndpoint, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { TELEMETRY_DATABASE, TELEMETRY_SERVICE } from './database';
import { AuditChainHead, AuditRecord, DeadLetterRecord } from './entities';

interface ChainState {
  seq: bigint;
  hash: string;
}

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
    const record: EventHandler = (event, ctx) => this.append(ctx.manager, event, ctx.message.topic);
    return Object.fromEntries(Object.keys(EVENT_CATALOG).map((type) => [type, record])) as EventHandlers;
  }

  protected override rawHandlers() {
    return {
      [Topics.deadLetters]: async (message: IncomingMessage, ctx: { manager: EntityManager }) => {
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
        await ctx.manager.insert(DeadLetterRecord, row as unknown as QueryDeepPartialEntity<DeadLetterRecord>);
        await this.appendEntry(ctx.manager, {
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

  private append(manager: EntityManager, event: GovmeshEvent, topic: string): Promise<void> {
    return this.appendEntry(manager, {
      eventId: event.id,
      type: event.type,
      runId: event.correlationid ?? event.subject ?? null,
      topic,
      occurredAt: new Date(event.time),
      payload: event as unknown as Record<string, unknown>,
    });
  }

  private async appendEntry(manager: EntityManager, e: { eventId: string; type: string; runId: string | null; topic: string; occurredAt: Date; payload: Record<string, unknown> }): Promise<void> {
    let head = this.heads.get(manager);
    if (!head) {
      const row = await manager.findOneOrFail(AuditChainHead, { where: { id: 1 }, lock: { mode: 'pessimistic_write' } });
      head = { seq: BigInt(row.seq), hash: row.hash.trim() };
      this.heads.set(manager, head);
    }
    const digest = payloadDigest(e.payload);
    const seq = head.seq + 1n;
    const chained = appendToChain(head.hash, { seq: Number(seq), eventId: e.eventId, type: e.type, runId: e.runId, topic: e.topic, occurredAt: e.occurredAt.toISOString(), payloadDigest: digest });
    await manager.insert(AuditRecord, {
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
    } as unknown as QueryDeepPartialEntity<AuditRecord>);
    await manager.update(AuditChainHead, { id: 1 }, { seq: seq.toString(), hash: chained.hash });
    head.seq = seq;
    head.hash = chained.hash;
    this.deps.metrics.auditRecords.inc({ service: this.service });
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
