import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  DEFAULT_INTENT_MAX_AGE_SECONDS,
  DEFAULT_INTENT_MAX_SKEW_SECONDS,
  INTENT_SIGNATURE_ATTRIBUTE,
  INTENT_SIGNATURE_HEADER,
  INTENT_SIGNER_ATTRIBUTE,
  canonicalIntent,
  checkIntentFreshness,
  generateKeyPair,
  verifyIntentSignature,
} from './index';

/**
 * docs/signing.md tells agent developers in other languages how to sign. This keeps it honest:
 * the canonicalization rule it gives for Python is checked against govmesh's RFC 8785 code, and
 * its Python example is run (when python3 with `cryptography` is installed) and its signature
 * verified with `verifyIntentSignature`.
 */

const DOC_PATH = resolve(__dirname, '../../../../docs/signing.md');
const doc = readFileSync(DOC_PATH, 'utf8');
const MARKER = '<!-- tested: python-signing-example';

/** The ```python block right after the marker comment. */
function pythonExample(): string {
  const at = doc.indexOf(MARKER);
  if (at < 0) throw new Error(`docs/signing.md lost its marker ${MARKER}`);
  const match = /```python\n([\s\S]*?)\n```/.exec(doc.slice(at));
  if (!match) throw new Error('no ```python block after the marker in docs/signing.md');
  return match[1];
}

/**
 * The rule docs/signing.md gives for Python, implemented in JS:
 * json.dumps(obj, sort_keys=True, separators=(',', ':'), ensure_ascii=False).
 */
function pythonDumps(value: unknown): string {
  if (value === null) return 'null';
  if (value === true) return 'true';
  if (value === false) return 'false';
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error('the documented rule covers integers only');
    return String(value);
  }
  if (typeof value === 'string') {
    const escapes: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };
    // Python's ensure_ascii=False escapes exactly these, and the other control characters as \u00xx.
    const escape = (c: string) => escapes[c] ?? (c.charCodeAt(0) < 0x20 ? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}` : c);
    return `"${Array.from(value, escape).join('')}"`;
  }
  if (Array.isArray(value)) return `[${value.map(pythonDumps).join(',')}]`;
  if (typeof value === 'object') {
    // sort_keys: by code point.
    const keys = Object.keys(value as object).sort((a, b) => {
      const ca = [...a].map((c) => c.codePointAt(0)!);
      const cb = [...b].map((c) => c.codePointAt(0)!);
      for (let i = 0; i < Math.min(ca.length, cb.length); i++) if (ca[i] !== cb[i]) return ca[i] - cb[i];
      return ca.length - cb.length;
    });
    return `{${keys.map((k) => `${pythonDumps(k)}:${pythonDumps((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  throw new Error(`not JSON: ${typeof value}`);
}

const tricky = {
  intentId: 'intent-ü-1',
  agentId: 'payments-bot',
  agentVersion: '2.1.0',
  task: 'Refund 1 EUR to acc-003 — "quoted", back\\slash, tab\t, newline\n, bell\u0007, del\u007f, sep\u2028, emoji 😀',
  input: {
    to: 'acc-003',
    amount: 1,
    big: 9007199254740991,
    negative: -42,
    zero: 0,
    ok: true,
    no: false,
    nothing: null,
    list: [3, 1, 2, { b: 1, a: [] }],
    nested: { z: { y: { x: 'deep' } }, A: 'upper before lower', _: 'underscore', '10': 'digits', é: 'accent', ﬀ: 'ligature' },
    empty: {},
  },
  submittedAt: '2026-11-21T09:30:00.412Z',
};

describe('docs/signing.md', () => {
  it('names the extension attributes, the header and the defaults the code uses', () => {
    expect(doc).toContain(`| \`${INTENT_SIGNATURE_ATTRIBUTE}\` |`);
    expect(doc).toContain(`| \`${INTENT_SIGNER_ATTRIBUTE}\` |`);
    expect(doc).toContain(`\`${INTENT_SIGNATURE_HEADER}\``);
    expect(doc).toContain(`(default **${DEFAULT_INTENT_MAX_AGE_SECONDS}**)`);
    expect(doc).toContain(`at most **${DEFAULT_INTENT_MAX_SKEW_SECONDS} seconds** in the future`);
    for (const code of ['intent_stale', 'intent_from_future', 'intent_timestamp_invalid']) expect(doc).toContain(`| \`${code}\` |`);
    for (const code of ['grant_malformed', 'grant_key_unknown', 'grant_signature_invalid', 'grant_wrong_run', 'grant_digest_mismatch', 'grant_expired', 'grant_not_yet_valid']) {
      expect(doc).toContain(`| \`${code}\` |`);
    }
  });

  it('gives a Python canonicalization rule that is RFC 8785 for intents without floats', () => {
    expect(pythonDumps(tricky)).toBe(canonicalIntent(tricky));
    const simple = { intentId: 'i', agentId: 'a', agentVersion: '1', task: 't', submittedAt: '2026-11-21T09:30:00Z' };
    expect(pythonDumps(simple)).toBe(canonicalIntent(simple));
    expect(pythonExample()).toContain('json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)');
  });

  it('is right that floats need a real JCS library', () => {
    // What Python's json.dumps writes for these floats differs from RFC 8785.
    expect(canonicalIntent({ ...tricky, input: { a: 1.0, b: 100.0, c: 1e-7 } })).toContain('{"a":1,"b":100,"c":1e-7}');
    expect(doc).toContain('**Floats need a real JCS library**');
  });

  it('formats submittedAt the way the freshness check reads it, for both Python spellings', () => {
    const now = new Date('2026-11-21T09:30:01.000Z');
    expect(checkIntentFreshness('2026-11-21T09:30:00.412Z', now, 300)).toBeNull();
    expect(checkIntentFreshness('2026-11-21T09:30:00.412123+00:00', now, 300)).toBeNull();
  });
});

