import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { Client } from 'pg';

/**
 * What the benchmark watches besides latency: CPU per process (from /proc, so it covers the
 * apps, Postgres, the broker and the relays alike), the apps' own Prometheus metrics, and what
 * the Postgres backends are doing or waiting on.
 */

// ---------------------------------------------------------------- CPU from /proc (Linux)

let clockTicks: number | undefined;
function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

interface ProcStat {
  pid: number;
  comm: string;
  ppid: number;
  cpuSeconds: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = text.lastIndexOf(')');
    const comm = text.slice(text.indexOf('(') + 1, close);
    const f = text.slice(close + 2).split(' ');
    // Fields after comm: state(0) ppid(1) ... utime(11) stime(12)
    return { pid, comm, ppid: Number(f[1]), cpuSeconds: (Number(f[11]) + Number(f[12])) / ticksPerSecond() };
  } catch {
    return undefined;
  }
}

function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

function allPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .map(Number);
  } catch {
    return [];
  }
}

/** Pids of `node dist/apps/<app>/main.js` children of this process. */
export function findAppPids(apps: readonly string[]): Map<string, number> {
  const found = new Map<string, number>();
  for (const pid of allPids()) {
    const stat = readStat(pid);
    if (!stat || stat.ppid !== process.pid) continue;
    const cmd = cmdline(pid);
    for (const app of apps) if (cmd.includes(`dist/apps/${app}/main.js`)) found.set(app, pid);
  }
  return found;
}

/** A named group of processes whose CPU time is summed: fixed pids, or every process with a given name. */
export type CpuGroup = { name: string; pids: number[] } | { name: string; comm: string };

export interface CpuSnapshot {
  at: number;
  /** Per group: pid -> cpu seconds. */
  groups: Map<string, Map<number, number>>;
  /** Every process on the machine: pid -> [comm, cpu seconds] (to name what else used the CPU). */
  all: Map<number, [string, number]>;
  /** Machine-wide jiffies from /proc/stat. */
  machine?: { busy: number; total: number };
}

