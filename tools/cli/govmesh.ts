/**
 * The govmesh command line. `main(argv, io)` is the whole program: govmesh.js (the `govmesh`
 * bin) calls it with the process's streams, tests call it with their own.
 *
 *   govmesh keygen [--out <file.pem>] [--json]       an agent version's Ed25519 key
 *   govmesh keygen --service [--out <file.env>]       the keys of a distributed deployment
 *   govmesh sign --key <file> [--agent <id>] [--version <v>] [--file <intent.json>]
 *   govmesh verify --public-key <key> [--file <envelope.json>] [--max-age <seconds>]
 *   govmesh audit verify [--database-url <url> | --data-dir <dir>] [--key <public key>]
 *   govmesh evidence verify <bundle.json> --key <public key>
 *
 * Exit codes: 0 done; 1 the command could not do it (a file, a key, an invalid signature);
 * 2 usage (unknown command or flag, missing argument).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  INTENT_SIGNATURE_ATTRIBUTE,
  INTENT_SIGNATURE_HEADER,
  INTENT_SIGNER_ATTRIBUTE,
  INTENT_SIGNERS,
  KeyFormatError,
  checkIntentFreshness,
  generateApiKey,
  generateKeyPair,
  keyIdOf,
  loadPrivateKey,
  loadPublicKey,
  parseRfc3339,
  signIntent,
  verifyIntentSignature,
  type SignableIntent,
} from '@govmesh/signing';
import { sqlLedgerSource, verifyEvidenceBundle, verifyLedger } from '@govmesh/audit-chain';

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** The whole standard input; only called when no --file is given. */
  readStdin(): Promise<string>;
  stdinIsTty: boolean;
  cwd: string;
  now(): Date;
}

export function processIo(): CliIo {
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
      return Buffer.concat(chunks).toString('utf8');
    },
    stdinIsTty: Boolean(process.stdin.isTTY),
    cwd: process.cwd(),
    now: () => new Date(),
  };
}

export const INTENT_EVENT_TYPE = 'govmesh.intent.submitted.v1';

/** A mistake in how the command was called: exit 2 with the message and a pointer to help. */
class UsageError extends Error {
  constructor(
    message: string,
    readonly command?: string,
  ) {
    super(message);
  }
}

/** The command understood what to do and could not do it: exit 1 with the message. */
class Failure extends Error {}

const USAGE = `govmesh: keys and signed intents for govmesh (see docs/signing.md)

Usage:
  govmesh keygen [--out <file.pem>] [--agent <id>] [--version <v>] [--json]
      A new Ed25519 key for an agent version. With --out, writes the private key
      (PKCS#8 PEM, mode 0600, never over an existing file); otherwise prints it.
      Prints the public key and how to register it.
  govmesh keygen --service [--out <file.env>] [--json]
      The keys of a distributed deployment as env lines: grant signing and public
      key, ingress signing and public key, and a bootstrap operator API key.
  govmesh sign --key <private key file> [--agent <id>] [--version <v>] [--file <intent.json>]
      Signs an intent (from --file or standard input). Fills in intentId (a UUID),
      submittedAt (now), agentId and agentVersion (from the flags) when absent.
      Prints the intent, its signature, the HTTP header and the CloudEvents envelope.
  govmesh verify --public-key <key> [--file <envelope.json>] [--max-age <seconds>]
      Verifies a signed envelope (or the output of govmesh sign) from --file or
      standard input. With --max-age, also checks that submittedAt is fresh.
  govmesh audit verify [--database-url <url> | --data-dir <dir>] [--key <public key>] [--json]
      Verifies the whole audit ledger in its database (streamed): every record's
      digest and hash link, every signed checkpoint, the chain head. Names the first
      modified, deleted, inserted, reordered or truncated record. Exit 1 when broken.
  govmesh evidence verify <bundle.json> --key <public key> [--json]
      Checks an evidence bundle offline: its signature, its checkpoints and every
      record's inclusion proof. Exit 1 when anything does not verify.
  govmesh help [<command>]      this text, or one command's

Exit codes: 0 done, 1 failed (file, key, invalid signature), 2 usage error.
`;

