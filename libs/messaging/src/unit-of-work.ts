import type { DataSource, EntityManager } from 'typeorm';
import { createEvent, eventKey, isRunScoped, validateEventData, type EventData, type EventType, type GovmeshEvent } from '@govmesh/contracts';
import { activeTraceparent, childTraceparent, contextOfTraceparent } from '@govmesh/observability';
import { context, trace, type Context, type Span } from '@opentelemetry/api';
import { randomUUID } from 'node:crypto';
import type { Rejection } from '@govmesh/contracts';
import { appendMessagesToOutbox, appendToOutbox } from './outbox';
import { deadLetterFor } from './dead-letter';
import type { IncomingMessage, OutgoingMessage } from './transport';

/** A handler error that will not go away on retry; the message is dead-lettered at once. */
export class PermanentHandlerError extends Error {}

export interface EmitOptions {
  /** The event that caused this one: its correlation id, id (causation) and trace carry over. */
  cause?: GovmeshEvent;
  /** Trace parent when there is no causing event (an HTTP request). */
  traceparent?: string;
  subject?: string;
  /** CloudEvents extension attributes (lowercase letters and digits), e.g. an intent's signature. */
  extensions?: Record<string, string>;
}

/** A timer to set: fired once, at or after `dueAt`, as a `govmesh.timer.fired.v1` event keyed by the run. */
export interface TimerToSet {
  id: string;
  purpose: string;
  runId: string;
  dueAt: Date;
  payload?: Record<string, unknown>;
}

/** Work on the outside world to perform after commit, under an idempotency key. */
export interface EffectToReserve {
  key: string;
  kind: string;
  runId: string;
  payload: Record<string, unknown>;
  timeoutMs: number;
}

/**
 * TypeORM answers UPDATE and DELETE on Postgres with [rows, affected count] and everything else
 * with the rows; this gives the rows either way.
 */
