import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { EventTypes } from '@govmesh/contracts';
import type { UnitOfWork } from '@govmesh/messaging';
import { ServiceBus, type Principal } from '@govmesh/nest-runtime';
import { loadPolicyBundle, SEED_POLICIES, type PolicyBundle } from '@govmesh/policy-engine';
import { POLICY_SERVICE } from './database';
import { PolicyRepository } from './policy.repository';

/** The one policy set there is today; the event key leaves room for more (per tenant, say). */
export const POLICY_SET = 'default';

/**
 * The active policy set of this instance. Every decided batch reads the active version in its
 * own transaction (one indexed row) and swaps in the preparsed set when another instance (or the
 * API here) activated a new one: the next decision after an activation commits uses it, in every
 * instance, without a restart. Activations are `govmesh.policy.activated.v1` events, audited.
 */
@Injectable()
export class PolicySets implements OnModuleInit {
  private readonly logger = new Logger(POLICY_SERVICE);
  private bundle?: PolicyBundle;
  private readonly loaded = new Map<string, PolicyBundle>();

  constructor(
    private readonly repository: PolicyRepository,
    private readonly bus: ServiceBus,
  ) {}

  /** A fresh installation starts with the seed policy set active. */
  async onModuleInit(): Promise<void> {
    await this.bus.transaction(async (uow) => {
      await this.repository.lockPolicySets(uow);
      if (await this.repository.activeVersion(uow)) return;
      const seed = this.load(SEED_POLICIES);
      await this.repository.addCandidate(uow, seed.version, seed.policies, 'seed policy set', 'system');
      const previous = await this.repository.activate(uow, seed.version, 'system', 'seeded');
      this.emitActivated(uow, seed, previous, 'seeded', { id: 'system', name: 'govmesh' }, 'system');
    });
    const active = await this.repository.activePolicySet();
    this.bundle = this.load(active!.policies);
    this.logger.log(`policy set ${this.bundle.version} active (${Object.keys(this.bundle.policies).length} policies)`);
  }

  /** Parses and preparses a set once per version. */
  load(policies: Record<string, string>): PolicyBundle {
    const bundle = loadPolicyBundle(policies);
    const known = this.loaded.get(bundle.version);
    if (known) return known;
    this.loaded.set(bundle.version, bundle);
    return bundle;
  }

  /** The set decisions in this transaction use: the active one as of now. */
  async current(uow: UnitOfWork): Promise<PolicyBundle> {
    const version = await this.repository.activeVersion(uow);
    if (this.bundle && this.bundle.version === version) return this.bundle;
    const active = await this.repository.activePolicySet(uow);
    if (!active) throw new Error('no policy set is active');
    this.bundle = this.loaded.get(active.version) ?? this.load(active.policies);
    this.logger.log(`policy set ${this.bundle.version} now active here`);
    return this.bundle;
  }

  /** The set in force now, outside a transaction (for the API). */
  get active(): PolicyBundle | undefined {
    return this.bundle;
  }

  emitActivated(uow: UnitOfWork, bundle: PolicyBundle, previous: string | null, change: 'activated' | 'rolled_back' | 'seeded', principal: Pick<Principal, 'id' | 'name'>, kind: 'operator' | 'system' = 'operator'): void {
    uow.emit(EventTypes.PolicyActivated, {
      policySet: POLICY_SET,
      version: bundle.version,
      ...(previous && previous !== bundle.version ? { previousVersion: previous } : {}),
      change,
      policies: Object.keys(bundle.policies).length,
      actor: { kind, id: principal.id, name: principal.name.slice(0, 200) },
    });
  }
}