const COMMAND_USAGE: Record<string, string> = {
  audit: `Usage:
  govmesh audit verify [--database-url <url> | --data-dir <dir>] [--key <public key>] [--json]

  --database-url <url>  the Postgres database telemetry writes to (default: DATABASE_URL)
  --data-dir <dir>      or an embedded installation's data directory (stop it first)
  --key <key>           the audit public key, base64url or a file holding it
                        (default: GOVMESH_AUDIT_PUBLIC_KEY)
  --json                print the verdict as JSON
`,
  evidence: `Usage:
  govmesh evidence verify <bundle.json> --key <public key> [--json]

  <bundle.json>   the body of GET /v1/runs/{id}/evidence, saved byte for byte
  --key <key>     the audit public key (GOVMESH_AUDIT_PUBLIC_KEY, or GET /v1/audit/key),
                  base64url or a file holding it
  --json          print the verdict as JSON
`,
  keygen: `Usage:
  govmesh keygen [--out <file.pem>] [--agent <id>] [--version <v>] [--json]
  govmesh keygen --service [--out <file.env>] [--json]

  --out <file>     write the private key (or the env lines) to this file, mode 0600;
                   refuses to overwrite an existing file
  --agent <id>     the agent id to show in the registration hint
  --version <v>    the agent version to show in the registration hint (default 1.0.0)
  --json           print JSON instead of text
  --service        keys for the services of a distributed deployment instead
`,
  sign: `Usage:
  govmesh sign --key <private key file> [--agent <id>] [--version <v>] [--file <intent.json>]

  --key <file>     the agent version's private key: PKCS#8 PEM or base64url seed
  --agent <id>     agentId, when the intent has none
  --version <v>    agentVersion, when the intent has none
  --file <file>    the intent JSON; standard input when absent

The intent is the data of govmesh.intent.submitted.v1:
  {"intentId"?, "agentId"?, "agentVersion"?, "task", "input"?, "submittedAt"?}
`,
  verify: `Usage:
  govmesh verify --public-key <key> [--file <envelope.json>] [--max-age <seconds>]

  --public-key <key>   base64url of the raw 32-byte Ed25519 public key (or an SPKI PEM)
  --file <file>        a CloudEvents envelope with govmeshsig, or the output of
                       govmesh sign; standard input when absent
  --max-age <seconds>  also refuse an intent whose submittedAt is older than this
                       (or more than 30 seconds in the future)
`,
};

type OptionSpec = Record<string, { type: 'string' | 'boolean' }>;

/**
 * `--name value` becomes `--name=value` for options that take a value, so values that start
 * with a dash (a base64url key can) are read as values, as getopt would.
 */
function joinValues(args: string[], options: OptionSpec): string[] {
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const name = arg.startsWith('--') && !arg.includes('=') ? arg.slice(2) : undefined;
    if (name !== undefined && options[name]?.type === 'string' && i + 1 < args.length) {
      joined.push(`${arg}=${args[++i]}`);
    } else {
      joined.push(arg);
    }
  }
  return joined;
}

function parse(command: string, args: string[], options: OptionSpec, positionals?: string[]): Record<string, string | boolean | undefined> {
  try {
    const parsed = parseArgs({ args: joinValues(args, options), options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: positionals !== undefined });
    positionals?.push(...parsed.positionals);
    return parsed.values as Record<string, string | boolean | undefined>;
  } catch (error) {
    const code = (error as { code?: string }).code;
    const message = (error as Error).message;
    if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      const flag = /'([^']+)'/.exec(message)?.[1] ?? message;
      throw new UsageError(`unknown option ${flag} for ${command}`, command);
    }
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      const value = /'([^']+)'/.exec(message)?.[1] ?? message;
      throw new UsageError(`unexpected argument ${value} for ${command}`, command);
    }
    if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
      throw new UsageError(message.split('. ')[0].replace(/\.$/, '').replace(/^Option/, 'option'), command);
    }
    throw error;
  }
}

