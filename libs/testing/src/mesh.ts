import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { createWriteStream, mkdirSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import type { Role } from '@govmesh/nest-runtime';
import { generateApiKey, generateKeyPair, INTENT_SIGNATURE_ATTRIBUTE, INTENT_SIGNER_ATTRIBUTE, loadPrivateKey, signIntent, type GeneratedKeyPair } from '@govmesh/signing';

export const MESH_APPS = ['policy', 'orchestrator', 'model-router', 'context', 'tool-gateway', 'verifier', 'telemetry'] as const;
export type MeshApp = (typeof MESH_APPS)[number];

const ROOT = resolve(__dirname, '../../..');

/**
 * The secrets of one mesh, generated fresh for it as `npx govmesh keygen --service` does: the
 * grant, ingress, verifier and gateway Ed25519 pairs (base64url seeds and public keys) and a bootstrap
 * operator key.
 */
export interface MeshKeys {
  GOVMESH_GRANT_SIGNING_KEY: string;
  GOVMESH_GRANT_PUBLIC_KEY: string;
  GOVMESH_INGRESS_SIGNING_KEY: string;
  GOVMESH_INGRESS_PUBLIC_KEY: string;
  GOVMESH_VERIFIER_SIGNING_KEY: string;
  GOVMESH_VERIFIER_PUBLIC_KEY: string;
  GOVMESH_GATEWAY_SIGNING_KEY: string;
  GOVMESH_GATEWAY_PUBLIC_KEY: string;
  GOVMESH_AUDIT_SIGNING_KEY: string;
  GOVMESH_AUDIT_PUBLIC_KEY: string;
  /** The master key the tool gateway encrypts connection secrets under. */
  GOVMESH_CONNECTION_KEYS: string;
  GOVMESH_BOOTSTRAP_OPERATOR_KEY: string;
}

export function generateMeshKeys(): MeshKeys {
  const grant = generateKeyPair();
  const ingress = generateKeyPair();
  const verifier = generateKeyPair();
  const gateway = generateKeyPair();
  const audit = generateKeyPair();
  return {
    GOVMESH_GRANT_SIGNING_KEY: grant.privateKeySeed,
    GOVMESH_GRANT_PUBLIC_KEY: grant.publicKey,
    GOVMESH_INGRESS_SIGNING_KEY: ingress.privateKeySeed,
    GOVMESH_INGRESS_PUBLIC_KEY: ingress.publicKey,
    GOVMESH_VERIFIER_SIGNING_KEY: verifier.privateKeySeed,
    GOVMESH_VERIFIER_PUBLIC_KEY: verifier.publicKey,
    GOVMESH_GATEWAY_SIGNING_KEY: gateway.privateKeySeed,
    GOVMESH_GATEWAY_PUBLIC_KEY: gateway.publicKey,
    GOVMESH_AUDIT_SIGNING_KEY: audit.privateKeySeed,
    GOVMESH_AUDIT_PUBLIC_KEY: audit.publicKey,
    GOVMESH_CONNECTION_KEYS: `mesh-${randomBytes(4).toString('hex')}:${randomBytes(32).toString('base64')}`,
    GOVMESH_BOOTSTRAP_OPERATOR_KEY: generateApiKey().key,
  };
}

/**
 * The keys each process gets, as an operator deploys them: only policy holds the grant signing
 * key, only the orchestrator (the HTTP ingress) the ingress signing key, only the verifier the
 * verifier signing key, only the tool gateway the gateway signing key, only telemetry the audit signing key; every process gets the bootstrap operator key (they share the identity
 * schema).
 */
export const MESH_APP_KEYS: Record<MeshApp, Array<keyof MeshKeys>> = {
  policy: ['GOVMESH_GRANT_SIGNING_KEY', 'GOVMESH_INGRESS_PUBLIC_KEY', 'GOVMESH_BOOTSTRAP_OPERATOR_KEY'],
  orchestrator: ['GOVMESH_INGRESS_SIGNING_KEY', 'GOVMESH_BOOTSTRAP_OPERATOR_KEY'],
  'model-router': ['GOVMESH_BOOTSTRAP_OPERATOR_KEY'],
  context: ['GOVMESH_BOOTSTRAP_OPERATOR_KEY'],
  'tool-gateway': ['GOVMESH_GRANT_PUBLIC_KEY', 'GOVMESH_VERIFIER_PUBLIC_KEY', 'GOVMESH_GATEWAY_SIGNING_KEY', 'GOVMESH_CONNECTION_KEYS', 'GOVMESH_BOOTSTRAP_OPERATOR_KEY'],
  verifier: ['GOVMESH_VERIFIER_SIGNING_KEY', 'GOVMESH_GATEWAY_PUBLIC_KEY', 'GOVMESH_BOOTSTRAP_OPERATOR_KEY'],
  telemetry: ['GOVMESH_AUDIT_SIGNING_KEY', 'GOVMESH_AUDIT_PUBLIC_KEY', 'GOVMESH_BOOTSTRAP_OPERATOR_KEY'],
};

/** Variables a process must not inherit from the shell that runs the tests: the mesh sets its own. */
const INHERITED_SECRETS = ['GOVMESH_METRICS_TOKEN', 'GOVMESH_OIDC_ISSUER', 'GOVMESH_OIDC_JWKS_URL', 'GOVMESH_OIDC_AUDIENCE'];

/** An agent version's Ed25519 key, registered with policy: what signs its intents on Kafka. */
export interface AgentSigningKey {
  agentId: string;
  version: string;
  /** base64url of the raw public key, as registered. */
  publicKey: string;
  privateKey: KeyObject;
}

/** The intent data as an agent signs it (docs/signing.md section 3). */
export interface MeshIntent {
  intentId: string;
  task: string;
  input?: Record<string, unknown>;
  /** Defaults to now. */
  submittedAt?: string;
  /** The workflow to run, by id (IntentSubmitted `workflow`); signed with the rest of `data`. */
  workflow?: string;
}

/**
 * A structured CloudEvent for an intent signed by its agent version's key, written out as a
 * producer in another language would (docs/signing.md section 4): `govmeshsig` is the Ed25519
 * signature of the RFC 8785 form of `data`, `govmeshsigner` is `agent`.
 */
export function signedIntentCloudEvent(key: AgentSigningKey, intent: MeshIntent): string {
  const data = {
    intentId: intent.intentId,
    agentId: key.agentId,
    agentVersion: key.version,
    task: intent.task,
    ...(intent.input !== undefined ? { input: intent.input } : {}),
    submittedAt: intent.submittedAt ?? new Date().toISOString(),
    ...(intent.workflow !== undefined ? { workflow: intent.workflow } : {}),
  };
  return JSON.stringify({
    specversion: '1.0',
    id: randomUUID(),
    source: `agent/${key.agentId}`,
    type: 'govmesh.intent.submitted.v1',
    time: new Date().toISOString(),
    subject: intent.intentId,
    correlationid: intent.intentId,
    datacontenttype: 'application/json',
    [INTENT_SIGNATURE_ATTRIBUTE]: signIntent(data, key.privateKey),
    [INTENT_SIGNER_ATTRIBUTE]: 'agent',
    data,
  });
}

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
  /** Extra environment for every app; it wins over the mesh's own (keys included). */
  env?: Record<string, string>;
  /** The mesh's keys; fresh ones (generateMeshKeys) when absent. */
  keys?: MeshKeys;
}

