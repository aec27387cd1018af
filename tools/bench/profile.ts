import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { sleep } from './stats';

/**
 * Optional CPU profiling of the mesh apps (BENCH_PROFILE=1): cpu-profile-hook.js is preloaded
 * into every app and started/stopped through a control file; the resulting .cpuprofile files are
 * summarized here by where the time went (package, app code, GC, ...) and by function.
 */

export const PROFILE_HOOK = resolve(__dirname, 'cpu-profile-hook.js');

export class ProfileControl {
  private n = 0;

  constructor(readonly dir: string) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'control'), 'idle');
  }

  /** Environment for the apps. Keeps an existing NODE_OPTIONS. */
  env(existing?: string): Record<string, string> {
    return { NODE_OPTIONS: `${existing ? `${existing} ` : ''}--require ${PROFILE_HOOK}`, BENCH_PROFILE_DIR: this.dir };
  }

  async start(): Promise<void> {
    writeFileSync(join(this.dir, 'control'), `start ${++this.n}`);
    await sleep(500); // the hook polls every 200 ms
  }

  /** Stops the profilers and waits for every app's file. */
  async stop(apps: readonly string[], timeoutMs = 20000): Promise<string[]> {
    for (const app of apps) rmSync(join(this.dir, `${app}.cpuprofile`), { force: true });
    writeFileSync(join(this.dir, 'control'), `stop ${++this.n}`);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline && !apps.every((a) => existsSync(join(this.dir, `${a}.cpuprofile`)))) await sleep(200);
    return apps.filter((a) => existsSync(join(this.dir, `${a}.cpuprofile`)));
  }
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }>;
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface ProfileSummary {
  app: string;
  /** Sampled milliseconds that were not idle. */
  busyMs: number;
  byCategory: Array<{ name: string; ms: number }>;
  topFunctions: Array<{ name: string; where: string; category: string; ms: number }>;
}

function category(url: string, fn: string): string {
  if (!url) {
    if (fn === '(garbage collector)') return 'V8 garbage collector';
    if (fn === '(program)') return 'V8/native (unattributed)';
    if (fn === '(idle)') return '(idle)';
    return fn ? `native ${fn}` : 'native';
  }
  if (url.startsWith('node:')) return 'node core (net, streams, timers...)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1];
  if (url.includes('/dist/apps/')) return 'govmesh code (bundled)';
  return url.replace(/^file:\/\//, '');
}

export function summarizeProfile(dir: string, app: string, topN = 10): ProfileSummary | undefined {
  let profile: CpuProfile;
  try {
    profile = JSON.parse(readFileSync(join(dir, `${app}.cpuprofile`), 'utf8')) as CpuProfile;
  } catch {
    return undefined;
  }
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  const avg = samples.length ? (profile.endTime - profile.startTime) / samples.length : 0;
  for (let i = 0; i < samples.length; i++) {
    const dt = (deltas[i + 1] ?? avg) / 1000;
    self.set(samples[i], (self.get(samples[i]) ?? 0) + dt);
  }
  const cats = new Map<string, number>();
  const fns = new Map<string, { name: string; where: string; category: string; ms: number }>();
  let busy = 0;
  for (const [id, t] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const cat = category(url, functionName);
    if (cat === '(idle)') continue;
    busy += t;
    cats.set(cat, (cats.get(cat) ?? 0) + t);
    const where = url ? `${url.replace(/^.*node_modules\//, '').replace(/^.*\/dist\/apps\//, 'dist/apps/').replace(/^file:\/\//, '')}:${lineNumber + 1}` : '';
    const key = `${functionName}@${where}`;
    const f = fns.get(key) ?? { name: functionName || '(anonymous)', where, category: cat, ms: 0 };
    f.ms += t;
    fns.set(key, f);
  }
  return {
    app,
    busyMs: busy,
    byCategory: [...cats].map(([name, ms]) => ({ name, ms })).sort((a, b) => b.ms - a.ms),
    topFunctions: [...fns.values()].sort((a, b) => b.ms - a.ms).slice(0, topN),
  };
}
