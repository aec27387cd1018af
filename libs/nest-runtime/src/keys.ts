import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import { generateKeyPair, loadPrivateKey, loadPublicKey, publicKeyOf } from '@govmesh/signing';
import { GOVMESH_CONFIG } from './tokens';
import type { GovmeshConfig } from './config';

export const SERVICE_KEYS_FILE = 'service-keys.json';

type Pair = 'grant' | 'ingress';

const VARIABLES: Record<Pair, { signing: string; public: string; signer: string; verifier: string }> = {
  grant: { signing: 'GOVMESH_GRANT_SIGNING_KEY', public: 'GOVMESH_GRANT_PUBLIC_KEY', signer: 'policy', verifier: 'tool-gateway' },
  ingress: { signing: 'GOVMESH_INGRESS_SIGNING_KEY', public: 'GOVMESH_INGRESS_PUBLIC_KEY', signer: 'orchestrator', verifier: 'policy' },
};

/**
 * The services' own Ed25519 keys: policy signs action grants (the tool gateway holds only the
 * public key) and the HTTP ingress attests intents it authenticated (policy holds only the public
 * key). No key ships with govmesh: distributed processes refuse to start without the keys their
 * services need; embedded mode generates a pair on first start and keeps it under the data
 * directory (in memory for an in-memory database).
 */
@Injectable()
export class ServiceKeys {
  private readonly logger = new Logger('keys');
  private generated?: Record<Pair, string>;

  constructor(@Inject(GOVMESH_CONFIG) private readonly config: GovmeshConfig) {}

  /** The private key of a pair, for the one service that signs with it. */
  signingKey(pair: Pair): KeyObject {
    const configured = pair === 'grant' ? this.config.keys.grantSigning : this.config.keys.ingressSigning;
    return this.load(VARIABLES[pair].signing, configured ?? this.embedded(pair, VARIABLES[pair].signing), loadPrivateKey);
  }

  /** The public key of a pair, for the services that check its signatures. */
  publicKey(pair: Pair): KeyObject {
    const configured = pair === 'grant' ? this.config.keys.grantPublic : this.config.keys.ingressPublic;
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
    const fresh = () => ({ grant: generateKeyPair().privateKeySeed, ingress: generateKeyPair().privateKeySeed });
    if (this.config.dataDir.startsWith('memory://')) return fresh();
    const file = join(this.config.dataDir, SERVICE_KEYS_FILE);
    if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Record<Pair, string>;
    const keys = fresh();
    mkdirSync(this.config.dataDir, { recursive: true });
    writeFileSync(file, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
    this.logger.log(`generated the grant and ingress signing keys in ${file}`);
    return keys;
  }
}
