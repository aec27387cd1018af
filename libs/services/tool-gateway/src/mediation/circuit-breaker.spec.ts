import { CircuitBreaker, CircuitBreakers, type BreakerState } from './circuit-breaker';

describe('CircuitBreaker', () => {
  let now: number;
  let transitions: BreakerState[];
  const make = (failureThreshold = 3, cooldownMs = 1000) => new CircuitBreaker('erp', { failureThreshold, cooldownMs }, () => now, (_, to) => transitions.push(to));
  const fail = (b: CircuitBreaker) => b.allow()!.failed();
  const succeed = (b: CircuitBreaker) => b.allow()!.succeeded();

  beforeEach(() => {
    now = 1_000_000;
    transitions = [];
  });

  it('starts closed and lets calls through', () => {
    const b = make();
    expect(b.state).toBe('closed');
    expect(b.allow()).toBeDefined();
    expect(b.retryAfterMs()).toBe(0);
  });

  it('closed → open after the threshold of consecutive failures', () => {
    const b = make(3);
    fail(b);
    fail(b);
    expect(b.state).toBe('closed');
    fail(b);
    expect(b.state).toBe('open');
    expect(transitions).toEqual(['open']);
  });

  it('a success in between resets the count: failures must be consecutive', () => {
    const b = make(3);
    fail(b);
    fail(b);
    succeed(b);
    fail(b);
    fail(b);
    expect(b.state).toBe('closed');
    fail(b);
    expect(b.state).toBe('open');
  });

  it('open refuses every call until the cool-down has passed', () => {
    const b = make(1, 1000);
    fail(b);
    expect(b.allow()).toBeUndefined();
    now += 999;
    expect(b.allow()).toBeUndefined();
    expect(b.retryAfterMs()).toBe(1);
  });

  it('open → half-open after the cool-down, which lets exactly one trial through', () => {
    const b = make(1, 1000);
    fail(b);
    now += 1000;
    expect(b.state).toBe('half_open');
    const trial = b.allow();
    expect(trial).toBeDefined();
    expect(b.allow()).toBeUndefined();
    expect(transitions).toEqual(['open', 'half_open']);
  });

  it('half-open → closed when the trial succeeds', () => {
    const b = make(1, 1000);
    fail(b);
    now += 1000;
    b.allow()!.succeeded();
    expect(b.state).toBe('closed');
    expect(b.allow()).toBeDefined();
    expect(b.allow()).toBeDefined();
    expect(transitions).toEqual(['open', 'half_open', 'closed']);
  });

  it('half-open → open when the trial fails, for another full cool-down', () => {
    const b = make(1, 1000);
    fail(b);
    now += 1500;
    b.allow()!.failed();
    expect(b.state).toBe('open');
    expect(b.retryAfterMs()).toBe(1000);
    now += 999;
    expect(b.allow()).toBeUndefined();
    now += 1;
    expect(b.allow()).toBeDefined();
    expect(transitions).toEqual(['open', 'half_open', 'open', 'half_open']);
  });

  it('a trial that never reports frees the half-open slot after a cool-down', () => {
    const b = make(1, 1000);
    fail(b);
    now += 1000;
    expect(b.allow()).toBeDefined();
    now += 999;
    expect(b.allow()).toBeUndefined();
    now += 1;
    expect(b.allow()).toBeDefined();
  });

  it('a permit reports once, and permits from before a transition report nothing', () => {
    const b = make(2, 1000);
    const slow = b.allow()!;
    const p = b.allow()!;
    p.failed();
    p.failed();
    expect(b.state).toBe('closed');
    fail(b);
    expect(b.state).toBe('open');
    now += 1000;
    const trial = b.allow()!;
    // A call let through while closed finishes late: it neither closes nor reopens the breaker.
    slow.succeeded();
    expect(b.state).toBe('half_open');
    trial.succeeded();
    expect(b.state).toBe('closed');
  });

  it('CircuitBreakers keeps one breaker per connection', () => {
    const all = new CircuitBreakers({ failureThreshold: 1, cooldownMs: 1000 }, () => now);
    all.for('erp').allow()!.failed();
    expect(all.for('erp').state).toBe('open');
    expect(all.for('crm').state).toBe('closed');
    expect(all.for('erp')).toBe(all.for('erp'));
  });
});