function str(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function required(values: Record<string, string | boolean | undefined>, name: string, command: string): string {
  const value = str(values[name]);
  if (value === undefined || value.trim() === '') throw new UsageError(`${command} needs --${name}`, command);
  return value;
}

function readTextFile(io: CliIo, file: string, what: string): string {
  try {
    return readFileSync(resolve(io.cwd, file), 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message;
    throw new Failure(`cannot read ${what} ${file}: ${why}`);
  }
}

/** Writes a secret file: mode 0600, and never over an existing file. */
function writeSecretFile(io: CliIo, file: string, content: string): string {
  const path = resolve(io.cwd, file);
  try {
    writeFileSync(path, content, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new Failure(`${file} exists already; refusing to overwrite it (a key that is lost or replaced cannot be recovered)`);
    if (code === 'ENOENT') throw new Failure(`cannot write ${file}: its directory does not exist`);
    throw new Failure(`cannot write ${file}: ${(error as Error).message}`);
  }
  return path;
}

async function readInput(io: CliIo, file: string | undefined, what: string, command: string): Promise<{ text: string; from: string }> {
  if (file !== undefined) return { text: readTextFile(io, file, what), from: file };
  if (io.stdinIsTty) throw new UsageError(`${command} reads ${what} from --file or standard input; give --file <file> or pipe it in`, command);
  return { text: await io.readStdin(), from: 'standard input' };
}

function parseJsonObject(text: string, what: string, from: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new Failure(`${what} in ${from} is not JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Failure(`${what} in ${from} must be a JSON object`);
  return value as Record<string, unknown>;
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

// ------------------------------------------------------------------------------------------
// keygen

const KEYGEN_OPTIONS: OptionSpec = { out: { type: 'string' }, service: { type: 'boolean' }, json: { type: 'boolean' }, agent: { type: 'string' }, version: { type: 'string' } };

function keygen(io: CliIo, args: string[]): number {
  const values = parse('keygen', args, KEYGEN_OPTIONS);
  if (values['help']) return help(io, 'keygen');
  const out = str(values['out']);
  if (out !== undefined && out.trim() === '') throw new UsageError('--out needs a file name', 'keygen');
  if (values['service']) {
    if (values['agent'] !== undefined || values['version'] !== undefined) throw new UsageError('--agent and --version are for an agent key, not with --service', 'keygen');
    return keygenService(io, out, Boolean(values['json']));
  }
  const agent = str(values['agent']) ?? '<agent-id>';
  const version = str(values['version']) ?? '1.0.0';
  const pair = generateKeyPair();
  const registration = { version, publicKey: pair.publicKey };
  if (values['json']) {
    let written: string | undefined;
    if (out !== undefined) written = writeSecretFile(io, out, pair.privateKeyPem);
    io.stdout(json({ publicKey: pair.publicKey, keyId: keyIdOf(pair.publicKey), ...(written ? { privateKeyFile: written } : { privateKeyPem: pair.privateKeyPem, privateKeySeed: pair.privateKeySeed }), registration }));
    return 0;
  }
  const lines: string[] = [];
  if (out !== undefined) {
    writeSecretFile(io, out, pair.privateKeyPem);
    lines.push(`Wrote the private key to ${out} (mode 0600). Keep it secret; never commit it.`);
  } else {
    lines.push('Private key (PKCS#8 PEM; keep it secret, or use --out <file> to write it to a file):', pair.privateKeyPem.trimEnd(), '');
  }
  lines.push(
    `Public key: ${pair.publicKey}`,
    `Key id:     ${keyIdOf(pair.publicKey)}`,
    '',
    'Register the public key on the agent version (with an operator key):',
    `  ${JSON.stringify(registration)}`,
    '',
    `  curl -X POST localhost:8081/v1/agents/${agent}/versions \\`,
    '    -H "authorization: Bearer $GOVMESH_OPERATOR_KEY" -H "content-type: application/json" \\',
    `    -d '${JSON.stringify(registration)}'`,
    '',
    `Sign intents with it: govmesh sign --key ${out ?? '<file.pem>'} --agent ${agent} --version ${version} --file intent.json`,
  );
  io.stdout(`${lines.join('\n')}\n`);
  return 0;
}

function keygenService(io: CliIo, out: string | undefined, asJson: boolean): number {
  const grant = generateKeyPair();
  const ingress = generateKeyPair();
  const verifier = generateKeyPair();
  const gateway = generateKeyPair();
  const audit = generateKeyPair();
  const operator = generateApiKey();
  const env = {
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
    GOVMESH_CONNECTION_KEYS: `k-${randomBytes(4).toString('hex')}:${randomBytes(32).toString('base64')}`,
    GOVMESH_BOOTSTRAP_OPERATOR_KEY: operator.key,
  };
  const text = asJson
    ? json(env)
    : [
        `# govmesh service keys, generated ${io.now().toISOString()}. Secret: keep this file mode 0600, never commit it.`,
        '# Policy signs action grants with the signing key; the tool gateway gets only the public key.',
        `GOVMESH_GRANT_SIGNING_KEY=${env.GOVMESH_GRANT_SIGNING_KEY}`,
        `GOVMESH_GRANT_PUBLIC_KEY=${env.GOVMESH_GRANT_PUBLIC_KEY}`,
        '# The HTTP ingress attests the intents of authenticated agents; policy gets only the public key.',
        `GOVMESH_INGRESS_SIGNING_KEY=${env.GOVMESH_INGRESS_SIGNING_KEY}`,
        `GOVMESH_INGRESS_PUBLIC_KEY=${env.GOVMESH_INGRESS_PUBLIC_KEY}`,
        '# The verifier signs its read requests to the tool gateway; the tool gateway gets only the public key.',
        `GOVMESH_VERIFIER_SIGNING_KEY=${env.GOVMESH_VERIFIER_SIGNING_KEY}`,
        `GOVMESH_VERIFIER_PUBLIC_KEY=${env.GOVMESH_VERIFIER_PUBLIC_KEY}`,
        "# The tool gateway signs its answers to the verifier's reads; the verifier gets only the public key.",
        `GOVMESH_GATEWAY_SIGNING_KEY=${env.GOVMESH_GATEWAY_SIGNING_KEY}`,
        `GOVMESH_GATEWAY_PUBLIC_KEY=${env.GOVMESH_GATEWAY_PUBLIC_KEY}`,
        '# Telemetry signs the audit ledger\'s checkpoints and evidence bundles; give auditors the public key.',
        `GOVMESH_AUDIT_SIGNING_KEY=${env.GOVMESH_AUDIT_SIGNING_KEY}`,
        `GOVMESH_AUDIT_PUBLIC_KEY=${env.GOVMESH_AUDIT_PUBLIC_KEY}`,
        '# The tool gateway encrypts connection secrets under this master key (AES-256); to rotate, put a new <id>:<key> first and keep the old one after it.',
        `GOVMESH_CONNECTION_KEYS=${env.GOVMESH_CONNECTION_KEYS}`,
        '# The first operator: send it as `authorization: Bearer <key>` to register agents and their keys.',
        `GOVMESH_BOOTSTRAP_OPERATOR_KEY=${env.GOVMESH_BOOTSTRAP_OPERATOR_KEY}`,
        '',
      ].join('\n');
  if (out !== undefined) {
    writeSecretFile(io, out, text);
    io.stdout(`Wrote the service keys to ${out} (mode 0600).\nGrant public key:    ${grant.publicKey}\nIngress public key:  ${ingress.publicKey}\nVerifier public key: ${verifier.publicKey}\nGateway public key:  ${gateway.publicKey}\nAudit public key:    ${audit.publicKey}\n`);
  } else {
    io.stdout(text);
  }
  return 0;
}

// ------------------------------------------------------------------------------------------
// sign

const INTENT_FIELDS = ['intentId', 'agentId', 'agentVersion', 'task', 'input', 'submittedAt'];
const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

function fill(raw: Record<string, unknown>, field: 'agentId' | 'agentVersion', flag: string, value: string | undefined): void {
  if (value === undefined) return;
  if (raw[field] !== undefined && raw[field] !== value) throw new Failure(`the intent's ${field} is ${JSON.stringify(raw[field])} but --${flag} says ${JSON.stringify(value)}`);
  raw[field] = value;
}

/** The intent to sign, completed and checked against the intent schema's rules. */
function intentFrom(raw: Record<string, unknown>, from: string, agent: string | undefined, version: string | undefined, now: Date): SignableIntent {
  if ('specversion' in raw || 'data' in raw) throw new Failure(`${from} holds a CloudEvents envelope; give the intent itself (the envelope's data)`);
  const unknown = Object.keys(raw).filter((k) => !INTENT_FIELDS.includes(k));
  if (unknown.length > 0) throw new Failure(`the intent has fields an intent cannot have: ${unknown.join(', ')} (allowed: ${INTENT_FIELDS.join(', ')})`);
  const intent: Record<string, unknown> = { ...raw };
  fill(intent, 'agentId', 'agent', agent);
  fill(intent, 'agentVersion', 'version', version);
  intent['intentId'] ??= randomUUID();
  intent['submittedAt'] ??= now.toISOString();
  const problems: string[] = [];
  if (typeof intent['intentId'] !== 'string' || !ID_PATTERN.test(intent['intentId'])) problems.push('intentId must be 1-128 letters, digits, . _ : - (starting with a letter or digit)');
  if (intent['agentId'] === undefined) problems.push('agentId is missing: put it in the intent or give --agent <id>');
  else if (typeof intent['agentId'] !== 'string' || !ID_PATTERN.test(intent['agentId'])) problems.push('agentId must be 1-128 letters, digits, . _ : - (starting with a letter or digit)');
  if (intent['agentVersion'] === undefined) problems.push('agentVersion is missing: put it in the intent or give --version <v> (the version whose key signs)');
  else if (typeof intent['agentVersion'] !== 'string' || intent['agentVersion'].length < 1 || intent['agentVersion'].length > 64) problems.push('agentVersion must be a string of 1-64 characters');
  if (typeof intent['task'] !== 'string' || intent['task'].length < 1 || intent['task'].length > 4000) problems.push('task must be a string of 1-4000 characters saying what the agent wants done');
  const input = intent['input'];
  if (input !== undefined && (input === null || typeof input !== 'object' || Array.isArray(input))) problems.push('input, when present, must be a JSON object');
  if (parseRfc3339(intent['submittedAt']) === null) problems.push('submittedAt must be an RFC 3339 date-time with a zone offset, e.g. 2026-11-21T09:30:00.412Z');
  if (problems.length > 0) throw new Failure(`the intent in ${from} cannot be signed:\n  - ${problems.join('\n  - ')}`);
  const ordered: Record<string, unknown> = {};
  for (const field of INTENT_FIELDS) if (intent[field] !== undefined) ordered[field] = intent[field];
  return ordered as unknown as SignableIntent;
}

async function signCommand(io: CliIo, args: string[]): Promise<number> {
  const values = parse('sign', args, { key: { type: 'string' }, agent: { type: 'string' }, version: { type: 'string' }, file: { type: 'string' } });
  if (values['help']) return help(io, 'sign');
  const keyFile = required(values, 'key', 'sign');
  const keyText = readTextFile(io, keyFile, 'the private key');
  let key;
  try {
    key = loadPrivateKey(keyText);
  } catch (error) {
    if (error instanceof KeyFormatError) throw new Failure(`${keyFile}: ${error.message}`);
    throw error;
  }
  const { text, from } = await readInput(io, str(values['file']), 'the intent', 'sign');
  const now = io.now();
  const intent = intentFrom(parseJsonObject(text, 'the intent', from), from, str(values['agent']), str(values['version']), now);
  const signature = signIntent(intent, key);
  const cloudevent = {
    specversion: '1.0',
    id: randomUUID(),
    source: `agent/${intent.agentId}`,
    type: INTENT_EVENT_TYPE,
    time: now.toISOString(),
    subject: intent.intentId,
    correlationid: intent.intentId,
    datacontenttype: 'application/json',
    [INTENT_SIGNATURE_ATTRIBUTE]: signature,
    [INTENT_SIGNER_ATTRIBUTE]: 'agent',
    data: intent,
  };
  io.stdout(json({ intent, signature, headers: { [INTENT_SIGNATURE_HEADER]: signature }, cloudevent }));
  return 0;
}

// ------------------------------------------------------------------------------------------
// verify

async function verifyCommand(io: CliIo, args: string[]): Promise<number> {
  const values = parse('verify', args, { 'public-key': { type: 'string' }, file: { type: 'string' }, 'max-age': { type: 'string' } });
  if (values['help']) return help(io, 'verify');
  const publicKeyText = required(values, 'public-key', 'verify');
  let maxAge: number | undefined;
  const maxAgeText = str(values['max-age']);
  if (maxAgeText !== undefined) {
    maxAge = Number(maxAgeText);
    if (!/^\d+$/.test(maxAgeText.trim()) || !Number.isSafeInteger(maxAge) || maxAge <= 0) throw new UsageError(`--max-age must be a positive whole number of seconds, not ${JSON.stringify(maxAgeText)}`, 'verify');
  }
  let publicKey;
  try {
    publicKey = loadPublicKey(publicKeyText);
  } catch (error) {
    if (error instanceof KeyFormatError) throw new UsageError(`--public-key: ${error.message}`, 'verify');
    throw error;
  }
  const { text, from } = await readInput(io, str(values['file']), 'the envelope', 'verify');
  const document = parseJsonObject(text, 'the envelope', from);

  let data: unknown;
  let signature: unknown;
  let signer: unknown;
  const envelope = (document['cloudevent'] ?? document) as Record<string, unknown>;
  if (envelope && typeof envelope === 'object' && 'specversion' in envelope) {
    if (envelope['type'] !== INTENT_EVENT_TYPE) throw new Failure(`the envelope's type is ${JSON.stringify(envelope['type'])}; only ${INTENT_EVENT_TYPE} is signed`);
    data = envelope['data'];
    signature = envelope[INTENT_SIGNATURE_ATTRIBUTE];
    signer = envelope[INTENT_SIGNER_ATTRIBUTE];
    if (signature === undefined) throw new Failure(`the envelope carries no ${INTENT_SIGNATURE_ATTRIBUTE} attribute: the intent is not signed`);
    if (!INTENT_SIGNERS.includes(signer as never)) {
      throw new Failure(`the envelope's ${INTENT_SIGNER_ATTRIBUTE} is ${JSON.stringify(signer ?? null)}; it must be ${INTENT_SIGNERS.map((s) => JSON.stringify(s)).join(' or ')}`);
    }
  } else if ('intent' in document && 'signature' in document) {
    data = document['intent'];
    signature = document['signature'];
    signer = 'agent';
  } else {
    throw new Failure(`${from} holds neither a CloudEvents envelope (with specversion) nor the output of govmesh sign`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new Failure('the intent (the envelope data) is not a JSON object');
  if (typeof signature !== 'string') throw new Failure(`the signature is not a string`);
  const intent = data as Record<string, unknown>;
  const keyId = keyIdOf(publicKey);
  if (!verifyIntentSignature(intent, signature, publicKey)) {
    io.stderr(
      `invalid: the ${INTENT_SIGNATURE_ATTRIBUTE} signature does not verify with public key ${keyId}: the intent was changed after signing, or it was signed with another key\n`,
    );
    return 1;
  }
  if (maxAge !== undefined) {
    const problem = checkIntentFreshness(intent['submittedAt'] as string, io.now(), maxAge);
    if (problem) {
      io.stderr(`invalid: the signature verifies, but ${problem.message} (${problem.code})\n`);
      return 1;
    }
  }
  io.stdout(`valid: intent ${String(intent['intentId'])} of agent ${String(intent['agentId'])} version ${String(intent['agentVersion'])}, signed by ${String(signer)} key ${keyId}\n`);
  return 0;
}

// ------------------------------------------------------------------------------------------

function help(io: CliIo, command?: string): number {
  io.stdout(command && COMMAND_USAGE[command] ? COMMAND_USAGE[command] : USAGE);
  return 0;
}

// ------------------------------------------------------------------------------------------
// audit verify, evidence verify

/** A public key given as its text or as a file holding it. */
function publicKeyArgument(io: CliIo, value: string): string {
  const text = value.includes('/') || value.endsWith('.pem') || value.endsWith('.pub') ? readTextFile(io, value, 'the public key').trim() : value.trim();
  try {
    loadPublicKey(text);
  } catch (error) {
    throw new Failure(`--key is not an Ed25519 public key: ${(error as Error).message}`);
  }
  return text;
}

function subcommand(command: string, args: string[]): string[] {
  const [sub, ...rest] = args;
  if (sub === '--help' || sub === '-h' || sub === undefined) throw new UsageError(`${command} needs a subcommand: verify`, command);
  if (sub !== 'verify') throw new UsageError(`unknown ${command} subcommand ${JSON.stringify(sub)}`, command);
  return rest;
}

async function auditCommand(io: CliIo, args: string[]): Promise<number> {
  if (args[0] === '--help' || args[0] === '-h') return help(io, 'audit');
  const values = parse('audit', subcommand('audit', args), { 'database-url': { type: 'string' }, 'data-dir': { type: 'string' }, key: { type: 'string' }, json: { type: 'boolean' } });
  if (values['help']) return help(io, 'audit');
  const keyText = str(values['key']) ?? process.env['GOVMESH_AUDIT_PUBLIC_KEY'];
  if (!keyText) throw new UsageError('audit verify needs --key (or GOVMESH_AUDIT_PUBLIC_KEY)', 'audit');
  const key = publicKeyArgument(io, keyText);
  const dataDir = str(values['data-dir']);
  const url = str(values['database-url']) ?? (dataDir ? undefined : process.env['DATABASE_URL']);
  if (dataDir && str(values['database-url'])) throw new UsageError('give --database-url or --data-dir, not both', 'audit');
  if (!url && !dataDir) throw new UsageError('audit verify needs --database-url (or DATABASE_URL) or --data-dir', 'audit');
  const { verdict } = await withLedgerDatabase(io, url, dataDir, (q) => verifyLedger(sqlLedgerSource(q), key));
  if (values['json']) io.stdout(`${JSON.stringify(verdict, null, 2)}\n`);
  else if (verdict.intact) io.stdout(`intact: ${verdict.length} records, head ${verdict.head}${verdict.checkpoint ? `, last checkpoint ${verdict.checkpoint.seq} signed ${verdict.checkpoint.time}` : ', no checkpoint yet'}\n`);
  else io.stdout(`broken: ${verdict.problem.kind} at record ${verdict.problem.seq}: ${verdict.reason} (${verdict.length} records verified before it)\n`);
  return verdict.intact ? 0 : 1;
}

type Query = (sql: string, params?: unknown[]) => Promise<Array<Record<string, unknown>>>;

/** Reads the ledger in one repeatable-read snapshot, from Postgres or an embedded PGlite directory. */
async function withLedgerDatabase<T>(io: CliIo, url: string | undefined, dataDir: string | undefined, work: (q: Query) => Promise<T>): Promise<T> {
  if (url) {
    const { Client } = await import('pg');
    const client = new Client({ connectionString: url, application_name: 'govmesh-audit-verify' });
    try {
      await client.connect();
    } catch (error) {
      throw new Failure(`cannot connect to the database: ${(error as Error).message}`);
    }
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const result = await work(async (sql, params) => (await client.query(sql, params)).rows);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      if (error instanceof Failure) throw error;
      throw new Failure(`cannot read the ledger: ${(error as Error).message}`);
    } finally {
      await client.end();
    }
  }
  const { PGlite } = await import('@electric-sql/pglite');
  const dir = resolve(io.cwd, dataDir!, 'pgdata');
  let db: InstanceType<typeof PGlite>;
  try {
    db = await PGlite.create(dir);
  } catch (error) {
    throw new Failure(`cannot open the embedded database in ${dir}: ${(error as Error).message}`);
  }
  try {
    return await work(async (sql, params) => (await db.query<Record<string, unknown>>(sql, params)).rows);
  } catch (error) {
    throw new Failure(`cannot read the ledger: ${(error as Error).message}`);
  } finally {
    await db.close();
  }
}

function evidenceCommand(io: CliIo, args: string[]): number {
  if (args[0] === '--help' || args[0] === '-h') return help(io, 'evidence');
  const files: string[] = [];
  const values = parse('evidence', subcommand('evidence', args), { key: { type: 'string' }, json: { type: 'boolean' } }, files);
  if (values['help']) return help(io, 'evidence');
  if (files.length !== 1) throw new UsageError('evidence verify needs exactly one bundle file', 'evidence');
  const key = publicKeyArgument(io, required(values, 'key', 'evidence'));
  const verdict = verifyEvidenceBundle(readTextFile(io, files[0], 'the evidence bundle'), key);
  if (values['json']) {
    io.stdout(`${JSON.stringify(verdict, null, 2)}\n`);
  } else if (verdict.valid) {
    const s = verdict.summary;
    io.stdout(
      `valid: run ${verdict.runId}, ${verdict.records} records under ${verdict.checkpoints} signed checkpoint(s), key ${verdict.keyId}\n` +
        `  ${s.decisions.length} decision(s), ${s.approvals.length} approval event(s), ${s.executions.length} execution(s), ${s.verifications.length} verification(s), ${s.modelCalls.length} model call(s); result: ${String(s.result?.['outcome'] ?? 'none yet')}\n`,
    );
  } else {
    io.stdout(`invalid:\n${verdict.problems.map((p) => `  - ${p}`).join('\n')}\n`);
  }
  return verdict.valid ? 0 : 1;
}

const COMMANDS: Record<string, (io: CliIo, args: string[]) => number | Promise<number>> = {
  keygen,
  audit: auditCommand,
  evidence: evidenceCommand,
  sign: signCommand,
  verify: verifyCommand,
};

export async function main(argv: string[], io: CliIo): Promise<number> {
  const [command, ...args] = argv;
  try {
    if (command === undefined) {
      io.stderr(USAGE);
      return 2;
    }
    if (command === '--help' || command === '-h') return help(io);
    if (command === 'help') {
      if (args.length > 0 && !COMMAND_USAGE[args[0]]) throw new UsageError(`unknown command ${JSON.stringify(args[0])}`);
      return help(io, args[0]);
    }
    const run = Object.prototype.hasOwnProperty.call(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (!run) throw new UsageError(command.startsWith('-') ? `unknown option ${command}; a command comes first` : `unknown command ${JSON.stringify(command)}`);
    return await run(io, args);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`govmesh: ${error.message}\nRun \`govmesh ${error.command ? `${error.command} ` : ''}--help\` for usage.\n`);
      return 2;
    }
    if (error instanceof Failure || error instanceof KeyFormatError) {
      io.stderr(`govmesh: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
}