function machineJiffies(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = v[3] + (v[4] ?? 0);
    const total = v.reduce((s, x) => s + x, 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

export function cpuSnapshot(groups: CpuGroup[]): CpuSnapshot {
  const out = new Map<string, Map<number, number>>();
  const byComm = groups.filter((g): g is { name: string; comm: string } => 'comm' in g);
  const commStats = new Map<string, Map<number, number>>();
  const all = new Map<number, [string, number]>();
  {
    for (const pid of allPids()) {
      const stat = readStat(pid);
      if (!stat) continue;
      all.set(pid, [stat.comm, stat.cpuSeconds]);
      for (const g of byComm) {
        if (stat.comm !== g.comm) continue;
        const m = commStats.get(g.name) ?? new Map<number, number>();
        m.set(pid, stat.cpuSeconds);
        commStats.set(g.name, m);
      }
    }
  }
  for (const g of groups) {
    if ('comm' in g) {
      out.set(g.name, commStats.get(g.name) ?? new Map());
      continue;
    }
    const m = new Map<number, number>();
    for (const pid of g.pids) {
      if (pid === process.pid) {
        const u = process.cpuUsage();
        m.set(pid, (u.user + u.system) / 1e6);
        continue;
      }
      const stat = readStat(pid);
      if (stat) m.set(pid, stat.cpuSeconds);
    }
    out.set(g.name, m);
  }
  return { at: Date.now(), groups: out, all, machine: machineJiffies() };
}

/** CPU seconds per group between two snapshots (processes that appeared count from zero). */
export function cpuDelta(
  before: CpuSnapshot,
  after: CpuSnapshot,
): { wallSeconds: number; groups: Map<string, number>; machineBusy?: number; others: Array<{ comm: string; seconds: number }> } {
  const groups = new Map<string, number>();
  const mine = new Set<number>();
  for (const pids of after.groups.values()) for (const pid of pids.keys()) mine.add(pid);
  const others = new Map<string, number>();
  for (const [pid, [comm, secs]] of after.all) {
    if (mine.has(pid)) continue;
    const d = secs - (before.all.get(pid)?.[1] ?? 0);
    if (d > 0) others.set(comm, (others.get(comm) ?? 0) + d);
  }
  for (const [name, pids] of after.groups) {
    const prev = before.groups.get(name) ?? new Map<number, number>();
    let sum = 0;
    for (const [pid, secs] of pids) sum += Math.max(0, secs - (prev.get(pid) ?? 0));
    groups.set(name, sum);
  }
  let machineBusy: number | undefined;
  if (before.machine && after.machine && after.machine.total > before.machine.total) {
    machineBusy = (after.machine.busy - before.machine.busy) / (after.machine.total - before.machine.total);
  }
  return {
    wallSeconds: (after.at - before.at) / 1000,
    groups,
    machineBusy,
    others: [...others].map(([comm, seconds]) => ({ comm, seconds })).sort((a, b) => b.seconds - a.seconds),
  };
}

// ---------------------------------------------------------------- Prometheus text format

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[2]) for (const l of m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

export type MetricsSnapshot = Map<string, Sample[]>;

/** Scrapes every app's /metrics; `metricsToken` is sent as a bearer token (the apps' GOVMESH_METRICS_TOKEN, when set). */
export async function scrapeAll(urls: Map<string, string>, metricsToken?: string): Promise<MetricsSnapshot> {
  const snapshot: MetricsSnapshot = new Map();
  const headers: Record<string, string> = metricsToken ? { authorization: `Bearer ${metricsToken}` } : {};
  await Promise.all(
    [...urls].map(async ([app, url]) => {
      try {
        const res = await fetch(`${url}/metrics`, { headers, signal: AbortSignal.timeout(5000) });
        snapshot.set(app, parsePrometheus(await res.text()));
      } catch {
        snapshot.set(app, []);
      }
    }),
  );
  return snapshot;
}

function sum(samples: Sample[], name: string, filter: (l: Record<string, string>) => boolean = () => true): number {
  return samples.filter((s) => s.name === name && filter(s.labels)).reduce((a, s) => a + s.value, 0);
}

/** Histogram buckets (le -> cumulative count) summed over every label set but `le`. */
function buckets(samples: Sample[], name: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const s of samples) {
    if (s.name !== `${name}_bucket`) continue;
    const le = s.labels['le'] === '+Inf' ? Infinity : Number(s.labels['le']);
    out.set(le, (out.get(le) ?? 0) + s.value);
  }
  return out;
}

/** Prometheus-style histogram_quantile over bucket deltas (linear inside the bucket). */
export function histogramQuantile(before: Sample[], after: Sample[], name: string, q: number): number {
  const a = buckets(after, name);
  const b = buckets(before, name);
  const les = [...a.keys()].sort((x, y) => x - y);
  const cum = les.map((le) => (a.get(le) ?? 0) - (b.get(le) ?? 0));
  const total = cum[cum.length - 1] ?? 0;
  if (total <= 0) return Number.NaN;
  const rank = q * total;
  for (let i = 0; i < les.length; i++) {
    if (cum[i] >= rank) {
      if (les[i] === Infinity) return les[i - 1] ?? Number.NaN;
      const lo = i === 0 ? 0 : les[i - 1];
      const below = i === 0 ? 0 : cum[i - 1];
      const inBucket = cum[i] - below;
      return inBucket > 0 ? lo + (les[i] - lo) * ((rank - below) / inBucket) : les[i];
    }
  }
  return Number.NaN;
}

export interface ServiceFigures {
  consumed: number;
  published: number;
  batches: number;
  batchMean: number;
  handlerCount: number;
  handlerMeanMs: number;
  handlerP99Ms: number;
  outboxLagP50Ms: number;
  outboxLagP99Ms: number;
  retries: number;
  deadLetters: number;
  eventLoopLagP99Ms: number;
  heapMb: number;
}

/** Undefined when the app did not answer /metrics at one of the two ends. */
export function serviceFigures(before: Sample[], after: Sample[]): ServiceFigures | undefined {
  if (before.length === 0 || after.length === 0) return undefined;
  const d = (name: string) => sum(after, name) - sum(before, name);
  const batches = d('govmesh_consume_batch_size_count');
  const handlerCount = d('govmesh_handler_duration_seconds_count');
  return {
    consumed: d('govmesh_messages_consumed_total'),
    published: d('govmesh_messages_published_total'),
    batches,
    batchMean: batches > 0 ? d('govmesh_consume_batch_size_sum') / batches : Number.NaN,
    handlerCount,
    handlerMeanMs: handlerCount > 0 ? (d('govmesh_handler_duration_seconds_sum') / handlerCount) * 1000 : Number.NaN,
    handlerP99Ms: histogramQuantile(before, after, 'govmesh_handler_duration_seconds', 0.99) * 1000,
    outboxLagP50Ms: histogramQuantile(before, after, 'govmesh_outbox_publish_lag_seconds', 0.5) * 1000,
    outboxLagP99Ms: histogramQuantile(before, after, 'govmesh_outbox_publish_lag_seconds', 0.99) * 1000,
    retries: d('govmesh_consume_retries_total'),
    deadLetters: d('govmesh_dead_letters_total'),
    eventLoopLagP99Ms: sum(after, 'govmesh_nodejs_eventloop_lag_p99_seconds') * 1000,
    heapMb: sum(after, 'govmesh_nodejs_heap_size_used_bytes') / 1024 / 1024,
  };
}

// ---------------------------------------------------------------- Postgres activity

/**
 * Samples pg_stat_activity of one database every `intervalMs`: for each backend that is busy
 * (active, or idle inside a transaction), counts application_name + what it waits on.
 */
export class PgActivitySampler {
  private client?: Client;
  private timer?: NodeJS.Timeout;
  private running = false;
  samples = 0;
  readonly counts = new Map<string, number>();
  readonly busyByApp = new Map<string, number>();

  constructor(
    private readonly adminUrl: string,
    private readonly database: string,
    private readonly intervalMs = 200,
  ) {}

  async start(): Promise<void> {
    this.client = new Client({ connectionString: this.adminUrl, application_name: 'bench-sampler' });
    await this.client.connect();
    this.running = true;
    const tick = async () => {
      if (!this.running || !this.client) return;
      try {
        const { rows } = await this.client.query<{ app: string; state: string; wt: string | null; we: string | null }>(
          `SELECT application_name AS app, state, wait_event_type AS wt, wait_event AS we
             FROM pg_stat_activity
            WHERE datname = $1 AND pid <> pg_backend_pid() AND state IN ('active', 'idle in transaction')`,
          [this.database],
        );
        this.samples++;
        for (const r of rows) {
          const app = r.app.replace(/^govmesh-/, '') || '?';
          const what = r.state === 'idle in transaction' ? 'idle in transaction (app side)' : r.wt ? `waiting ${r.wt}:${r.we}` : 'running (CPU)';
          const key = `${app}\t${what}`;
          this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
          this.busyByApp.set(app, (this.busyByApp.get(app) ?? 0) + 1);
        }
      } catch {
        // a failed sample is skipped
      }
      if (this.running) this.timer = setTimeout(() => void tick(), this.intervalMs);
    };
    void tick();
  }

  reset(): void {
    this.samples = 0;
    this.counts.clear();
    this.busyByApp.clear();
  }

  /** Top rows: app, state, average number of backends in that state per sample. */
  top(n: number): Array<{ app: string; what: string; avg: number }> {
    return [...this.counts]
      .map(([key, c]) => {
        const [app, what] = key.split('\t');
        return { app, what, avg: this.samples ? c / this.samples : 0 };
      })
      .sort((a, b) => b.avg - a.avg)
      .slice(0, n);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }
}

// ---------------------------------------------------------------- Postgres work counters

export interface PgWork {
  /** Per schema: [scans, inserted, updated, deleted] rows/ops. */
  schemas: Map<string, [number, number, number, number]>;
  commits: number;
  walBytes?: number;
  walSyncs?: number;
}

type Query = <T = Record<string, unknown>>(sql: string, params?: unknown[]) => Promise<T[]>;

/** Cumulative counters of one database (table stats reach the views within ~1 s of a commit). */
export async function pgWork(query: Query, database: string): Promise<PgWork> {
  const rows = await query<{ schema: string; scans: string; ins: string; upd: string; del: string }>(
    `SELECT schemaname AS schema, sum(coalesce(seq_scan, 0) + coalesce(idx_scan, 0)) AS scans,
            sum(n_tup_ins) AS ins, sum(n_tup_upd) AS upd, sum(n_tup_del) AS del
       FROM pg_stat_user_tables GROUP BY schemaname`,
  );
  const [db] = await query<{ commits: string }>('SELECT xact_commit AS commits FROM pg_stat_database WHERE datname = $1', [database]);
  let wal: { bytes: string; syncs: string } | undefined;
  try {
    [wal] = await query<{ bytes: string; syncs: string }>('SELECT wal_bytes AS bytes, wal_sync AS syncs FROM pg_stat_wal');
  } catch {
    wal = undefined; // PostgreSQL < 14
  }
  return {
    schemas: new Map(rows.map((r) => [r.schema, [Number(r.scans), Number(r.ins), Number(r.upd), Number(r.del)]])),
    commits: Number(db?.commits ?? 0),
    walBytes: wal ? Number(wal.bytes) : undefined,
    walSyncs: wal ? Number(wal.syncs) : undefined,
  };
}

export function pgWorkDelta(before: PgWork, after: PgWork): PgWork {
  const schemas = new Map<string, [number, number, number, number]>();
  for (const [schema, a] of after.schemas) {
    const b = before.schemas.get(schema) ?? [0, 0, 0, 0];
    schemas.set(schema, [a[0] - b[0], a[1] - b[1], a[2] - b[2], a[3] - b[3]]);
  }
  return {
    schemas,
    commits: after.commits - before.commits,
    walBytes: after.walBytes !== undefined && before.walBytes !== undefined ? after.walBytes - before.walBytes : undefined,
    walSyncs: after.walSyncs !== undefined && before.walSyncs !== undefined ? after.walSyncs - before.walSyncs : undefined,
  };
}
