import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import type { GovmeshMetrics } from '@govmesh/observability';
import { queryRows, WakeableLoop, type MessagingLogger, type UnitOfWork } from '@govmesh/messaging';
import type { NotificationEvent } from './notification.entity';

/** The longest message posted: Slack and Teams take more, but a notification is a pointer, not a report. */
export const NOTIFICATION_TEXT_LIMIT = 3000;

/** One decision's notification: one row (and one POST) per group. */
export interface NotificationToSend {
  /** The approval (or escalation) id reviewers open. */
  itemId: string;
  runId: string;
  /** Reviewer groups; each gets the text at its own webhook (duplicates are sent once). */
  groups: readonly string[];
  event: NotificationEvent;
  /** Plain text, essentials only (see `reviewerNotificationText`); cut at 3000 characters. */
  text: string;
}

export interface NotifierOptions {
  service: string;
  schema: string;
  dataSource: DataSource;
  metrics: GovmeshMetrics;
  logger: MessagingLogger;
  /** Reviewer group → incoming webhook URL (http or https). A secret: only its host is ever logged. */
  webhooks: Readonly<Record<string, string>>;
  /** POSTs in flight at the same time (default 8). */
  concurrency?: number;
  /** Timeout of one POST (default 5000 ms). */
  timeoutMs?: number;
  /** Attempts before a notification is given up as `failed` (default 8). */
  maxAttempts?: number;
  /** Retry n waits base × 2^n (default base 1000 ms: 2 s, 4 s, 8 s, …). */
  backoffBaseMs?: number;
  /** Longest wait between attempts (default 10 minutes). */
  maxBackoffMs?: number;
  /** Safety-net poll while idle (default 1000 ms); the loop is also woken after every enqueue. */
  pollIntervalMs?: number;
}

interface ClaimedRow {
  id: string;
  item_id: string;
  run_id: string;
  group_name: string;
  event: NotificationEvent;
  text: string;
  attempts: number;
}

type DeliveryResult = { ok: true } | { ok: false; error: string; shutdown?: boolean };

/** Beyond the POST's timeout, how long a claimed notification stays leased to its poster. */
const LEASE_MARGIN_MS = 10000;
/** Rows settled as `no_webhook` per pass. */
const NO_WEBHOOK_BATCH = 500;
const GROUP_NAME_LIMIT = 128;

