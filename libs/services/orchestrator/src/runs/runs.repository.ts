import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import type { UnitOfWork } from '@govmesh/messaging';
import { ORCHESTRATOR_DATABASE, ORCHESTRATOR_SERVICE } from '../database';
import type { RunState, TimelineEntry } from './run-state';

interface RunRow {
  id: string;
  agent_id: string;
  agent_version: string | null;
  task: string;
  input: Record<string, unknown>;
  status: RunState['status'];
  outcome: RunState['outcome'];
  current_step: string | null;
  workflow_id: string;
  workflow_version: number;
  proposal: RunState['proposal'];
  reasons: RunState['reasons'];
  result: RunState['result'];
  source: RunState['source'];
  created_at: Date | string;
  completed_at: Date | string | null;
  deadline_at: Date | string;
}

const COLUMNS = 'id, agent_id, agent_version, task, input, status, outcome, current_step, workflow_id, workflow_version, proposal, reasons, result, source, created_at, completed_at, deadline_at';

function toState(r: RunRow): RunState {
  return {
    id: r.id,
    agentId: r.agent_id,
    agentVersion: r.agent_version,
    task: r.task,
    input: r.input,
    status: r.status,
    outcome: r.outcome,
    currentStep: r.current_step,
    workflowId: r.workflow_id,
    workflowVersion: r.workflow_version,
    proposal: r.proposal,
    reasons: r.reasons,
    result: r.result,
    source: r.source,
    createdAt: new Date(r.created_at),
    completedAt: r.completed_at ? new Date(r.completed_at) : null,
    deadlineAt: new Date(r.deadline_at),
  };
}

/** The mutable part of a run, as one row of a set-based UPDATE. */
function mutableRow(run: RunState, now: string): Record<string, unknown> {
  return {
    id: run.id,
    agent_version: run.agentVersion,
    status: run.status,
    outcome: run.outcome,
    current_step: run.currentStep,
    proposal: run.proposal,
    reasons: run.reasons,
    result: run.result,
    completed_at: run.completedAt?.toISOString() ?? null,
    updated_at: now,
  };
}

export interface RunView {
  run: RunState;
  timeline: Array<{ at: Date; stepId: string | null; kind: string; eventType: string | null; eventId: string | null; detail: Record<string, unknown> }>;
}

/** All SQL over runs and their timelines: set-based writes for a batch, reads for the API. */
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
        task: run.task,
        input: run.input,
        workflow_id: run.workflowId,
        workflow_version: run.workflowVersion,
        source: run.source,
        created_at: run.createdAt.toISOString(),
        deadline_at: run.deadlineAt.toISOString(),
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

  /** A run with its timeline, for the API. */
  async view(id: string): Promise<RunView | null> {
    const rows: RunRow[] = await this.dataSource.query(`SELECT ${COLUMNS} FROM "${this.schema}"."runs" WHERE id = $1`, [id]);
    if (!rows[0]) return null;
    const timeline: Array<{ at: Date; step_id: string | null; kind: string; event_type: string | null; event_id: string | null; detail: Record<string, unknown> }> = await this.dataSource.query(
      `SELECT at, step_id, kind, event_type, event_id, detail FROM "${this.schema}"."run_timeline" WHERE run_id = $1 ORDER BY seq`,
      [id],
    );
    return {
      run: toState(rows[0]),
      timeline: timeline.map((t) => ({ at: new Date(t.at), stepId: t.step_id, kind: t.kind, eventType: t.event_type, eventId: t.event_id, detail: t.detail })),
    };
  }
}
