/**
 * A circuit breaker per connection (the outside system a tool reaches). Closed, it lets every
 * call through and counts consecutive failures that say the system is in trouble (timeouts,
 * errors, retryable failures; never a validation or business refusal, which is the system
 * answering). At `failureThreshold` of them it opens: calls are refused at once without reaching
 * the system. After `cooldownMs` it turns half-open and lets one trial call through: a success
 * closes it, a failure opens it again for another cool-down.
 *
 * State is per process: each gateway instance learns on its own that a system is down (after
 * `failureThreshold` of its own calls). That bounds the damage per instance, which is what a
 * breaker is for; sharing the state would save only the first few failures of each instance.
 */

export type BreakerState = 'closed' | 'half_open' | 'open';

/** The value of the `govmesh_tool_breaker_state` gauge for each state. */
export const BREAKER_STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

export interface BreakerSettings {
  /** Consecutive counting failures that open a closed breaker. */
  failureThreshold: number;
  /** How long an open breaker refuses calls before it lets one trial through. */
  cooldownMs: number;
}

export const DEFAULT_BREAKER_SETTINGS: BreakerSettings = { failureThreshold: 5, cooldownMs: 30_000 };

export type Clock = () => number;

/**
 * The right to make one call, answered by `allow`. Reporting is idempotent: the first report
 * counts, later ones are ignored (a call that timed out and then finished reports once).
 */
export interface BreakerPermit {
  /** The system answered (a success, or a refusal on its merits). */
  succeeded(): void;
  /** The system did not answer usefully (timeout, error, retryable failure). */
  failed(): void;
}

export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private failures = 0;
  private openedAt = 0;
  /** When the half-open trial call was let through; another is allowed only if it never reports within a cool-down. */
  private trialSince: number | undefined;
  /** Bumped on every transition: a permit from an earlier state reports nothing. */
  private generation = 0;

  constructor(
    readonly connection: string,
    private readonly settings: BreakerSettings = DEFAULT_BREAKER_SETTINGS,
    private readonly clock: Clock = Date.now,
    private readonly onTransition: (connection: string, to: BreakerState) => void = () => undefined,
  ) {}

  /** The state now (an open breaker past its cool-down reads half-open). */
  get state(): BreakerState {
    this.advance();
    return this.current;
  }

  /** A permit for one call, or undefined when the breaker refuses it. */
  allow(): BreakerPermit | undefined {
    this.advance();
    if (this.current === 'open') return undefined;
    if (this.current === 'half_open') {
      const now = this.clock();
      // One trial at a time; a trial that never reported (its process crashed) frees the slot after a cool-down.
      if (this.trialSince !== undefined && now - this.trialSince < this.settings.cooldownMs) return undefined;
      this.trialSince = now;
    }
    return this.permit();
  }

  /** Milliseconds until an open breaker lets a trial through (0 when not open). */
  retryAfterMs(): number {
    this.advance();
    return this.current === 'open' ? Math.max(0, this.openedAt + this.settings.cooldownMs - this.clock()) : 0;
  }

  private permit(): BreakerPermit {
    const generation = this.generation;
    let reported = false;
    const report = (ok: boolean) => {
      if (reported) return;
      reported = true;
      // A call let through before the last transition says nothing about the state now.
      if (generation !== this.generation) return;
      if (ok) this.onSuccess();
      else this.onFailure();
    };
    return { succeeded: () => report(true), failed: () => report(false) };
  }

  private onSuccess(): void {
    this.failures = 0;
    if (this.current === 'half_open') this.transition('closed');
  }

  private onFailure(): void {
    if (this.current === 'half_open') {
      this.open();
      return;
    }
    this.failures++;
    if (this.failures >= this.settings.failureThreshold) this.open();
  }

  private open(): void {
    this.openedAt = this.clock();
    this.transition('open');
  }

  private advance(): void {
    if (this.current === 'open' && this.clock() - this.openedAt >= this.settings.cooldownMs) this.transition('half_open');
  }

  private transition(to: BreakerState): void {
    this.current = to;
    this.failures = 0;
    this.trialSince = undefined;
    this.generation++;
    this.onTransition(this.connection, to);
  }
}

/** The breakers of one process, one per connection, made on first use. */
export class CircuitBreakers {
  private readonly breakers = new Map<string, CircuitBreaker>();

  constructor(
    private readonly settings: BreakerSettings = DEFAULT_BREAKER_SETTINGS,
    private readonly clock: Clock = Date.now,
    private readonly onTransition: (connection: string, to: BreakerState) => void = () => undefined,
  ) {}

  for(connection: string): CircuitBreaker {
    let breaker = this.breakers.get(connection);
    if (!breaker) {
      breaker = new CircuitBreaker(connection, this.settings, this.clock, this.onTransition);
      this.breakers.set(connection, breaker);
    }
    return breaker;
  }
}