function cut(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 1)}…`;
}

/**
 * Delivers reviewer notifications to per-group webhooks (Slack or Teams incoming webhooks: both
 * take `{"text": ...}`), durably and without ever blocking a run.
 *
 * A notification is a row written by `enqueue` in the unit of work of the decision that caused it,
 * so it exists exactly when that decision committed. A background loop claims due rows with
 * `FOR UPDATE SKIP LOCKED` in a short transaction (pushing `next_attempt_at` forward as a lease,
 * so instances share the work and a crashed poster's rows come back), POSTs each outside any
 * transaction with a timeout, and records the result: delivered on 2xx, else retried with
 * exponential backoff until `maxAttempts`, then `failed` with the error. A group with no webhook
 * configured is settled `no_webhook` at once. Nothing here throws into a caller: a slow or failing
 * webhook only delays its own notifications.
 */
export class Notifier {
  private readonly loop: WakeableLoop;
  private readonly webhooks: ReadonlyMap<string, { url: string; host: string }>;
  private readonly warnedGroups = new Set<string>();
  private readonly shutdown = new AbortController();
  private readonly inFlight = new Set<Promise<void>>();
  private nextDueMs?: number;
  private readonly concurrency: number;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly backoffBaseMs: number;
  private readonly maxBackoffMs: number;
  private readonly pollIntervalMs: number;

  constructor(private readonly options: NotifierOptions) {
    this.concurrency = options.concurrency ?? 8;
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.backoffBaseMs = options.backoffBaseMs ?? 1000;
    this.maxBackoffMs = options.maxBackoffMs ?? 10 * 60 * 1000;
    this.pollIntervalMs = options.pollIntervalMs ?? 1000;
    const webhooks = new Map<string, { url: string; host: string }>();
    for (const [group, url] of Object.entries(options.webhooks)) {
      let parsed: URL;
      try {
        parsed = new URL(url);
      } catch {
        throw new Error(`the webhook of reviewer group "${group}" is not a valid URL`);
      }
      if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error(`the webhook of reviewer group "${group}" must be an http or https URL`);
      webhooks.set(group, { url, host: parsed.host });
    }
    this.webhooks = webhooks;
    this.loop = new WakeableLoop({
      name: `notifier of ${options.service}`,
      logger: options.logger,
      pass: () => this.pass(),
      idleDelayMs: () => this.idleDelay(),
    });
  }

  /**
   * Writes notifications in the caller's unit of work (one row per group): they exist if and only
   * if that transaction commits. Returns the number of rows written. Prefer the instance method,
   * which also wakes the delivery loop after commit.
   */
  static async enqueue(uow: UnitOfWork, items: readonly NotificationToSend[]): Promise<number> {
    const rows: Array<Record<string, unknown>> = [];
    for (const item of items) {
      const text = cut(item.text, NOTIFICATION_TEXT_LIMIT);
      for (const group of new Set(item.groups)) {
        if (!group) continue;
        rows.push({ id: randomUUID(), item_id: item.itemId, run_id: item.runId, group_name: group.slice(0, GROUP_NAME_LIMIT), event: item.event, text, status: 'pending', attempts: 0 });
      }
    }
    await uow.insertMany('notifications', rows);
    return rows.length;
  }

  /** `Notifier.enqueue`, and a wake-up of this notifier's loop once the transaction committed. */
  async enqueue(uow: UnitOfWork, items: readonly NotificationToSend[]): Promise<number> {
    const written = await Notifier.enqueue(uow, items);
    if (written > 0) uow.afterCommit(() => this.wake());
    return written;
  }

  /** Reviewer groups with a webhook, with the host each posts to (never the URL). */
  get configuredGroups(): Array<{ group: string; host: string }> {
    return [...this.webhooks].map(([group, w]) => ({ group, host: w.host }));
  }

  start(): void {
    const groups = this.configuredGroups;
    this.options.logger.log(
      groups.length > 0
        ? `reviewer notifications go to ${groups.map((g) => `${g.group} (${g.host})`).join(', ')}`
        : 'no reviewer webhooks configured (GOVMESH_REVIEWER_WEBHOOKS): notifications are recorded as no_webhook',
    );
    this.loop.start();
  }

  wake(): void {
    this.loop.wake();
  }

  /** Stops the loop; POSTs in flight are cut short and their notifications released for a later attempt. */
  async stop(): Promise<void> {
    this.shutdown.abort();
    await this.loop.stop();
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  private get capacity(): number {
    return this.concurrency - this.inFlight.size;
  }

  private idleDelay(): number {
    if (this.capacity <= 0 || this.nextDueMs === undefined) return this.pollIntervalMs;
    return Math.max(5, Math.min(this.pollIntervalMs, this.nextDueMs));
  }

  private table(): string {
    return `"${this.options.schema}"."notifications"`;
  }

  /** One pass: settle groups without a webhook, claim what is due and fits, start posting it. */
  private async pass(): Promise<boolean> {
    if (this.shutdown.signal.aborted) return false;
    const { dataSource, metrics, service } = this.options;
    const limit = this.capacity;
    const groups = [...this.webhooks.keys()];
    const t = this.table();
    const { unrouted, claimed, pending, nextDueMs } = await dataSource.transaction(async (manager) => {
      const unrouted = await queryRows<{ group_name: string; event: NotificationEvent }>(
        manager,
        `UPDATE ${t} SET status = 'no_webhook', last_error = 'no webhook configured for this group'
         WHERE id IN (SELECT id FROM ${t} WHERE status = 'pending' AND next_attempt_at <= now() AND NOT (group_name = ANY($1))
                      LIMIT ${NO_WEBHOOK_BATCH} FOR UPDATE SKIP LOCKED)
         RETURNING group_name, event`,
        [groups],
      );
      const claimed =
        limit > 0 && groups.length > 0
          ? await queryRows<ClaimedRow>(
              manager,
              `UPDATE ${t} SET attempts = attempts + 1, next_attempt_at = now() + $3 * interval '1 millisecond'
               WHERE id IN (SELECT id FROM ${t} WHERE status = 'pending' AND next_attempt_at <= now() AND group_name = ANY($1)
                            ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
               RETURNING id, item_id, run_id, group_name, event, text, attempts`,
              [groups, limit, this.timeoutMs + LEASE_MARGIN_MS],
            )
          : [];
      const [stats] = await queryRows<{ pending: number; next_due_ms: number | null }>(
        manager,
        `SELECT count(*)::int AS pending, (EXTRACT(EPOCH FROM (min(next_attempt_at) - now())) * 1000)::float8 AS next_due_ms
         FROM ${t} WHERE status = 'pending'`,
      );
      return { unrouted, claimed, pending: stats?.pending ?? 0, nextDueMs: stats?.next_due_ms ?? undefined };
    });
    this.nextDueMs = nextDueMs === undefined || nextDueMs === null ? undefined : Number(nextDueMs);
    metrics.notificationsPending.set({ service }, Number(pending));
    for (const row of unrouted) {
      metrics.notifications.inc({ service, event: row.event, outcome: 'no_webhook' });
      if (!this.warnedGroups.has(row.group_name)) {
        this.warnedGroups.add(row.group_name);
        this.options.logger.warn(`no webhook configured for reviewer group "${row.group_name}" (GOVMESH_REVIEWER_WEBHOOKS): its notifications are recorded as no_webhook, not delivered`);
      }
    }
    for (const row of claimed) {
      const delivery: Promise<void> = this.deliverAndRecord(row).finally(() => {
        this.inFlight.delete(delivery);
        this.wake();
      });
      this.inFlight.add(delivery);
    }
    // All that was asked for came: more may be waiting.
    return (claimed.length === limit && this.capacity > 0) || unrouted.length === NO_WEBHOOK_BATCH;
  }

  private async deliverAndRecord(row: ClaimedRow): Promise<void> {
    // Claimed only for groups with a webhook.
    const webhook = this.webhooks.get(row.group_name);
    if (!webhook) return;
    const result = await this.post(webhook, row.text);
    try {
      await this.record(row, webhook.host, result);
    } catch (err) {
      // The lease runs out and the notification is attempted again.
      this.options.logger.warn(`recording notification ${row.id} for group "${row.group_name}" failed: ${(err as Error).message}`);
    }
  }

  /** POSTs `{"text": ...}`; never throws. Errors name the host at most, never the URL. */
  private async post(webhook: { url: string; host: string }, text: string): Promise<DeliveryResult> {
    const signal = AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.shutdown.signal]);
    try {
      const res = await fetch(webhook.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ text }),
        signal,
        redirect: 'manual',
      });
      if (res.status >= 200 && res.status < 300) {
        await res.body?.cancel().catch(() => undefined);
        return { ok: true };
      }
      const body = await res.text().catch(() => '');
      const detail = body.replace(/\s+/g, ' ').trim().slice(0, 200);
      return { ok: false, error: this.redact(`HTTP ${res.status}${detail ? `: ${detail}` : ''}`, webhook.url) };
    } catch (err) {
      if (this.shutdown.signal.aborted) return { ok: false, error: 'stopped', shutdown: true };
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const message = e.name === 'TimeoutError' ? `timed out after ${this.timeoutMs} ms` : `${e.message}${e.cause ? `: ${e.cause.code ?? e.cause.message ?? ''}` : ''}`;
      return { ok: false, error: this.redact(message, webhook.url) };
    }
  }

  /** Removes the URL (and its path, where a Slack webhook keeps its secret) from an error. */
  private redact(message: string, url: string): string {
    let out = message.split(url).join('<webhook>');
    const { pathname, search } = new URL(url);
    const secret = `${pathname}${search}`;
    if (secret.length > 1) out = out.split(secret).join('/<redacted>');
    return cut(out, 500);
  }

  private backoffMs(attempt: number): number {
    return Math.min(this.maxBackoffMs, this.backoffBaseMs * 2 ** Math.min(attempt, 30));
  }

  /** Records one attempt; only the holder of that attempt's lease records (`attempts` matches). */
  private async record(row: ClaimedRow, host: string, result: DeliveryResult): Promise<void> {
    const { dataSource, metrics, service, logger } = this.options;
    const t = this.table();
    const held = `WHERE id = $1 AND status = 'pending' AND attempts = $2`;
    if (result.ok) {
      await dataSource.query(`UPDATE ${t} SET status = 'delivered', delivered_at = now(), last_error = NULL ${held}`, [row.id, row.attempts]);
      metrics.notifications.inc({ service, event: row.event, outcome: 'delivered' });
      return;
    }
    if (result.shutdown) {
      // Not the webhook's fault: released for the next start, the attempt not counted.
      await dataSource.query(`UPDATE ${t} SET attempts = attempts - 1, next_attempt_at = now() ${held}`, [row.id, row.attempts]);
      return;
    }
    const where = `group "${row.group_name}" (${host})`;
    if (row.attempts >= this.maxAttempts) {
      await dataSource.query(`UPDATE ${t} SET status = 'failed', last_error = $3 ${held}`, [row.id, row.attempts, result.error]);
      metrics.notifications.inc({ service, event: row.event, outcome: 'failed' });
      logger.warn(`gave up notifying ${where} of ${row.event} item ${row.item_id} (run ${row.run_id}) after ${row.attempts} attempts: ${result.error}`);
      return;
    }
    const delayMs = this.backoffMs(row.attempts);
    await dataSource.query(`UPDATE ${t} SET next_attempt_at = now() + $3 * interval '1 millisecond', last_error = $4 ${held}`, [row.id, row.attempts, delayMs, result.error]);
    metrics.notifications.inc({ service, event: row.event, outcome: 'retry' });
    if (row.attempts === 1) logger.warn(`notifying ${where} failed (${result.error}); retrying with backoff, up to ${this.maxAttempts} attempts`);
  }
}

/** The facts a reviewer notification carries: what is asked and where to answer it, nothing more. */
export interface ReviewerNotificationFacts {
  event: NotificationEvent;
  /** Approvals and checkpoints are answered at /v1/approvals/<id>, escalations at /v1/escalations/<id>. */
  kind: 'approval' | 'checkpoint' | 'escalation';
  itemId: string;
  runId: string;
  agentId: string;
  /** What the reviewers are asked, in a line (e.g. "approve payments.transfer of 82000 EUR to ACME"). */
  asked: string;
  amount?: string | number | { value: string | number; currency?: string };
  /** Review or escalation level. */
  level?: string | number;
  dueAt?: Date | string;
}

/** One line of untrusted text: no control characters, no Slack/Teams markup (`<!channel>`, links). */
function field(value: string | number, limit: number): string {
  // eslint-disable-next-line no-control-regex
  const line = String(value).replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return cut(line.replace(/</g, '‹').replace(/>/g, '›'), limit);
}

const HEADLINES: Record<NotificationEvent, (kind: string) => string> = {
  arrived: (kind) => `New ${kind} waiting for review`,
  sla_near: (kind) => `Reminder: ${kind} nearing its review deadline`,
  escalated: (kind) => `Escalated to you: ${kind}`,
};

/**
 * The text of a reviewer notification: kind, run, agent, what is asked, amount, level, due time and
 * the API path to open. Plain text both Slack and Teams show as is; under 3000 characters.
 */
export function reviewerNotificationText(facts: ReviewerNotificationFacts): string {
  const path = facts.kind === 'escalation' ? `/v1/escalations/${encodeURIComponent(facts.itemId)}` : `/v1/approvals/${encodeURIComponent(facts.itemId)}`;
  const amount =
    facts.amount === undefined ? undefined : typeof facts.amount === 'object' ? `${facts.amount.value}${facts.amount.currency ? ` ${facts.amount.currency}` : ''}` : facts.amount;
  const due = facts.dueAt === undefined ? undefined : facts.dueAt instanceof Date ? facts.dueAt.toISOString() : facts.dueAt;
  const lines = [
    `[govmesh] ${HEADLINES[facts.event](facts.kind)}`,
    `Asked: ${field(facts.asked, 1000)}`,
    `Run: ${field(facts.runId, 128)} | Agent: ${field(facts.agentId, 128)}`,
    amount !== undefined ? `Amount: ${field(amount, 64)}` : undefined,
    facts.level !== undefined ? `Level: ${field(facts.level, 64)}` : undefined,
    due !== undefined ? `Due: ${field(due, 64)}` : undefined,
    `Open: GET ${field(path, 200)}`,
  ];
  return cut(lines.filter((l) => l !== undefined).join('\n'), NOTIFICATION_TEXT_LIMIT);
}
