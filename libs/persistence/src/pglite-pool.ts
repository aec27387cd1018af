import { EventEmitter } from 'node:events';
import type { PGlite, Results } from '@electric-sql/pglite';

/**
 * A `pg.Pool` look-alike over one PGlite instance, for TypeORM's postgres driver.
 *
 * PGlite is a single connection. TypeORM runs a transaction as BEGIN … COMMIT on a client it
 * checked out of the pool, so two transactions must never share the connection at the same
 * time. This pool hands out the one connection exclusively: `connect` waits until the previous
 * holder released it. Every service of the embedded mode shares one instance and one queue.
 */
export class PGliteConnectionQueue {
  private tail: Promise<void> = Promise.resolve();

  constructor(readonly db: PGlite) {}

  /** Resolves with a release function once the connection is free. */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((resolve) => (release = resolve));
    const acquired = this.tail.then(() => release);
    this.tail = this.tail.then(() => next);
    return acquired;
  }
}

interface PgLikeResult {
  rows: unknown[];
  rowCount: number;
  command: string;
  fields: Results['fields'];
}

function commandOf(sql: string): string {
  const match = /^\s*(?:--[^\n]*\n\s*)*(\w+)/.exec(sql);
  return (match?.[1] ?? '').toUpperCase();
}

class PGliteClient extends EventEmitter {
  constructor(private readonly db: PGlite) {
    super();
  }

  async query(sql: string | { text: string }, params?: unknown[], callback?: (err: Error | null, res?: PgLikeResult) => void): Promise<PgLikeResult> {
    const text = typeof sql === 'string' ? sql : sql.text;
    try {
      let result: Results;
      if (params && params.length > 0) {
        result = await this.db.query(text, params as unknown[]);
      } else {
        // exec runs multi-statement strings; TypeORM expects the last statement's result.
        const results = await this.db.exec(text);
        result = results[results.length - 1] ?? { rows: [], fields: [] };
      }
      const pgLike: PgLikeResult = {
        rows: result.rows,
        rowCount: result.affectedRows ?? result.rows.length,
        command: commandOf(text),
        fields: result.fields,
      };
      callback?.(null, pgLike);
      return pgLike;
    } catch (err) {
      callback?.(err as Error);
      throw err;
    }
  }
}

export function pglitePoolDriver(queue: PGliteConnectionQueue): unknown {
  class PGlitePool extends EventEmitter {
    async connect(callback: (err: Error | null, client: PGliteClient | null, release: (err?: unknown) => void) => void): Promise<void> {
      const release = await queue.acquire();
      let released = false;
      callback(null, new PGliteClient(queue.db), () => {
        if (!released) {
          released = true;
          release();
        }
      });
    }

    async query(sql: string, params?: unknown[]): Promise<PgLikeResult> {
      const release = await queue.acquire();
      try {
        return await new PGliteClient(queue.db).query(sql, params);
      } finally {
        release();
      }
    }

    end(callback?: (err: Error | null) => void): void {
      // The instance is shared by every service of the process; its owner closes it.
      callback?.(null);
    }
  }
  return { Pool: PGlitePool };
}
