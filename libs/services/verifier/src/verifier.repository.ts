import { Injectable } from '@nestjs/common';
import type { Reason, RecordClaim, VerificationCheck } from '@govmesh/contracts';
import type { UnitOfWork } from '@govmesh/messaging';
import type { CheckState } from './checks';
import type { Verdict } from './compare';

/** A tool as the registry last described it to the verifier. */
export interface ToolSpec {
  name: string;
  version: string;
  sideEffect: string;
  verification: VerificationCheck[];
  status: 'active' | 'retired';
}

/** A change of a tool, with when the registry made it. */
export interface ToolSpecChange extends ToolSpec {
  changedAt: string;
}

/** A `verifications` row. */
export interface VerificationRow {
  id: string;
  run_id: string;
  step_id: string;
  system: string;
  entity: string;
  record_id: string;
  status: 'pending' | 'settled';
  verdict: Verdict | null;
  claimed: Record<string, unknown> | null;
  observed: Record<string, unknown> | null;
  tool: string | null;
  execution_id: string | null;
  arguments: Record<string, unknown> | null;
  output: Record<string, unknown> | null;
  checks: CheckState[];
  reasons: Reason[];
  settled_at: string | null;
}

/** What settles a verification (or records a check answered while others still wait). */
export type VerificationUpdate = Pick<VerificationRow, 'id' | 'status' | 'verdict' | 'observed' | 'checks' | 'reasons' | 'settled_at'>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const claimOf = (row: VerificationRow): RecordClaim => ({ system: row.system, entity: row.entity, id: row.record_id, fields: row.claimed ?? {} });

/** All SQL of the verifier: the tools it learned from the registry and its verifications ledger. */
@Injectable()
export class VerifierRepository {
  /**
   * Applies tool changes, one statement for the batch: the newest change of each tool wins, and a
   * change older than the one stored never overwrites it.
   */
  async saveToolSpecs(uow: UnitOfWork, changes: readonly ToolSpecChange[]): Promise<void> {
    const latest = new Map<string, ToolSpecChange>();
    for (const c of changes) {
      const seen = latest.get(c.name);
      if (!seen || Date.parse(seen.changedAt) <= Date.parse(c.changedAt)) latest.set(c.name, c);
    }
    if (latest.size === 0) return;
    const rows = [...latest.values()].map((c) => ({ name: c.name, version: c.version, side_effect: c.sideEffect, verification: c.verification, status: c.status, changed_at: c.changedAt }));
    const t = uow.table('tool_specs');
    await uow.query(
      `INSERT INTO ${t} (name, version, side_effect, verification, status, changed_at)
       SELECT name, version, side_effect, verification, status, changed_at FROM jsonb_populate_recordset(NULL::${t}, $1::jsonb)
       ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, side_effect = EXCLUDED.side_effect, verification = EXCLUDED.verification,
         status = EXCLUDED.status, changed_at = EXCLUDED.changed_at
       WHERE ${t}.changed_at <= EXCLUDED.changed_at`,
      [JSON.stringify(rows)],
    );
  }

  /** The active (not retired) tools among `names`, by name. */
  async activeSpecs(uow: UnitOfWork, names: readonly string[]): Promise<Map<string, ToolSpec>> {
    if (names.length === 0) return new Map();
    const rows = await uow.query<{ name: string; version: string; side_effect: string; verification: VerificationCheck[]; status: 'active' | 'retired' }>(
      `SELECT name, version, side_effect, verification, status FROM ${uow.table('tool_specs')} WHERE name = ANY($1) AND status = 'active'`,
      [[...new Set(names)]],
    );
    return new Map(rows.map((r) => [r.name, { name: r.name, version: r.version, sideEffect: r.side_effect, verification: r.verification ?? [], status: r.status }]));
  }

  async insertVerifications(uow: UnitOfWork, rows: readonly VerificationRow[]): Promise<void> {
    await uow.insertMany('verifications', rows as unknown as Array<Record<string, unknown>>);
  }

  /** Locks the verifications among `ids` (ids that are no uuid name none), by id. */
  async lockVerifications(uow: UnitOfWork, ids: readonly string[]): Promise<Map<string, VerificationRow>> {
    const valid = [...new Set(ids)].filter((id) => UUID.test(id));
    const rows = await uow.lockByIds<VerificationRow>('verifications', valid);
    return new Map(rows.map((r) => [r.id, r]));
  }

  async updateVerifications(uow: UnitOfWork, rows: readonly VerificationUpdate[]): Promise<void> {
    await uow.updateMany('verifications', rows as unknown as Array<Record<string, unknown>>);
  }
}
