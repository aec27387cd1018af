import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { expectEventually } from './eventually';

export const MESH_APPS = ['policy', 'orchestrator', 'model-router', 'context', 'tool-gateway', 'verifier', 'telemetry'] as const;
export type MeshApp = (typeof MESH_APPS)[number];

const ROOT = resolve(__dirname, '../../..');
export const TEST_GRANT_SECRET = 'govmesh-test-grant-secret-0123456789abcdef';

async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

interface RunningApp {
  app: MeshApp;
  port: number;
  process: ChildProcess;
  exited: Promise<number | null>;
}

export interface MeshOptions {
  brokers: string;
  databaseUrl: string;
  label: string;
  env?: Record<string, string>;
}

/**
 * Runs every govmesh app as its own OS process from the built bundles (dist/apps/<app>/main.js),
 * as an operator would. Logs go to tmp/test-logs/<label>/<app>.log.
 */
export class DistributedMesh {
  private readonly running = new Map<MeshApp, RunningApp>();
  private readonly ports = new Map<MeshApp, number>();
  readonly logDir: string;

  constructor(private readonly options: MeshOptions) {
    this.logDir = join(ROOT, 'tmp/test-logs', options.label);
    mkdirSync(this.logDir, { recursive: true });
  }

  static assertBuilt(): void {
    for (const app of MESH_APPS) {
      const main = join(ROOT, 'dist/apps', app, 'main.js');
      if (!existsSync(main)) throw new Error(`${main} is missing: run \`npx nx run-many -t build\` (the jest global setup does)`);
    }
  }

  url(app: MeshApp): string {
    return `http://127.0.0.1:${this.ports.get(app)}`;
  }

  async start(apps: readonly MeshApp[] = MESH_APPS): Promise<void> {
    DistributedMesh.assertBuilt();
    await Promise.all(apps.map((app) => this.startApp(app)));
  }

  async startApp(app: MeshApp): Promise<void> {
    const port = this.ports.get(app) ?? (await freePort());
    this.ports.set(app, port);
    const log = createWriteStream(join(this.logDir, `${app}.log`), { flags: 'a' });
    const child = spawn(process.execPath, [join(ROOT, 'dist/apps', app, 'main.js')], {
      cwd: ROOT,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        PORT: String(port),
        KAFKA_BROKERS: this.options.brokers,
        DATABASE_URL: this.options.databaseUrl,
        GOVMESH_GRANT_SECRET: TEST_GRANT_SECRET,
        GOVMESH_OUTBOX_POLL_MS: '200',
        KAFKA_SESSION_TIMEOUT_MS: '6000',
        LOG_LEVEL: 'warn',
        ...this.options.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
    this.running.set(app, { app, port, process: child, exited });
    await expectEventually(
      async () => {
        const res = await fetch(`${this.url(app)}/health`);
        if (res.status !== 200) throw new Error(`${app} /health answered ${res.status}`);
      },
      { timeoutMs: 60000, intervalMs: 200 },
    );
  }

  /** Kills an app the hard way (no shutdown hooks, no flush). */
  async kill(app: MeshApp, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const running = this.running.get(app);
    if (!running) return;
    running.process.kill(signal);
    await running.exited;
    this.running.delete(app);
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.running.values()].map(async (r) => {
        r.process.kill('SIGTERM');
        const timer = setTimeout(() => r.process.kill('SIGKILL'), 10000);
        await r.exited;
        clearTimeout(timer);
      }),
    );
    this.running.clear();
  }
}

