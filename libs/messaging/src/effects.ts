import type { DataSource } from 'typeorm';
import type { GovmeshMetrics } from '@govmesh/observability';
import type { MessagingLogger } from './transport';
import { inUnitOfWork, queryRows, type UnitOfWork } from './unit-of-work';
import { WakeableLoop } from './wakeable-loop';

/** How one performance of a side effect ended. */
export type EffectOutcome<R> =
  | { ok: true; value: R }
  | { ok: false; code: 'failed' | 'timed_out' | 'outcome_unknown'; message: string };

export interface ClaimedEffect<P = Record<string, unknown>> {
  key: string;
  kind: string;
  runId: string;
  payload: P;
  attempt: number;
  timeoutMs: number;
}

export interface PerformContext {
  /** The idempotency key, for the outside system to deduplicate by. */
  key: string;
  attempt: number;
  /** Aborted at the timeout. */
  signal: AbortSignal;
}

/**
 * Performs one kind of side effect outside any transaction, then records the results.
 * `perform` gets the idempotency key; `record` writes results and events in one transaction.
 */
export interface EffectPerformer<P = Record<string, unknown>, R = unknown> {
  readonly kind: string;
  /**
   * Whether an effect found in flight after a crash may be performed again: true only when the
   * outside system deduplicates by the key. Otherwise it is recorded as `outcome_unknown`.
   */
  readonly repeatable: boolean;
  perform(effect: ClaimedEffect<P>, ctx: PerformContext): Promise<R>;
  record(results: ReadonlyArray<{ effect: ClaimedEffect<P>; outcome: EffectOutcome<R> }>, uow: UnitOfWork): Promise<void>;
}

export interface EffectRunnerOptions {
  service: string;
  schema: string;
  dataSource: DataSource;
  metrics: GovmeshMetrics;
  logger: MessagingLogger;
  performers: readonly EffectPerformer[];
  /** Effects performed at the same time. */
  concurrency?: number;
  pollIntervalMs?: number;
  /** After commit of a recording transaction (wake the relay). */
  onRecorded?: (uow: UnitOfWork) => void;
}

interface EffectRow {
  key: string;
  kind: string;
  run_id: string;
  payload: Record<string, unknown>;
  attempts: number;
  timeout_ms: number;
}

const LEASE_MARGIN_MS = 5000;

/**
 * Runs reserved side effects: the second and third steps of reserve → perform → record.
 * Reservations are committed rows of the `effects` table (written by a handler's unit of work).
 * The runner claims them with a lease (SKIP LOCKED, so instances share the work), performs each
 * outside any transaction with its key and a timeout, and records results in batches. A consumer
 * never waits on an outside call, so a slow one neither holds a transaction nor stalls a batch,
 * and the consumer keeps heartbeating. After a crash, an effect whose lease ran out is performed
 * again only when its performer is `repeatable`; otherwise it is recorded as `outcome_unknown`.
 */
export class EffectRunner {
  private readonly loop: WakeableLoop;
  private inFlight = 0;
  private readonly finished: Array<{ effect: ClaimedEffect; outcome: EffectOutcome<unknown> }> = [];
  private recording?: Promise<void>;
  private readonly performers: Map<string, EffectPerformer>;

  constructor(private readonly options: EffectRunnerOptions) {
    this.performers = new Map(options.performers.map((p) => [p.kind, p]));
    this.loop = new WakeableLoop({
      name: `effect runner of ${options.service}`,
      logger: options.logger,
      pass: async () => {
        const limit = this.capacity;
        if (limit <= 0) return false;
        // All that was asked for came: more may be waiting.
        return (await this.claim(limit)) === limit && this.capacity > 0;
      },
      idleDelayMs: () => options.pollIntervalMs ?? 1000,
    });
  }

  get kinds(): string[] {
    return [...this.performers.keys()];
  }

  start(): void {
    if (this.performers.size > 0) this.loop.start();
  }

  wake(): void {
    this.loop.wake();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    while (this.inFlight > 0 || this.recording) {
      await (this.recording ?? new Promise((r) => setTimeout(r, 20)));
    }
  }

  private get capacity(): number {
    return (this.options.concurrency ?? 32) - this.inFlight;
  }

