import { Injectable } from '@nestjs/common';
import type { UnitOfWork } from '@govmesh/messaging';
import type { CatalogTool, RouterToolChange } from './tool-catalog';

/** The router's `tools` table: what it learned from the tool manifest. */
@Injectable()
export class RouterToolsRepository {
  /**
   * Applies tool changes (at most one per tool: see `newestPerTool`), one statement for the batch.
   * A change replaces the stored row only when it is of a newer version, or of the same version
   * and said at the same time or later; returns the changes that were applied.
   */
  async save(uow: UnitOfWork, changes: readonly RouterToolChange[]): Promise<RouterToolChange[]> {
    if (changes.length === 0) return [];
    const t = uow.table('tools');
    const rows = changes.map((c) => ({ name: c.name, version: c.version, description: c.description, input_schema: c.inputSchema, side_effect: c.sideEffect, status: c.status, updated_at: c.changedAt }));
    const applied = await uow.query<{ name: string }>(
      `INSERT INTO ${t} AS t (name, version, description, input_schema, side_effect, status, updated_at)
       SELECT name, version, description, input_schema, side_effect, status, updated_at FROM jsonb_populate_recordset(NULL::${t}, $1::jsonb)
       ON CONFLICT (name) DO UPDATE SET version = EXCLUDED.version, description = EXCLUDED.description, input_schema = EXCLUDED.input_schema,
         side_effect = EXCLUDED.side_effect, status = EXCLUDED.status, updated_at = EXCLUDED.updated_at
       WHERE (string_to_array(t.version, '.')::int[], t.updated_at) <= (string_to_array(EXCLUDED.version, '.')::int[], EXCLUDED.updated_at)
       RETURNING name`,
      [JSON.stringify(rows)],
    );
    const names = new Set(applied.map((r) => r.name));
    return changes.filter((c) => names.has(c.name));
  }

  /** Every active tool, by name. */
  async active(uow: UnitOfWork): Promise<CatalogTool[]> {
    return uow.query<CatalogTool>(`SELECT name, version, description, input_schema AS "inputSchema" FROM ${uow.table('tools')} WHERE status = 'active' ORDER BY name`);
  }

  /** Which of `names` the manifest retired (as opposed to never had). */
  async retired(uow: UnitOfWork, names: readonly string[]): Promise<Set<string>> {
    if (names.length === 0) return new Set();
    const rows = await uow.query<{ name: string }>(`SELECT name FROM ${uow.table('tools')} WHERE name = ANY($1) AND status = 'retired'`, [[...new Set(names)]]);
    return new Set(rows.map((r) => r.name));
  }
}
