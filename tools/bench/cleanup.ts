import { rmSync } from 'node:fs';

/** Resolves with `p`, or rejects once `timeoutMs` passed. */
export async function withTimeout<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} took longer than ${timeoutMs} ms`)), timeoutMs)))]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

/**
 * What a benchmark must undo on every exit path: named cleanups run in reverse order, each
 * bounded in time; and, as a last resort in the `exit` hook, child pids killed and scratch
 * directories removed, so nothing outlives the benchmark.
 */
export class Cleanups {
  private readonly entries: Array<{ name: string; fn: () => Promise<unknown> }> = [];
  private cleaning?: Promise<void>;
  readonly pids = new Set<number>();
  readonly dirs = new Set<string>();

  constructor(private readonly log: (line: string) => void) {
    process.on('exit', () => {
      for (const pid of this.pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
    });
  }

  /** Registers a cleanup; the function returned runs it early (and removes it from the list). */
  add(name: string, fn: () => Promise<unknown>): () => Promise<void> {
    const entry = { name, fn };
    this.entries.push(entry);
    return async () => {
      const i = this.entries.indexOf(entry);
      if (i >= 0) this.entries.splice(i, 1);
      await this.run(entry);
    };
  }

  /** Runs every registered cleanup, last first; calling it again waits for the same run. */
  runAll(): Promise<void> {
    this.cleaning ??= (async () => {
      while (this.entries.length > 0) await this.run(this.entries.pop()!);
    })();
    return this.cleaning;
  }

  private async run({ name, fn }: { name: string; fn: () => Promise<unknown> }): Promise<void> {
    await withTimeout(fn(), 20000, name).catch((err) => this.log(`cleanup of ${name} failed: ${(err as Error).message}`));
  }
}
