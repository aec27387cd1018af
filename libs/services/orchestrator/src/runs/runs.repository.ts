import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { UnitOfWork } from '@govmesh/messaging';
import { eligibleGroups, type OpenReview, type Reason, type StepExecution, type WorkflowRun } from '@govmesh/workflow';
import { ORCHESTRATOR_DATABASE, ORCHESTRATOR_SERVICE } from '../database';
import type { RunState, TimelineEntry } from './run-state';

interface RunRow {
  id: string;
  agent_id: string;
  agent_version: string | null;
  requester: string;
  task: string;
  input: Record<string, unknown>;
  status: RunState['status'];
  outcome: RunState['outcome'];
  workflow_id: string;
  workflow_version: number;
  workflow_state: Partial<Pick<WorkflowRun, 'cursor' | 'outputs' | 'claims' | 'review' | 'paused' | 'heldIntent' | 'overrides' | 'executions'>>;
  reasons: Reason[];
  result: RunState['result'];
  source: RunState['source'];
  created_at: Date | string;
  completed_at: Date | string | null;
  deadline_at: Date | string;
}

const COLUMNS = 'id, agent_id, agent_version, requester, task, input, status, outcome, workflow_id, workflow_version, workflow_state, reasons, result, source, created_at, completed_at, deadline_at';
const iso = (d: Date | string) => new Date(d).toISOString();

function toState(r: RunRow): RunState {
  const s = r.workflow_state ?? {};
  return {
    runId: r.id,
    agentId: r.agent_id,
    agentVersion: r.agent_version,
    requester: r.requester,
    task: r.task,
    input: r.input,
    workflowId: r.workflow_id,
    workflowVersion: r.workflow_version,
    status: r.status,
    outcome: r.outcome,
    reasons: r.reasons,
    cursor: s.cursor ?? null,
    outputs: s.outputs ?? {},
    claims: s.claims ?? {},
    review: s.review ?? null,
    paused: s.paused ?? false,
    ...(s.heldIntent ? { heldIntent: s.heldIntent } : {}),
    overrides: s.overrides ?? [],
    executions: s.executions ?? 0,
    result: r.result,
    source: r.source,
    createdAt: new Date(r.created_at),
    startedAt: iso(r.created_at),
    deadlineAt: iso(r.deadline_at),
    completedAt: r.completed_at ? iso(r.completed_at) : null,
  };
}

/** The mutable part of a run, as one row of a set-based UPDATE. */
function mutableRow(run: RunState, now: string): Record<string, unknown> {
  return {
    id: run.runId,
    agent_version: run.agentVersion,
    input: run.input,
    status: run.status,
    outcome: run.outcome,
    current_step: run.cursor?.stepId ?? null,
    workflow_state: { cursor: run.cursor, outputs: run.outputs, claims: run.claims, review: run.review, paused: run.paused, ...(run.heldIntent ? { heldIntent: run.heldIntent } : {}), overrides: run.overrides, executions: run.executions },
    reasons: run.reasons,
    result: run.result,
    completed_at: run.completedAt,
    updated_at: now,
  };
}

export interface RunView {
  run: RunState;
  timeline: Array<{ at: Date; stepId: string | null; kind: string; eventType: string | null; eventId: string | null; detail: Record<string, unknown> }>;
  steps: Array<Record<string, unknown>>;
}

/** A review item as stored (see ReviewItemRecord). */
export interface ReviewItemRow {
  id: string;
  run_id: string;
  kind: string;
  escalation_case: string | null;
  step_id: string | null;
  exec_id: string | null;
  agent_id: string;
  requester: string;
  status: string;
  level: number;
  eligible_groups: string[];
  levels: Array<Record<string, unknown>>;
  policy_approvers: string[];
  digest: string | null;
  reasons: Reason[];
  state: Record<string, unknown>;
  decisions: string[];
  requested_at: Date | string;
  due_at: Date | string | null;
  expires_at: Date | string | null;
  decided_at: Date | string | null;
  decision: string | null;
  decided_by: Record<string, unknown> | null;
  decision_reason: string | null;
  history: Array<Record<string, unknown>>;
}