export interface MeshResponse<T> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * Runs every govmesh app as its own OS process from the built bundles (dist/apps/<app>/main.js),
 * as an operator would: each with the keys its service needs, generated for this mesh, and the
 * bootstrap operator key. Logs go to tmp/test-logs/<label>/<app>.log.
 */
export class DistributedMesh {
  private readonly running = new Map<MeshApp, RunningApp>();
  private readonly ports = new Map<MeshApp, number>();
  readonly logDir: string;
  readonly keys: MeshKeys;

  constructor(private readonly options: MeshOptions) {
    this.logDir = join(ROOT, 'tmp/test-logs', options.label);
    mkdirSync(this.logDir, { recursive: true });
    this.keys = options.keys ?? generateMeshKeys();
  }

  static assertBuilt(): void {
    for (const app of MESH_APPS) {
      const main = join(ROOT, 'dist/apps', app, 'main.js');
      if (!existsSync(main)) throw new Error(`${main} is missing: run \`npx nx run-many -t build\` (the jest global setup does)`);
    }
  }

  /** The bootstrap operator API key every process installed. */
  get operatorKey(): string {
    return this.keys.GOVMESH_BOOTSTRAP_OPERATOR_KEY;
  }

  url(app: MeshApp): string {
    return `http://127.0.0.1:${this.ports.get(app)}`;
  }

  async start(apps: readonly MeshApp[] = MESH_APPS): Promise<void> {
    DistributedMesh.assertBuilt();
    await Promise.all(apps.map((app) => this.startApp(app)));
  }