export async function queryRows<R>(runner: Pick<EntityManager, 'query'>, sql: string, params: unknown[] = []): Promise<R[]> {
  const result: unknown = await runner.query(sql, params);
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as R[];
  return result as R[];
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * One transaction's unit of work: the batch's (or request's) state changes, the events they emit
 * (written to the outbox in the same transaction), timers and side effects to reserve, and what to
 * do once the transaction committed. Set-based helpers let a handler write a whole batch with one
 * statement per table.
 */
export class UnitOfWork {
  readonly outgoing: GovmeshEvent[] = [];
  private readonly afterCommitWork: Array<() => void> = [];
  private readonly beforeCommitWork = new Map<string, () => Promise<void>>();
  private timersSet: TimerToSet[] = [];
  private effectsReserved = 0;
  /** Set by the consumer: the group named in the dead letters of messages refused here. */
  consumerGroup?: string;
  /** Consumed messages a handler refused, as dead letters to publish with this transaction. */
  readonly refused: Array<{ message: OutgoingMessage; rejection: Rejection; topic: string }> = [];
  /** Set by the consumer: the span recording the handling of each consumed event, by event id. */
  private readonly eventSpans = new Map<string, { span: Span; traceparent: string }>();

  constructor(
    readonly manager: EntityManager,
    readonly schema: string,
    readonly service: string,
  ) {}

  /** A table of this service's schema, quoted for SQL. */
  table(name: string): string {
    return `${ident(this.schema)}.${ident(name)}`;
  }

  emit<T extends EventType>(type: T, data: EventData<T>, options: EmitOptions = {}): GovmeshEvent<T> {
    const invalid = validateEventData(type, data);
    if (invalid) throw new PermanentHandlerError(`${this.service} tried to emit an invalid ${type}: ${invalid.message}`);
    const cause = options.cause;
    const key = eventKey(type, data);
    // A run's events carry its id as correlation id; a registry event continues its cause's.
    const correlationId = isRunScoped(type) ? key : cause?.correlationid;
    const event = createEvent(type, data, {
      source: `govmesh/${this.service}`,
      subject: options.subject ?? key,
      correlationId,
      causationId: cause?.id,
      traceparent: this.traceparentFor(cause, options.traceparent),
      extensions: options.extensions,
    });
    this.outgoing.push(event);
    return event;
  }

  /** Records the span of a consumed event (the consumer does, when tracing is on). */
  traceConsumed(eventId: string, span: Span, traceparent: string): void {
    this.eventSpans.set(eventId, { span, traceparent });
  }

  /**
   * The `traceparent` of the span recording the handling of `event` here, else the event's own:
   * what work done later for it (a reserved side effect) continues.
   */
  traceparentOf(event: GovmeshEvent): string | undefined {
    return this.eventSpans.get(event.id)?.traceparent ?? event.traceparent;
  }

  /**
   * The trace context of work caused by `cause`: the span this unit of work records for it, else
   * the active context, else the event's own `traceparent` as a remote parent. Spans a handler
   * starts for an event (a workflow step, a model call) start from here.
   */
  traceContextOf(cause?: GovmeshEvent): Context {
    const recorded = cause ? this.eventSpans.get(cause.id) : undefined;
    if (recorded) return trace.setSpan(context.active(), recorded.span);
    if (trace.getSpan(context.active())) return context.active();
    return contextOfTraceparent(cause?.traceparent, context.active());
  }

  /**
   * What an emitted event names as its parent: the span the handler made active (a workflow step,
   * a tool call, a review decision), else the span recording its cause's handling, so the next
   * service's span is a child of a span that exists. With tracing off there is neither, and the
   * event gets a new span id under its cause's trace, as before.
   */
  private traceparentFor(cause: GovmeshEvent | undefined, explicit: string | undefined): string {
    return activeTraceparent() ?? (cause ? this.eventSpans.get(cause.id)?.traceparent : undefined) ?? childTraceparent(cause?.traceparent ?? explicit);
  }

  /**
   * Refuses one consumed message on its merits (a forged signature, a replay): it goes to the
   * dead-letter topic with the reason through this transaction's outbox, so the refusal and the
   * rest of the batch commit together, and an operator sees it where every refused message lands.
   */
  refuse(message: IncomingMessage, rejection: Rejection): void {
    this.refused.push({ message: deadLetterFor(message, rejection, this.consumerGroup ?? this.service), rejection, topic: message.topic });
  }

  /** Runs after commit only (metrics, logs, wake-ups): never twice for a transaction that is retried. */
  afterCommit(work: () => void): void {
    this.afterCommitWork.push(work);
  }

  /** Runs once before commit, after every handler (the first registration under a key wins). */
  beforeCommit(key: string, work: () => Promise<void>): void {
    if (!this.beforeCommitWork.has(key)) this.beforeCommitWork.set(key, work);
  }

  /** Runs SQL in the transaction and returns its rows (also for UPDATE/DELETE … RETURNING). */
  query<R = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
    return queryRows<R>(this.manager, sql, params);
  }

  /** Locks many rows of a table by id with one statement and returns them. */
  lockByIds<R = Record<string, unknown>>(table: string, ids: readonly string[], columns = '*'): Promise<R[]> {
    if (ids.length === 0) return Promise.resolve([]);
    return this.query<R>(`SELECT ${columns} FROM ${this.table(table)} WHERE id = ANY($1) FOR UPDATE`, [ids]);
  }

  /**
   * Inserts many rows with one statement. Rows use column names; values are typed by the table
   * itself (jsonb_populate_recordset), so one parameter carries the whole batch.
   */
  async insertMany(table: string, rows: ReadonlyArray<Record<string, unknown>>, options: { onConflictDoNothing?: boolean; returning?: string } = {}): Promise<Array<Record<string, unknown>>> {
    if (rows.length === 0) return [];
    const columns = Object.keys(rows[0]).map(ident).join(', ');
    const t = this.table(table);
    const conflict = options.onConflictDoNothing ? ' ON CONFLICT DO NOTHING' : '';
    const returning = options.returning ? ` RETURNING ${options.returning}` : '';
    return this.query(`INSERT INTO ${t} (${columns}) SELECT ${columns} FROM jsonb_populate_recordset(NULL::${t}, $1::jsonb)${conflict}${returning}`, [JSON.stringify(rows)]);
  }

  /** Updates many rows by key with one statement; every row sets the same columns. */
  async updateMany(table: string, rows: ReadonlyArray<Record<string, unknown>>, key = 'id'): Promise<void> {
    if (rows.length === 0) return;
    const columns = Object.keys(rows[0]).filter((c) => c !== key);
    const t = this.table(table);
    const sets = columns.map((c) => `${ident(c)} = v.${ident(c)}`).join(', ');
    await this.query(`UPDATE ${t} AS t SET ${sets} FROM jsonb_populate_recordset(NULL::${t}, $1::jsonb) AS v WHERE t.${ident(key)} = v.${ident(key)}`, [JSON.stringify(rows)]);
  }

  /** Sets timers in this transaction; setting an id that exists already changes nothing. */
  setTimers(timers: readonly TimerToSet[]): void {
    this.timersSet.push(...timers);
  }

  /**
   * Deletes timers that have not fired yet (a run that ended no longer needs its deadline). A timer
   * already fired stays until its event is handled, so that event still counts as genuine.
   */
  async cancelTimers(ids: readonly string[]): Promise<void> {
    if (ids.length === 0) return;
    await this.query(`DELETE FROM ${this.table('timers')} WHERE id = ANY($1) AND fired_at IS NULL`, [ids]);
  }

  /**
   * Takes the fired timers among `ids` (deleting them) and returns their ids: only a timer this
   * service set and fired counts, so a forged or repeated timer event changes nothing.
   */
  async takeFiredTimers(ids: readonly string[]): Promise<Set<string>> {
    if (ids.length === 0) return new Set();
    const rows = await this.query<{ id: string }>(`DELETE FROM ${this.table('timers')} WHERE id = ANY($1) AND fired_at IS NOT NULL RETURNING id`, [ids]);
    return new Set(rows.map((r) => r.id));
  }

  /**
   * Reserves side effects: commits an in-progress record under each idempotency key, to be
   * performed after commit outside any transaction. Returns the keys newly reserved; a key that
   * exists already is in flight or done and is not reserved again.
   */
  async reserveEffects(effects: readonly EffectToReserve[]): Promise<Set<string>> {
    const rows = effects.map((e) => ({ key: e.key, kind: e.kind, run_id: e.runId, payload: e.payload, timeout_ms: e.timeoutMs, status: 'reserved', attempts: 0 }));
    const inserted = await this.insertMany('effects', rows, { onConflictDoNothing: true, returning: 'key' });
    this.effectsReserved += inserted.length;
    return new Set(inserted.map((r) => r['key'] as string));
  }

  get reservedEffects(): number {
    return this.effectsReserved;
  }

  get timers(): readonly TimerToSet[] {
    return this.timersSet;
  }

  /** Writes what the handlers left for commit time: per-batch work, timers and the outbox. */
  async flush(): Promise<void> {
    for (const work of this.beforeCommitWork.values()) await work();
    if (this.timersSet.length > 0) {
      await this.insertMany(
        'timers',
        this.timersSet.map((t) => ({ id: t.id, purpose: t.purpose, run_id: t.runId, due_at: t.dueAt.toISOString(), payload: t.payload ?? {} })),
        { onConflictDoNothing: true },
      );
    }
    await appendToOutbox(this.manager, this.schema, this.outgoing);
    await appendMessagesToOutbox(this.manager, this.schema, this.refused.map((r) => ({ id: randomUUID(), message: r.message })));
  }

  runAfterCommit(): void {
    for (const work of this.afterCommitWork) work();
  }
}

/** Runs `work` in one transaction with a unit of work; after commit, runs its after-commit work. */
export async function inUnitOfWork<R>(dataSource: DataSource, schema: string, service: string, work: (uow: UnitOfWork) => Promise<R>): Promise<{ result: R; uow: UnitOfWork }> {
  let uow!: UnitOfWork;
  const result = await dataSource.transaction(async (manager) => {
    uow = new UnitOfWork(manager, schema, service);
    const value = await work(uow);
    await uow.flush();
    return value;
  });
  uow.runAfterCommit();
  return { result, uow };
}