export interface ReviewQuery {
  kind: 'approval' | 'escalation';
  status?: string;
  /** Only items these groups may decide (null: every item, for operators and auditors). */
  groups: string[] | null;
  runId?: string;
  agentId?: string;
  limit: number;
  /** Keyset paging: items requested before this item. */
  after?: { requestedAt: string; id: string };
}

/** All SQL over runs, their steps, timelines and review items: set-based writes for a batch, reads for the API. */
@Injectable()
export class RunsRepository {
  private readonly schema = ORCHESTRATOR_DATABASE.schema;

  constructor(@InjectDataSource(ORCHESTRATOR_SERVICE) private readonly dataSource: DataSource) {}

  /** Locks the batch's runs with one statement. */
  async lock(uow: UnitOfWork, ids: readonly string[]): Promise<Map<string, RunState>> {
    const rows = await uow.lockByIds<RunRow>('runs', [...new Set(ids)], COLUMNS);
    return new Map(rows.map((r) => [r.id, toState(r)]));
  }

  /** The runs among `ids` that exist, without locking them (a new id cannot be locked). */
  async existing(uow: UnitOfWork, ids: readonly string[]): Promise<Map<string, RunState>> {
    const rows = await uow.query<RunRow>(`SELECT ${COLUMNS} FROM ${uow.table('runs')} WHERE id = ANY($1)`, [[...new Set(ids)]]);
    return new Map(rows.map((r) => [r.id, toState(r)]));
  }

  /** Inserts runs; returns the ids inserted (an id that exists already is left as it is). */
  async insert(uow: UnitOfWork, runs: readonly RunState[]): Promise<Set<string>> {
    const now = new Date().toISOString();
    const inserted = await uow.insertMany(
      'runs',
      runs.map((run) => ({
        ...mutableRow(run, now),
        agent_id: run.agentId,
        requester: run.requester,
        task: run.task,
        workflow_id: run.workflowId,
        workflow_version: run.workflowVersion,
        source: run.source,
        created_at: run.createdAt.toISOString(),
        deadline_at: run.deadlineAt,
      })),
      { onConflictDoNothing: true, returning: 'id' },
    );
    return new Set(inserted.map((r) => r['id'] as string));
  }

  async update(uow: UnitOfWork, runs: readonly RunState[]): Promise<void> {
    const now = new Date().toISOString();
    await uow.updateMany('runs', runs.map((run) => mutableRow(run, now)));
  }

  async appendTimeline(uow: UnitOfWork, entries: readonly TimelineEntry[]): Promise<void> {
    await uow.insertMany(
      'run_timeline',
      entries.map((e) => ({ run_id: e.runId, step_id: e.stepId, kind: e.kind, event_type: e.eventType, event_id: e.eventId, detail: e.detail })),
    );
  }