  /** Claims up to `limit` effects: reserved ones, and in-flight ones whose lease ran out (a crash). */
  private async claim(limit: number): Promise<number> {
    const { schema, dataSource } = this.options;
    const rows = await queryRows<EffectRow>(dataSource, 
      `UPDATE "${schema}"."effects" SET status = 'in_progress', attempts = attempts + 1,
              lease_until = now() + (timeout_ms + ${LEASE_MARGIN_MS}) * interval '1 millisecond'
       WHERE key IN (SELECT key FROM "${schema}"."effects"
                     WHERE kind = ANY($2) AND (status = 'reserved' OR (status = 'in_progress' AND lease_until < now()))
                     ORDER BY created_at LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING key, kind, run_id, payload, attempts, timeout_ms`,
      [limit, this.kinds],
    );
    for (const row of rows) {
      const effect: ClaimedEffect = { key: row.key, kind: row.kind, runId: row.run_id, payload: row.payload, attempt: row.attempts, timeoutMs: row.timeout_ms };
      this.inFlight++;
      this.options.metrics.effectsInFlight.set({ service: this.options.service }, this.inFlight);
      void this.perform(effect).then((outcome) => {
        this.inFlight--;
        this.options.metrics.effectsInFlight.set({ service: this.options.service }, this.inFlight);
        this.finished.push({ effect, outcome });
        this.scheduleRecording();
      });
    }
    return rows.length;
  }

  private async perform(effect: ClaimedEffect): Promise<EffectOutcome<unknown>> {
    const performer = this.performers.get(effect.kind)!;
    if (effect.attempt > 1 && !performer.repeatable) {
      return { ok: false, code: 'outcome_unknown', message: `${effect.kind} ${effect.key} was in flight when its performer stopped; it is not repeated because the outside system cannot deduplicate it` };
    }
    const controller = new AbortController();
    const started = process.hrtime.bigint();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<EffectOutcome<unknown>>((resolve) => {
      timer = setTimeout(() => {
        controller.abort();
        resolve({ ok: false, code: 'timed_out', message: `${effect.kind} did not finish within ${effect.timeoutMs} ms` });
      }, effect.timeoutMs);
    });
    const work = performer
      .perform(effect, { key: effect.key, attempt: effect.attempt, signal: controller.signal })
      .then((value): EffectOutcome<unknown> => ({ ok: true, value }))
      .catch((err: Error): EffectOutcome<unknown> => ({ ok: false, code: 'failed', message: err.message }));
    const outcome = await Promise.race([work, timeout]);
    clearTimeout(timer);
    const { metrics, service } = this.options;
    metrics.effectDuration.observe({ service, kind: effect.kind }, Number(process.hrtime.bigint() - started) / 1e9);
    metrics.effectsPerformed.inc({ service, kind: effect.kind, outcome: outcome.ok ? 'ok' : outcome.code });
    return outcome;
  }

  /** Records whatever finished, in one transaction per pass, while more keep finishing. */
  private scheduleRecording(): void {
    if (this.recording) return;
    this.recording = (async () => {
      let failures = 0;
      while (this.finished.length > 0) {
        const batch = this.finished.splice(0, this.finished.length);
        try {
          await this.record(batch);
          failures = 0;
        } catch (err) {
          failures++;
          this.finished.unshift(...batch);
          this.options.logger.warn(`${this.options.service}: recording ${batch.length} effect results failed (attempt ${failures}): ${(err as Error).message}`);
          await new Promise((r) => setTimeout(r, Math.min(5000, 100 * 2 ** Math.min(failures, 6))));
        }
      }
      this.recording = undefined;
      this.wake();
    })();
  }

  private async record(batch: Array<{ effect: ClaimedEffect; outcome: EffectOutcome<unknown> }>): Promise<void> {
    const { dataSource, schema, service } = this.options;
    const { uow } = await inUnitOfWork(dataSource, schema, service, async (uow) => {
      // Only the holder of the lease records: a result for an effect already recorded is dropped.
      const held = await uow.query<{ key: string }>(`DELETE FROM ${uow.table('effects')} WHERE key = ANY($1) AND status = 'in_progress' RETURNING key`, [batch.map((b) => b.effect.key)]);
      const keys = new Set(held.map((h) => h.key));
      const byKind = new Map<string, typeof batch>();
      for (const b of batch) {
        if (!keys.has(b.effect.key)) continue;
        byKind.set(b.effect.kind, [...(byKind.get(b.effect.kind) ?? []), b]);
      }
      for (const [kind, results] of byKind) await this.performers.get(kind)!.record(results, uow);
    });
    this.options.onRecorded?.(uow);
  }
}
