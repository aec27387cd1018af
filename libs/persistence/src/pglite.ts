import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PGliteConnectionQueue } from './pglite-pool';

/** Opens the embedded database: a directory for durable data, or `memory://` for tests. */
export async function openEmbeddedDatabase(dataDir: string): Promise<PGliteConnectionQueue> {
  if (!dataDir.startsWith('memory://')) mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  return new PGliteConnectionQueue(db);
}
