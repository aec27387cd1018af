import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, keyIdOf, parseApiKey, publicKeyOf, verifyIntentSignature } from '@govmesh/signing';
import { appendToChain, EVIDENCE_FORMAT, GENESIS_HASH, inclusionProof, merkleRoot, NO_CHECKPOINT, payloadDigest, sealEvidenceBundle, signCheckpoint, summarizeEvidence } from '@govmesh/audit-chain';
import { main, type CliIo } from './govmesh';

const ROOT = join(__dirname, '..', '..');
const NOW = new Date('2026-11-21T09:30:00.000Z');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'govmesh-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function run(argv: string[], options: { stdin?: string; now?: Date } = {}): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    readStdin: async () => options.stdin ?? '',
    stdinIsTty: options.stdin === undefined,
    cwd: dir,
    now: () => options.now ?? NOW,
  };
  const code = await main(argv, io);
  return { code, stdout, stderr };
}

function file(name: string, content: string): string {
  writeFileSync(join(dir, name), content);
  return name;
}

const agentKey = generateKeyPair();
const intentJson = JSON.stringify({ task: 'Refund 1 EUR to acc-003', input: { to: 'acc-003', amount: 1 } });

describe('govmesh usage', () => {
  it('prints usage for --help and help, exit 0', async () => {
    for (const argv of [['--help'], ['-h'], ['help']]) {
      const r = await run(argv);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('govmesh keygen');
      expect(r.stdout).toContain('govmesh sign --key');
      expect(r.stdout).toContain('govmesh verify --public-key');
    }
    const r = await run(['sign', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('--key <file>');
    expect((await run(['help', 'verify'])).stdout).toContain('--max-age');
  });

  it.each([
    [[], /Usage:/],
    [['frobnicate'], /govmesh: unknown command "frobnicate"\nRun `govmesh --help` for usage./],
    [['--frob'], /unknown option --frob; a command comes first/],
    [['help', 'frob'], /unknown command "frob"/],
    [['keygen', '--bogus'], /govmesh: unknown option --bogus for keygen\nRun `govmesh keygen --help` for usage./],
    [['keygen', 'extra'], /unexpected argument extra for keygen/],
    [['keygen', '--out'], /option '--out <value>' argument missing/],
    [['keygen', '--service', '--agent', 'x'], /not with --service/],
    [['sign'], /sign needs --key/],
    [['sign', '--key', 'k.pem', '--frob', 'x'], /unknown option --frob for sign/],
    [['verify', '--file', 'x.json'], /verify needs --public-key/],
    [['verify', '--public-key', 'nope'], /--public-key: the public key cannot be read/],
    [['verify', '--public-key', agentKey.publicKey, '--max-age', 'soon'], /--max-age must be a positive whole number of seconds/],
  ])('refuses %j with exit 2 and a message, never a stack trace', async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('govmesh keygen', () => {
  it('writes the private key as a 0600 PKCS#8 PEM and prints the public key and how to register it', async () => {
    const r = await run(['keygen', '--out', 'agent.pem', '--agent', 'payments-bot', '--version', '2.1.0']);
    expect(r.code).toBe(0);
    const pem = readFileSync(join(dir, 'agent.pem'), 'utf8');
    expect(pem).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(statSync(join(dir, 'agent.pem')).mode & 0o777).toBe(0o600);
    const publicKey = publicKeyOf(pem);
    expect(r.stdout).toContain(`Public key: ${publicKey}`);
    expect(r.stdout).toContain(`{"version":"2.1.0","publicKey":"${publicKey}"}`);
    expect(r.stdout).toContain('/v1/agents/payments-bot/versions');
    expect(r.stdout).toContain('authorization: Bearer');
    expect(r.stdout).not.toContain('PRIVATE KEY');
  });

  it('refuses to overwrite an existing file, and leaves it as it was', async () => {
    file('agent.pem', 'precious');
    const r = await run(['keygen', '--out', 'agent.pem']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/agent.pem exists already; refusing to overwrite it/);
    expect(readFileSync(join(dir, 'agent.pem'), 'utf8')).toBe('precious');
  });

  it('without --out prints the private key and its public key', async () => {
    const r = await run(['keygen']);
    expect(r.code).toBe(0);
    const pem = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/.exec(r.stdout)?.[0];
    expect(pem).toBeDefined();
    expect(r.stdout).toContain(`Public key: ${publicKeyOf(pem!)}`);
    expect(r.stdout).toContain('{"version":"1.0.0","publicKey"');
  });

  it('--json prints the key pair and the registration body', async () => {
    const r = await run(['keygen', '--json', '--version', '3.0.0']);
    const out = JSON.parse(r.stdout);
    expect(publicKeyOf(out.privateKeyPem)).toBe(out.publicKey);
    expect(publicKeyOf(out.privateKeySeed)).toBe(out.publicKey);
    expect(out.keyId).toBe(keyIdOf(out.publicKey));
    expect(out.registration).toEqual({ version: '3.0.0', publicKey: out.publicKey });
  });

  it('--service prints the env lines of a distributed deployment, each key with its public half', async () => {
    const r = await run(['keygen', '--service']);
    expect(r.code).toBe(0);
    const env = Object.fromEntries(
      r.stdout
        .split('\n')
        .filter((line) => line && !line.startsWith('#'))
        .map((line) => line.split(/=(.*)/s).slice(0, 2)),
    );
    expect(Object.keys(env)).toEqual([
      'GOVMESH_GRANT_SIGNING_KEY',
      'GOVMESH_GRANT_PUBLIC_KEY',
      'GOVMESH_INGRESS_SIGNING_KEY',
      'GOVMESH_INGRESS_PUBLIC_KEY',
      'GOVMESH_VERIFIER_SIGNING_KEY',
      'GOVMESH_VERIFIER_PUBLIC_KEY',
      'GOVMESH_GATEWAY_SIGNING_KEY',
      'GOVMESH_GATEWAY_PUBLIC_KEY',
      'GOVMESH_AUDIT_SIGNING_KEY',
      'GOVMESH_AUDIT_PUBLIC_KEY',
      'GOVMESH_CONNECTION_KEYS',
      'GOVMESH_BOOTSTRAP_OPERATOR_KEY',
    ]);
    expect(env.GOVMESH_CONNECTION_KEYS).toMatch(/^k-[0-9a-f]{8}:[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(env.GOVMESH_CONNECTION_KEYS.split(':')[1], 'base64')).toHaveLength(32);
    expect(publicKeyOf(env.GOVMESH_GRANT_SIGNING_KEY)).toBe(env.GOVMESH_GRANT_PUBLIC_KEY);
    expect(publicKeyOf(env.GOVMESH_INGRESS_SIGNING_KEY)).toBe(env.GOVMESH_INGRESS_PUBLIC_KEY);
    expect(publicKeyOf(env.GOVMESH_VERIFIER_SIGNING_KEY)).toBe(env.GOVMESH_VERIFIER_PUBLIC_KEY);
    expect(publicKeyOf(env.GOVMESH_GATEWAY_SIGNING_KEY)).toBe(env.GOVMESH_GATEWAY_PUBLIC_KEY);
    expect(publicKeyOf(env.GOVMESH_AUDIT_SIGNING_KEY)).toBe(env.GOVMESH_AUDIT_PUBLIC_KEY);
    expect(new Set([env.GOVMESH_GRANT_PUBLIC_KEY, env.GOVMESH_INGRESS_PUBLIC_KEY, env.GOVMESH_VERIFIER_PUBLIC_KEY, env.GOVMESH_GATEWAY_PUBLIC_KEY, env.GOVMESH_AUDIT_PUBLIC_KEY]).size).toBe(5);
    expect(env.GOVMESH_BOOTSTRAP_OPERATOR_KEY).toMatch(/^gm_[a-z0-9]{12}_[A-Za-z0-9_-]{43}$/);
    expect(parseApiKey(env.GOVMESH_BOOTSTRAP_OPERATOR_KEY)).not.toBeNull();
  });

  it('--service --out writes the env file with mode 0600 and prints only the public keys', async () => {
    const r = await run(['keygen', '--service', '--out', 'govmesh.env']);
    expect(r.code).toBe(0);
    expect(statSync(join(dir, 'govmesh.env')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'govmesh.env'), 'utf8')).toContain('GOVMESH_GRANT_SIGNING_KEY=');
    expect(r.stdout).not.toContain('SIGNING_KEY');
    expect(r.stdout).not.toContain('CONNECTION_KEYS');
    expect(r.stdout).toContain('Grant public key:');
    expect(r.stdout).toContain('Verifier public key:');
    expect(r.stdout).toContain('Gateway public key:');
    expect(readFileSync(join(dir, 'govmesh.env'), 'utf8')).toContain('GOVMESH_VERIFIER_SIGNING_KEY=');
  });
});

describe('govmesh sign', () => {
  it('fills intentId, submittedAt, agentId and agentVersion, and prints the signature, header and envelope', async () => {
    file('agent.pem', agentKey.privateKeyPem);
    file('intent.json', intentJson);
    const r = await run(['sign', '--key', 'agent.pem', '--agent', 'payments-bot', '--version', '2.1.0', '--file', 'intent.json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.intent).toEqual({
      intentId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      agentId: 'payments-bot',
      agentVersion: '2.1.0',
      task: 'Refund 1 EUR to acc-003',
      input: { to: 'acc-003', amount: 1 },
      submittedAt: '2026-11-21T09:30:00.000Z',
    });
    expect(verifyIntentSignature(out.intent, out.signature, agentKey.publicKey)).toBe(true);
    expect(out.headers).toEqual({ 'govmesh-signature': out.signature });
    expect(out.cloudevent).toEqual({
      specversion: '1.0',
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      source: 'agent/payments-bot',
      type: 'govmesh.intent.submitted.v1',
      time: '2026-11-21T09:30:00.000Z',
      subject: out.intent.intentId,
      correlationid: out.intent.intentId,
      datacontenttype: 'application/json',
      govmeshsig: out.signature,
      govmeshsigner: 'agent',
      data: out.intent,
    });
  });

  it('reads the intent from standard input, keeps what it has, and takes a base64url seed as the key', async () => {
    file('agent.key', `${agentKey.privateKeySeed}\n`);
    const given = { intentId: 'intent-1', agentId: 'payments-bot', agentVersion: '2.1.0', task: 'x', submittedAt: '2026-11-21T09:29:00Z' };
    const r = await run(['sign', '--key', 'agent.key', '--agent', 'payments-bot'], { stdin: JSON.stringify(given) });
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.intent).toEqual(given);
    expect(verifyIntentSignature(given, out.signature, agentKey.publicKey)).toBe(true);
  });

  it.each([
    ['a key file that does not exist', ['--key', 'missing.pem', '--file', 'intent.json'], undefined, /cannot read the private key missing.pem: no such file/],
    ['a key file that is not a key', ['--key', 'intent.json', '--file', 'intent.json'], undefined, /intent.json: the private key cannot be read/],
    ['no agent', ['--key', 'agent.pem', '--file', 'intent.json'], undefined, /agentId is missing: put it in the intent or give --agent <id>/],
    ['an intent that is not JSON', ['--key', 'agent.pem', '--agent', 'a', '--version', '1'], '{task:', /the intent in standard input is not JSON/],
    ['an intent that is an array', ['--key', 'agent.pem', '--agent', 'a', '--version', '1'], '[]', /must be a JSON object/],
    ['an unknown field', ['--key', 'agent.pem', '--agent', 'a', '--version', '1'], '{"task":"x","amount":1}', /fields an intent cannot have: amount/],
    ['an envelope', ['--key', 'agent.pem'], '{"specversion":"1.0","data":{}}', /holds a CloudEvents envelope/],
    ['a flag that contradicts the intent', ['--key', 'agent.pem', '--agent', 'b', '--version', '1'], '{"task":"x","agentId":"a"}', /agentId is "a" but --agent says "b"/],
    ['a bad timestamp', ['--key', 'agent.pem', '--agent', 'a', '--version', '1'], '{"task":"x","submittedAt":"now"}', /submittedAt must be an RFC 3339 date-time/],
    ['no task', ['--key', 'agent.pem', '--agent', 'a', '--version', '1'], '{}', /task must be a string/],
  ])('fails with exit 1 and a message for %s', async (_what, args, stdin, message) => {
    file('agent.pem', agentKey.privateKeyPem);
    file('intent.json', intentJson);
    const r = await run(['sign', ...args], { stdin });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('asks for --file when standard input is a terminal', async () => {
    file('agent.pem', agentKey.privateKeyPem);
    const r = await run(['sign', '--key', 'agent.pem', '--agent', 'a', '--version', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/give --file <file> or pipe it in/);
  });
});

describe('govmesh verify', () => {
  async function signed(): Promise<{ intent: Record<string, unknown>; signature: string; cloudevent: Record<string, unknown> }> {
    file('agent.pem', agentKey.privateKeyPem);
    file('intent.json', intentJson);
    return JSON.parse((await run(['sign', '--key', 'agent.pem', '--agent', 'payments-bot', '--version', '2.1.0', '--file', 'intent.json'])).stdout);
  }

  it('accepts the envelope, or the whole output of sign, signed by that key (exit 0)', async () => {
    const out = await signed();
    file('envelope.json', JSON.stringify(out.cloudevent));
    file('signed.json', JSON.stringify(out));
    for (const f of ['envelope.json', 'signed.json']) {
      const r = await run(['verify', '--public-key', agentKey.publicKey, '--file', f]);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`valid: intent ${out.intent['intentId']} of agent payments-bot version 2.1.0, signed by agent key ${keyIdOf(agentKey.publicKey)}\n`);
    }
    expect((await run(['verify', '--public-key', agentKey.publicKey], { stdin: JSON.stringify(out.cloudevent) })).code).toBe(0);
  });

  it('reads a public key that starts with a dash as the value of --public-key', async () => {
    let pair = generateKeyPair();
    while (!pair.publicKey.startsWith('-')) pair = generateKeyPair();
    file('dash.pem', pair.privateKeyPem);
    file('intent.json', intentJson);
    const out = (await run(['sign', '--key', 'dash.pem', '--agent', 'a', '--version', '1', '--file', 'intent.json'])).stdout;
    const r = await run(['verify', '--public-key', pair.publicKey], { stdin: out });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect((await run(['verify', `--public-key=${pair.publicKey}`], { stdin: out })).code).toBe(0);
  });

  it('refuses a changed intent and another key (exit 1)', async () => {
    const out = await signed();
    const changed = { ...out.cloudevent, data: { ...(out.cloudevent['data'] as object), input: { to: 'acc-003', amount: 82000 } } };
    const tampered = await run(['verify', '--public-key', agentKey.publicKey], { stdin: JSON.stringify(changed) });
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(/^invalid: the govmeshsig signature does not verify/);
    const other = await run(['verify', '--public-key', generateKeyPair().publicKey], { stdin: JSON.stringify(out.cloudevent) });
    expect(other.code).toBe(1);
  });

  it.each([
    ['no signature', { govmeshsig: undefined }, /carries no govmeshsig attribute/],
    ['no signer', { govmeshsigner: undefined }, /govmeshsigner is null; it must be "agent" or "ingress"/],
    ['another event type', { type: 'govmesh.run.completed.v1' }, /only govmesh.intent.submitted.v1 is signed/],
  ])('refuses an envelope with %s (exit 1)', async (_what, change, message) => {
    const out = await signed();
    const r = await run(['verify', '--public-key', agentKey.publicKey], { stdin: JSON.stringify({ ...out.cloudevent, ...change }) });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(message);
  });

  it('with --max-age, refuses a validly signed intent that is too old', async () => {
    const out = await signed();
    const later = new Date(NOW.getTime() + 301_000);
    const fresh = await run(['verify', '--public-key', agentKey.publicKey, '--max-age', '300'], { stdin: JSON.stringify(out.cloudevent) });
    expect(fresh.code).toBe(0);
    const stale = await run(['verify', '--public-key', agentKey.publicKey, '--max-age', '300'], { stdin: JSON.stringify(out.cloudevent), now: later });
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(/the signature verifies, but the intent was submitted at .* 301 seconds ago; .* \(intent_stale\)/);
  });

  it('fails with a message for input that is neither an envelope nor sign output', async () => {
    const r = await run(['verify', '--public-key', agentKey.publicKey], { stdin: '{"hello":1}' });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/neither a CloudEvents envelope/);
  });
});

describe('the govmesh bin', () => {
  it('is linked into node_modules/.bin by npm (devDependency govmesh-cli: file:tools/cli)', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    expect(pkg.devDependencies['govmesh-cli']).toBe('file:tools/cli');
    expect(JSON.parse(readFileSync(join(__dirname, 'package.json'), 'utf8')).bin).toEqual({ govmesh: 'govmesh.js' });
    const bin = join(ROOT, 'node_modules', '.bin', 'govmesh');
    expect(existsSync(bin)).toBe(true);
    expect(realpathSync(bin)).toBe(realpathSync(join(__dirname, 'govmesh.js')));
  });

  it('runs as a program from any directory: keygen, sign and verify end to end', () => {
    const bin = join(ROOT, 'node_modules', '.bin', 'govmesh');
    const exec = (args: string[], input?: string) => spawnSync(bin, args, { cwd: dir, input, encoding: 'utf8', timeout: 60_000 });
    const help = exec(['--help']);
    expect(help.stderr).toBe('');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('govmesh sign');
    const keygen = exec(['keygen', '--out', 'agent.pem', '--json']);
    expect(keygen.status).toBe(0);
    const { publicKey } = JSON.parse(keygen.stdout);
    const sign = exec(['sign', '--key', 'agent.pem', '--agent', 'payments-bot', '--version', '2.1.0'], intentJson);
    expect(sign.status).toBe(0);
    const verify = exec(['verify', '--public-key', publicKey], sign.stdout);
    expect(verify.stdout).toMatch(/^valid: /);
    expect(verify.status).toBe(0);
    const usage = exec(['nope']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toBe('govmesh: unknown command "nope"\nRun `govmesh --help` for usage.\n');
  });
});

describe('govmesh evidence verify', () => {
  /** A bundle of two records of one run under one signed checkpoint, as telemetry exports it. */
  function bundle(key: ReturnType<typeof generateKeyPair>): string {
    let prev = GENESIS_HASH;
    const records = [1, 2, 3].map((seq) => {
      const payload = { type: 'govmesh.intent.decided.v1', data: { runId: seq === 2 ? 'other' : 'run-1', effect: 'allow', policyVersion: 'v1' } };
      const chained = appendToChain(prev, { seq, eventId: `e-${seq}`, type: payload.type, runId: payload.data.runId, topic: 'govmesh.decisions', occurredAt: NOW.toISOString(), payloadDigest: payloadDigest(payload) });
      prev = chained.hash;
      return { ...chained, payload };
    });
    const hashes = records.map((r) => r.hash);
    const cp = signCheckpoint({ v: 1, ledger: 'govmesh-audit', seq: 3, fromSeq: 1, head: prev, root: merkleRoot(hashes), prev: NO_CHECKPOINT, time: NOW.toISOString() }, key.privateKeySeed, key.publicKey);
    const mine = records.filter((r) => r.runId === 'run-1');
    return sealEvidenceBundle(
      {
        format: EVIDENCE_FORMAT,
        runId: 'run-1',
        exportedAt: NOW.toISOString(),
        key: { keyId: keyIdOf(key.publicKey), publicKey: key.publicKey },
        summary: summarizeEvidence(mine),
        records: mine.map((r) => ({ ...r, proof: { checkpoint: 3, index: r.seq - 1, path: inclusionProof(hashes, r.seq - 1) } })),
        checkpoints: [cp],
      },
      key.privateKeySeed,
    );
  }

  it('says valid, with what the bundle holds, for an untouched bundle and the right key', async () => {
    const key = generateKeyPair();
    const r = await run(['evidence', 'verify', file('bundle.json', bundle(key)), '--key', key.publicKey]);
    expect(r).toMatchObject({ code: 0, stdout: expect.stringMatching(/^valid: run run-1, 2 records under 1 signed checkpoint\(s\)/) });
  });

  it('says invalid, with the reasons, after a change or with another key', async () => {
    const key = generateKeyPair();
    const text = bundle(key);
    const changed = await run(['evidence', 'verify', file('b.json', text.replace('"effect":"allow"', '"effect":"deny"')), '--key', key.publicKey]);
    expect(changed).toMatchObject({ code: 1, stdout: expect.stringContaining('the payload does not match its digest') });
    const other = await run(['evidence', 'verify', file('c.json', text), '--key', generateKeyPair().publicKey]);
    expect(other).toMatchObject({ code: 1, stdout: expect.stringContaining('does not verify with the key given') });
  });

  it('refuses to guess: no file, no key, a key that is not a key', async () => {
    expect((await run(['evidence', 'verify', '--key', generateKeyPair().publicKey])).code).toBe(2);
    expect((await run(['evidence', 'verify', file('d.json', '{}')])).code).toBe(2);
    expect((await run(['evidence', 'check', 'd.json'])).code).toBe(2);
    expect(await run(['evidence', 'verify', file('e.json', '{}'), '--key', 'nope'])).toMatchObject({ code: 1, stderr: expect.stringContaining('not an Ed25519 public key') });
    expect((await run(['audit', 'verify'], {})).code).toBe(2);
  });
});