  /** Inserts new step executions and updates known ones, one statement each; a field left out keeps its value. */
  async writeSteps(uow: UnitOfWork, steps: ReadonlyArray<StepExecution & { runId: string }>): Promise<void> {
    if (steps.length === 0) return;
    // The last change of an execution in the batch wins; earlier ones fold into it.
    const merged = new Map<string, StepExecution & { runId: string }>();
    for (const s of steps) merged.set(`${s.runId}\u0000${s.id}`, { ...merged.get(`${s.runId}\u0000${s.id}`), ...s });
    const rows = [...merged.values()].map((s) => ({
      run_id: s.runId,
      id: s.id,
      step_id: s.stepId,
      attempt: s.attempt,
      status: s.status,
      input_digest: s.inputDigest ?? null,
      output: s.output ?? null,
      reasons: s.reasons ?? [],
      due_at: s.dueAt ? s.dueAt.toISOString() : null,
      started_at: (s.startedAt ?? new Date()).toISOString(),
      ended_at: s.endedAt ? s.endedAt.toISOString() : null,
    }));
    const t = uow.table('run_steps');
    await uow.query(
      `INSERT INTO ${t} AS t (run_id, id, step_id, attempt, status, input_digest, output, reasons, due_at, started_at, ended_at)
       SELECT v.run_id, v.id, v.step_id, v.attempt, v.status, v.input_digest, v.output, v.reasons, v.due_at, v.started_at, v.ended_at
       FROM jsonb_to_recordset($1::jsonb) AS v(run_id varchar, id varchar, step_id varchar, attempt int, status varchar, input_digest varchar, output jsonb, reasons jsonb, due_at timestamptz, started_at timestamptz, ended_at timestamptz)
       ON CONFLICT (run_id, id) DO UPDATE SET
         status = EXCLUDED.status,
         input_digest = COALESCE(EXCLUDED.input_digest, t.input_digest),
         output = COALESCE(EXCLUDED.output, t.output),
         reasons = CASE WHEN jsonb_array_length(EXCLUDED.reasons) > 0 THEN EXCLUDED.reasons ELSE t.reasons END,
         due_at = EXCLUDED.due_at,
         ended_at = COALESCE(EXCLUDED.ended_at, t.ended_at)`,
      [JSON.stringify(rows)],
    );
  }

  /** Opens review items. */
  async openReviews(uow: UnitOfWork, items: ReadonlyArray<{ run: RunState; review: OpenReview; reasons: Reason[]; state: Record<string, unknown> }>): Promise<void> {
    await uow.insertMany(
      'review_items',
      items.map(({ run, review, reasons, state }) => ({
        id: review.id,
        run_id: run.runId,
        kind: review.kind,
        escalation_case: review.escalationCase ?? null,
        step_id: review.stepId,
        exec_id: review.execId,
        agent_id: run.agentId,
        requester: run.requester,
        status: 'pending',
        level: review.level,
        eligible_groups: eligibleGroups(review),
        levels: review.levels,
        policy_approvers: review.policyApprovers,
        digest: review.digest ?? null,
        reasons,
        state,
        decisions: review.decisions,
        requested_at: review.requestedAt,
        due_at: review.dueAt,
        expires_at: review.expiresAt,
        history: [{ at: review.requestedAt, event: 'requested', level: review.level, groups: eligibleGroups(review) }],
      })),
    );
  }

  /** Moves an open item up a level. */
  async escalateReview(uow: UnitOfWork, review: OpenReview, at: string): Promise<void> {
    await uow.query(
      `UPDATE ${uow.table('review_items')} SET level = $2, eligible_groups = $3::jsonb, due_at = $4, expires_at = $5, history = history || $6::jsonb WHERE id = $1 AND status = 'pending'`,
      [review.id, review.level, JSON.stringify(eligibleGroups(review)), review.dueAt, review.expiresAt, JSON.stringify([{ at, event: 'escalated', level: review.level, groups: eligibleGroups(review) }])],
    );
  }

  /** Closes an item with how it ended and who decided. */
  async closeReview(uow: UnitOfWork, id: string, close: { status: string; at: string; reviewer?: Record<string, unknown>; reason?: string; detail?: Record<string, unknown>; digest?: string }): Promise<void> {
    await uow.query(
      `UPDATE ${uow.table('review_items')} SET status = $2, decision = $2, decided_at = $3, decided_by = $4::jsonb, decision_reason = $5, history = history || $6::jsonb WHERE id = $1 AND status = 'pending'`,
      [id, close.status, close.at, close.reviewer ? JSON.stringify(close.reviewer) : null, close.reason ?? null, JSON.stringify([{ at: close.at, event: close.status, ...(close.reviewer ? { reviewer: close.reviewer } : {}), ...(close.reason ? { reason: close.reason } : {}), ...(close.digest ? { digest: close.digest } : {}), ...(close.detail ? { detail: close.detail } : {}) }])],
    );
  }

