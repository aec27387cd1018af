import { createHash, randomUUID } from 'node:crypto';
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
 * output: the sandbox's tables are read directly here, one query per system and batch. Each
 * reader answers every field a tool of that system may claim, under the claim's names.
 */
const READERS: Record<string, RecordReader | undefined> = {
  'sandbox/account': async (uow, ids) => {
    const rows = await uow.query<{ id: string; holder: string; status: string; balance_cents: number }>(
      'SELECT id, holder, status, balance_cents FROM "sandbox"."accounts" WHERE id = ANY($1)',
      [ids],
    );
    return new Map(rows.map((r) => [r.id, { holder: r.holder, status: r.status, balanceCents: r.balance_cents }]));
  },
  /** ERP invoices, with the number of payments booked against each. */
  'sandbox/invoice': async (uow, ids) => {
    const rows = await uow.query<{ id: string; vendor: string; amount: string | number; currency: string; status: string; payment_count: number }>(
      `SELECT i.id, i.vendor, i.amount, i.currency, i.status, count(p.id)::int AS payment_count
       FROM "sandbox"."invoices" i LEFT JOIN "sandbox"."payments" p ON p.invoice_id = i.id
       WHERE i.id = ANY($1) GROUP BY i.id`,
      [ids],
    );
    return new Map(rows.map((r) => [r.id, { vendor: r.vendor, amount: Number(r.amount), currency: r.currency, status: r.status, paymentCount: r.payment_count }]));
  },
  /** CRM contracts; the renewal draft is compared by its length and SHA-256, never copied into the verdict. */
  'sandbox/contract': async (uow, ids) => {
    const rows = await uow.query<{ id: string; customer: string; customer_email_domain: string; end_date: string; status: string; renewal_draft: string | null }>(
      'SELECT id, customer, customer_email_domain, end_date::text AS end_date, status, renewal_draft FROM "sandbox"."contracts" WHERE id = ANY($1)',
      [ids],
    );
    return new Map(
      rows.map((r) => [
        r.id,
        {
          customer: r.customer,
          customerEmailDomain: r.customer_email_domain,
          endDate: r.end_date,
          status: r.status,
          renewalDraftLength: r.renewal_draft === null ? null : r.renewal_draft.length,
          renewalDraftSha256: r.renewal_draft === null ? null : createHash('sha256').update(r.renewal_draft, 'utf8').digest('hex'),
        },
      ]),
    );
  },
  /** The mail outbox. */
  'sandbox/outbound_mail': async (uow, ids) => {
    const rows = await uow.query<{ id: string; to: string; subject: string; contract_id: string | null }>(
      'SELECT id, "to", subject, contract_id FROM "sandbox"."outbound_mail" WHERE id = ANY($1)',
      [ids],
    );
    return new Map(rows.map((r) => [r.id, { to: r.to, subject: r.subject, contractId: r.contract_id }]));
  },
  /** Support tickets. */
  'sandbox/ticket': async (uow, ids) => {
    const rows = await uow.query<{ id: string; subject: string; priority: string; status: string; assignee_group: string | null }>(
      'SELECT id, subject, priority, status, assignee_group FROM "sandbox"."tickets" WHERE id = ANY($1)',
      [ids],
    );
    return new Map(rows.map((r) => [r.id, { subject: r.subject, priority: r.priority, status: r.status, assigneeGroup: r.assignee_group }]));
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