  /** The environment an app process starts with. */
  appEnv(app: MeshApp, port: number): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const name of [...INHERITED_SECRETS, ...(Object.keys(this.keys) as Array<keyof MeshKeys>)]) delete env[name];
    return {
      ...env,
      NODE_ENV: 'test',
      PORT: String(port),
      KAFKA_BROKERS: this.options.brokers,
      DATABASE_URL: this.options.databaseUrl,
      ...Object.fromEntries(MESH_APP_KEYS[app].map((name) => [name, this.keys[name]])),
      GOVMESH_OUTBOX_POLL_MS: '200',
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      LOG_LEVEL: 'warn',
      ...this.options.env,
    };
  }

  async startApp(app: MeshApp): Promise<void> {
    const port = this.ports.get(app) ?? (await freePort());
    this.ports.set(app, port);
    const logFile = join(this.logDir, `${app}.log`);
    const log = createWriteStream(logFile, { flags: 'a' });
    const child = spawn(process.execPath, [join(ROOT, 'dist/apps', app, 'main.js')], {
      cwd: ROOT,
      env: this.appEnv(app, port),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    let exitCode: number | null | undefined;
    const exited = new Promise<number | null>((res) =>
      child.once('exit', (code) => {
        exitCode = code;
        res(code);
      }),
    );
    this.running.set(app, { app, port, process: child, exited });
    try {
      await this.waitHealthy(app, () => exitCode, logFile);
    } catch (err) {
      this.running.delete(app);
      if (exitCode === undefined) child.kill('SIGKILL');
      throw err;
    }
  }

  /** Polls /health until it answers 200; fails at once when the process is gone (a refused start says why in its log). */
  private async waitHealthy(app: MeshApp, exitCode: () => number | null | undefined, logFile: string, timeoutMs = 60000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    for (;;) {
      const code = exitCode();
      if (code !== undefined) throw new Error(`${app} exited with code ${code} before it was healthy; end of ${logFile}:\n${tail(logFile)}`);
      try {
        const res = await fetch(`${this.url(app)}/health`);
        if (res.status === 200) return;
        last = `/health answered ${res.status}`;
      } catch (err) {
        last = (err as Error).message;
      }
      if (Date.now() > deadline) throw new Error(`${app} was not healthy within ${timeoutMs} ms (last: ${last}); end of ${logFile}:\n${tail(logFile)}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * One HTTP request to an app as an outside client makes it: JSON body, `authorization: Bearer
   * <key>` (the operator key unless another is given; none with `key: null`), answered status,
   * parsed body (the text when it is not JSON) and headers.
   */
  async http<T = Record<string, unknown>>(
    app: MeshApp,
    method: string,
    path: string,
    options: { key?: string | null; body?: unknown; headers?: Record<string, string> } = {},
  ): Promise<MeshResponse<T>> {
    const key = options.key === undefined ? this.operatorKey : options.key;
    const headers: Record<string, string> = {
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...options.headers,
    };
    const res = await fetch(`${this.url(app)}${path}`, {
      method,
      headers,
      body: options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body),
    });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: the text as is
    }
    return { status: res.status, body: body as T, headers: res.headers };
  }

  /** A fresh API key of a role, created by the operator through policy's `POST /v1/api-keys` (an agent key names its agent). */
  async apiKey(role: Role, options: { agentId?: string; groups?: string[]; name?: string } = {}): Promise<string> {
    const res = await this.http<{ key?: string }>('policy', 'POST', '/v1/api-keys', {
      body: { name: options.name ?? `test ${role}${options.agentId ? ` ${options.agentId}` : ''}`, role, ...(options.groups ? { groups: options.groups } : {}), ...(options.agentId ? { agentId: options.agentId } : {}) },
    });
    if (res.status !== 201 && res.status !== 200) throw new Error(`POST /v1/api-keys answered ${res.status}: ${JSON.stringify(res.body)}`);
    if (!res.body.key) throw new Error(`POST /v1/api-keys answered no key: ${JSON.stringify(res.body)}`);
    return res.body.key;
  }

  /**
   * Registers a new version of an agent with a fresh Ed25519 public key (`POST
   * /v1/agents/<id>/versions`, as an operator) and answers the key that signs its intents. The
   * version becomes the agent's current one unless `makeCurrent` is false; `pair` registers a key
   * made beforehand instead of a fresh one.
   */
  async registerAgentKey(agentId: string, version = `1.1.0-${randomUUID().slice(0, 8)}`, options: { makeCurrent?: boolean; pair?: GeneratedKeyPair } = {}): Promise<AgentSigningKey> {
    const pair = options.pair ?? generateKeyPair();
    const res = await this.http('policy', 'POST', `/v1/agents/${encodeURIComponent(agentId)}/versions`, {
      body: { version, publicKey: pair.publicKey, ...(options.makeCurrent === false ? { makeCurrent: false } : {}) },
    });
    if (res.status !== 201) throw new Error(`POST /v1/agents/${agentId}/versions answered ${res.status}: ${JSON.stringify(res.body)}`);
    return { agentId, version, publicKey: pair.publicKey, privateKey: loadPrivateKey(pair.privateKeySeed) };
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

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