const python = spawnSync('python3', ['-c', 'import cryptography'], { encoding: 'utf8' });
const hasPython = python.status === 0;
const withPython = hasPython ? describe : describe.skip;
if (!hasPython) {
  // Visible in the test output: the Python example was not run on this machine.
  process.stderr.write('signing-doc.spec: python3 with cryptography is not installed; the Python example of docs/signing.md was not run\n');
}

withPython('the Python example of docs/signing.md (run with python3 and cryptography)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'govmesh-signing-doc-'));
    writeFileSync(join(dir, 'govmesh_signing_example.py'), pythonExample());
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function py(args: string[], input?: string): string {
    const r = spawnSync('python3', args, { cwd: dir, input, encoding: 'utf8', timeout: 60_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    if (r.status !== 0) throw new Error(`python3 failed (${r.status}): ${r.stderr}`);
    return r.stdout;
  }

  it('prints an envelope whose govmeshsig verifies with its public key, and fails when the intent is changed', () => {
    const { publicKey, event } = JSON.parse(py(['govmesh_signing_example.py']));
    expect(publicKey).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(event).toMatchObject({
      specversion: '1.0',
      type: 'govmesh.intent.submitted.v1',
      source: 'agent/payments-bot',
      datacontenttype: 'application/json',
      [INTENT_SIGNER_ATTRIBUTE]: 'agent',
      data: { agentId: 'payments-bot', agentVersion: '2.1.0', task: 'Refund 1 EUR to acc-003', input: { to: 'acc-003', amount: 1 } },
    });
    expect(event.subject).toBe(event.data.intentId);
    expect(checkIntentFreshness(event.data.submittedAt, new Date(), 300)).toBeNull();
    expect(verifyIntentSignature(event.data, event[INTENT_SIGNATURE_ATTRIBUTE], publicKey)).toBe(true);
    expect(verifyIntentSignature({ ...event.data, input: { ...event.data.input, amount: 82000 } }, event[INTENT_SIGNATURE_ATTRIBUTE], publicKey)).toBe(false);
    expect(verifyIntentSignature(event.data, event[INTENT_SIGNATURE_ATTRIBUTE], generateKeyPair().publicKey)).toBe(false);
  });

  it('canonicalizes a tricky intent byte for byte as govmesh does, and signs it with a key made by govmesh (PEM and seed)', () => {
    const pair = generateKeyPair();
    const script = [
      'import base64, json, sys',
      'from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey',
      'from govmesh_signing_example import canonical_json, load_private_key, public_key_of, sign_intent',
      'given = json.loads(sys.stdin.read())',
      'intent = given["intent"]',
      'pem_key = load_private_key(given["pem"].encode("ascii"))',
      'seed_key = Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(given["seed"] + "="))',
      'print(json.dumps({"canonical": canonical_json(intent).decode("utf-8"), "public": public_key_of(pem_key), "seedPublic": public_key_of(seed_key),',
      '                  "pemSig": sign_intent(pem_key, intent), "seedSig": sign_intent(seed_key, intent)}))',
    ].join('\n');
    const out = JSON.parse(py(['-c', script], JSON.stringify({ intent: tricky, pem: pair.privateKeyPem, seed: pair.privateKeySeed })));
    expect(out.canonical).toBe(canonicalIntent(tricky));
    expect(out.public).toBe(pair.publicKey);
    expect(out.seedPublic).toBe(pair.publicKey);
    expect(verifyIntentSignature(tricky, out.pemSig, pair.publicKey)).toBe(true);
    expect(verifyIntentSignature(tricky, out.seedSig, pair.publicKey)).toBe(true);
  });
});
