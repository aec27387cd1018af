import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { generateKeyPair, loadPrivateKey, loadPublicKey, publicKeyOf } from '@govmesh/signing';
import { GOVMESH_CONFIG } from './tokens';
import type { GovmeshConfig } from './config';

export const SERVICE_KEYS_FILE = 'service-keys.json';

type Pair = 'grant' | 'ingress' | 'verifier' | 'gateway' | 'audit';

const PAIRS: readonly Pair[] = ['grant', 'ingress', 'verifier', 'gateway', 'audit'];

const VARIABLES: Record<Pair, { signing: string; public: string; signer: string; verifier: string }> = {
  grant: { signing: 'GOVMESH_GRANT_SIGNING_KEY', public: 'GOVMESH_GRANT_PUBLIC_KEY', signer: 'policy', verifier: 'tool-gateway' },
  ingress: { signing: 'GOVMESH_INGRESS_SIGNING_KEY', public: 'GOVMESH_INGRESS_PUBLIC_KEY', signer: 'orchestrator', verifier: 'policy' },
  verifier: { signing: 'GOVMESH_VERIFIER_SIGNING_KEY', public: 'GOVMESH_VERIFIER_PUBLIC_KEY', signer: 'verifier', verifier: 'tool-gateway' },
  gateway: { signing: 'GOVMESH_GATEWAY_SIGNING_KEY', public: 'GOVMESH_GATEWAY_PUBLIC_KEY', signer: 'tool-gateway', verifier: 'verifier' },
  audit: { signing: 'GOVMESH_AUDIT_SIGNING_KEY', public: 'GOVMESH_AUDIT_PUBLIC_KEY', signer: 'telemetry', verifier: 'auditors' },
};

/** Where each pair's configured halves sit in `GovmeshConfig.keys`. */
const CONFIGURED: Record<Pair, { signing: keyof GovmeshConfig['keys']; public: keyof GovmeshConfig['keys'] }> = {
  grant: { signing: 'grantSigning', public: 'grantPublic' },
  ingress: { signing: 'ingressSigning', public: 'ingressPublic' },
  verifier: { signing: 'verifierSigning', public: 'verifierPublic' },
  gateway: { signing: 'gatewaySigning', public: 'gatewayPublic' },
  audit: { signing: 'auditSigning', public: 'auditPublic' },
};

/**
 * The services' own Ed25519 keys: policy signs action grants (the tool gateway holds only the
 * public key), the HTTP ingress attests intents it authenticated (policy holds only the public
 * key), the verifier signs its read requests (the tool gateway holds only the public key) and the
 * tool gateway signs its answers to them (the verifier holds only the public key); telemetry signs
 * the audit ledger's checkpoints and evidence bundles (auditors hold the public key). No
 * key ships with govmesh: distributed processes refuse to start without the keys their services
 * need; embedded mode generates the pairs on first start and keeps them under the data directory
 * (in memory for an in-memory database), adding any pair a file written by an earlier version lacks.
 */
@Injectable()
export class ServiceKeys {
  private readonly logger = new Logger('keys');
  private generated?: Record<Pair, string>;

  constructor(@Inject(GOVMESH_CONFIG) private readonly config: GovmeshConfig) {}

  /** The private key of a pair, for the one service that signs with it. */
  signingKey(pair: Pair): KeyObject {
    const configured = this.config.keys[CONFIGURED[pair].signing];
    return this.load(VARIABLES[pair].signing, configured ?? this.embedded(pair, VARIABLES[pair].signing), loadPrivateKey);
  }

  /** The public key of a pair, for the services that check its signatures. */
  publicKey(pair: Pair): KeyObject {
    const configured = this.config.keys[CONFIGURED[pair].public];
    if (configured) return this.load(VARIABLES[pair].public, configured, loadPublicKey);
    const seed = this.embedded(pair, VARIABLES[pair].public);
    return this.load(VARIABLES[pair].public, publicKeyOf(seed), loadPublicKey);
  }

  private load(variable: string, text: string, parse: (text: string) => KeyObject): KeyObject {
    try {
      return parse(text);
    } catch (err) {
      throw new Error(`Config validation error: "${variable}" is not a usable Ed25519 key: ${(err as Error).message}`);
    }
  }

  /** The embedded pair's private seed; distributed mode has none and says which variable is missing. */
  private embedded(pair: Pair, variable: string): string {
    if (this.config.mode === 'distributed') {
      const v = VARIABLES[pair];
      throw new Error(
        `Config validation error: "${variable}" is required in distributed mode (${v.signer} signs with ${v.signing}, ${v.verifier} checks with ${v.public}); ` +
          '`npx govmesh keygen --service` makes a set',
      );
    }
    this.generated ??= this.loadOrCreateEmbedded();
    return this.generated[pair];
  }

  private loadOrCreateEmbedded(): Record<Pair, string> {
    const seed = () => generateKeyPair().privateKeySeed;
    if (this.config.dataDir.startsWith('memory://')) return Object.fromEntries(PAIRS.map((pair) => [pair, seed()])) as Record<Pair, string>;
    const file = join(this.config.dataDir, SERVICE_KEYS_FILE);
    const stored = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Partial<Record<Pair, string>>) : undefined;
    const missing = PAIRS.filter((pair) => typeof stored?.[pair] !== 'string');
    if (stored && missing.length === 0) return stored as Record<Pair, string>;
    // Pairs already on disk stay as they are: only the missing ones are generated.
    const keys = { ...stored, ...Object.fromEntries(missing.map((pair) => [pair, seed()])) } as Record<Pair, string>;
    mkdirSync(this.config.dataDir, { recursive: true });
    // Written aside and renamed over: the file is never half-written, and gets mode 0600 even when it existed.
    const temporary = `${file}.${process.pid}.tmp`;
    rmSync(temporary, { force: true });
    writeFileSync(temporary, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
    renameSync(temporary, file);
    this.logger.log(`generated the ${list(missing)} signing key${missing.length > 1 ? 's' : ''} in ${file}`);
    return keys;
  }
}

function list(names: readonly string[]): string {
  return names.length > 1 ? `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}` : names.join('');
}