  /** Pending review items by kind (one indexed count). */
  async pendingReviewCounts(): Promise<Map<string, number>> {
    const rows: Array<{ kind: string; n: number }> = await this.dataSource.query(`SELECT kind, count(*)::int AS n FROM "${this.schema}"."review_items" WHERE status = 'pending' GROUP BY kind`);
    return new Map(rows.map((r) => [r.kind, Number(r.n)]));
  }

  async review(id: string): Promise<ReviewItemRow | null> {
    const rows: ReviewItemRow[] = await this.dataSource.query(`SELECT * FROM "${this.schema}"."review_items" WHERE id = $1`, [id]);
    return rows[0] ?? null;
  }

  /** Review items, newest first, filtered and paged by keyset. */
  async reviews(q: ReviewQuery): Promise<ReviewItemRow[]> {
    const where: string[] = [q.kind === 'approval' ? `kind IN ('approval', 'checkpoint')` : `kind = 'escalation'`];
    const params: unknown[] = [];
    const param = (value: unknown) => {
      params.push(value);
      return `$${params.length}`;
    };
    if (q.status) where.push(`status = ${param(q.status)}`);
    if (q.groups) where.push(`eligible_groups ?| ${param(q.groups)}::text[]`);
    if (q.runId) where.push(`run_id = ${param(q.runId)}`);
    if (q.agentId) where.push(`agent_id = ${param(q.agentId)}`);
    if (q.after) where.push(`(requested_at, id) < (${param(q.after.requestedAt)}::timestamptz, ${param(q.after.id)})`);
    return this.dataSource.query(
      `SELECT id, run_id, kind, escalation_case, step_id, exec_id, agent_id, requester, status, level, eligible_groups, policy_approvers, digest, reasons, decisions, requested_at, due_at, expires_at, decided_at, decision, decided_by, decision_reason
       FROM "${this.schema}"."review_items" WHERE ${where.join(' AND ')} ORDER BY requested_at DESC, id DESC LIMIT ${param(q.limit)}`,
      params,
    );
  }

  /** Locks, with one statement and in id order, the runs of these agents that have not ended. */
  async lockActiveOf(uow: UnitOfWork, agentIds: readonly string[]): Promise<RunState[]> {
    if (agentIds.length === 0) return [];
    const rows = await uow.query<RunRow>(`SELECT ${COLUMNS} FROM ${uow.table('runs')} WHERE agent_id = ANY($1) AND status <> 'completed' ORDER BY id FOR UPDATE`, [[...new Set(agentIds)]]);
    return rows.map(toState);
  }

  /** A run with its timeline and step executions, for the API. */
  async view(id: string): Promise<RunView | null> {
    const rows: RunRow[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM "${this.schema}"."runs" WHERE id = $1`, [id]);
    if (!rows[0]) return null;
    const timeline: Array<{ at: Date; step_id: string | null; kind: string; event_type: string | null; event_id: string | null; detail: Record<string, unknown> }> = await this.dataSource.query(
      `SELECT at, step_id, kind, event_type, event_id, detail FROM "${this.schema}"."run_timeline" WHERE run_id = $1 ORDER BY seq`,
      [id],
    );
    const steps: Array<Record<string, unknown>> = await this.dataSource.query(
      `SELECT id, step_id, attempt, status, input_digest, output, reasons, due_at, started_at, ended_at FROM "${this.schema}"."run_steps" WHERE run_id = $1 ORDER BY started_at, id`,
      [id],
    );
    return {
      run: toState(rows[0]),
      timeline: timeline.map((t) => ({ at: new Date(t.at), stepId: t.step_id, kind: t.kind, eventType: t.event_type, eventId: t.event_id, detail: t.detail })),
      steps: steps.map((s) => ({ execution: s['id'], step: s['step_id'], attempt: s['attempt'], status: s['status'], inputDigest: s['input_digest'], output: s['output'], reasons: s['reasons'], dueAt: s['due_at'], startedAt: s['started_at'], endedAt: s['ended_at'] })),
    };
  }
}
