import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { EventTypes, type Reason, type RecordClaim } from '@govmesh/contracts';
import { HandlesEvents, type BatchEventHandler, type Consumed, type UnitOfWork } from '@govmesh/messaging';
import { ENDPOINT_DEPS, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { compareClaim } from './compare';
import { VERIFIER_SERVICE } from './database';

/** Reads many records of one system of record at once, by id, with the verifier's own query. */
type RecordReader = (uow: UnitOfWork, ids: readonly string[]) => Promise<Map<string, Record<string, unknown>>>;

/**
 * Readers of systems of record. The verifier reads with its own query, never trusting the tool's
 * output: the sandbox's accounts table is read directly here.
 */
const READERS: Record<string, RecordReader | undefined> = {
  'sandbox/account': async (uow, ids) => {
    const rows = await uow.query<{ id: string; holder: string; status: string; balance_cents: number }>(
      'SELECT id, holder, status, balance_cents FROM "sandbox"."accounts" WHERE id = ANY($1)',
      [ids],
    );
    return new Map(rows.map((r) => [r.id, { holder: r.holder, status: r.status, balanceCents: r.balance_cents }]));
  },
};

interface Verification {
  runId: string;
  stepId: string;
  claim: RecordClaim;
  verdict: 'confirmed' | 'mismatch' | 'not_found' | 'unsupported';
  observed?: Record<string, unknown>;
  reasons: Reason[];
}

/** The verification ledger. */
@Injectable()
export class VerificationsRepository {
  async record(uow: UnitOfWork, verifications: readonly Verification[]): Promise<void> {
    await uow.insertMany(
      'verifications',
      verifications.map((v) => ({
        id: randomUUID(),
        run_id: v.runId,
        step_id: v.stepId,
        system: v.claim.system,
        entity: v.claim.entity,
        record_id: v.claim.id,
        verdict: v.verdict,
        claimed: v.claim.fields,
        observed: v.observed ?? null,
      })),
    );
  }
}

/** Layer 6: work is done only when the system of record confirms it. */
@Injectable()
@HandlesEvents(VERIFIER_SERVICE, [EventTypes.VerificationRequested])
export class VerificationRequestsHandler implements BatchEventHandler<typeof EventTypes.VerificationRequested> {
  constructor(
    private readonly ledger: VerificationsRepository,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  async handle(batch: ReadonlyArray<Consumed<typeof EventTypes.VerificationRequested>>, uow: UnitOfWork): Promise<void> {
    // One read per system of record for the whole batch.
    const bySystem = new Map<string, string[]>();
    for (const { event } of batch) {
      const c = event.data.claim;
      const key = `${c.system}/${c.entity}`;
      bySystem.set(key, [...(bySystem.get(key) ?? []), c.id]);
    }
    const observedBySystem = new Map<string, Map<string, Record<string, unknown>>>();
    for (const [system, ids] of bySystem) {
      const reader = READERS[system];
      if (reader) observedBySystem.set(system, await reader(uow, ids));
    }
    const verifications: Verification[] = [];
    for (const { event } of batch) {
      const { runId, stepId, claim } = event.data;
      const system = `${claim.system}/${claim.entity}`;
      const records = observedBySystem.get(system);
      const observed = records?.get(claim.id);
      const { verdict, reasons } = records
        ? compareClaim(claim.fields, observed, `${claim.system} ${claim.entity} ${claim.id}`)
        : { verdict: 'unsupported' as const, reasons: [{ code: 'no_reader', message: `no verifier can read ${system}` }] };
      verifications.push({ runId, stepId, claim, verdict, observed, reasons });
      uow.emit(EventTypes.VerificationCompleted, { runId, stepId, verdict, ...(observed ? { observed } : {}), reasons }, { cause: event });
    }
    await this.ledger.record(uow, verifications);
    uow.afterCommit(() => {
      for (const v of verifications) this.deps.metrics.verifications.inc({ service: VERIFIER_SERVICE, verdict: v.verdict });
    });
  }
}
