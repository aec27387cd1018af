import type { MessagingLogger } from './transport';

export interface WakeableLoopOptions {
  /** Names the loop in log lines. */
  name: string;
  logger: MessagingLogger;
  /** One pass of work; resolves true when there may be more to do at once. */
  pass(): Promise<boolean>;
  /** How long to sleep when there is nothing to do (a wake-up ends the sleep early). */
  idleDelayMs(): number;
}

/**
 * A background loop that works while there is work, sleeps when there is none, is woken at once
 * by `wake()` (after a commit that gave it work), and backs off exponentially while its passes fail.
 */
export class WakeableLoop {
  private running = false;
  private wakeRequested = false;
  private loop?: Promise<void>;
  private wakeUp?: () => void;

  constructor(private readonly options: WakeableLoopOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  wake(): void {
    this.wakeRequested = true;
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      this.wakeRequested = false;
      try {
        const more = await this.options.pass();
        failures = 0;
        if (more) continue;
      } catch (err) {
        failures++;
        this.options.logger.warn(`${this.options.name} failed (attempt ${failures}): ${(err as Error).message}`);
      }
      if (this.wakeRequested && failures === 0) continue;
      const delay = failures > 0 ? Math.min(5000, 100 * 2 ** Math.min(failures, 6)) : this.options.idleDelayMs();
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.wakeUp = resolve;
        timer = setTimeout(resolve, Math.max(0, Math.min(delay, 2 ** 31 - 1)));
      });
      this.wakeUp = undefined;
      clearTimeout(timer);
    }
  }
}
