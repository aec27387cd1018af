import { randomUUID } from 'node:crypto';
import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource, EntityManager } from 'typeorm';
import { EventTypes, type RecordClaim } from '@govmesh/contracts';
import type { EventHandlers } from '@govmesh/messaging';
import { insertable } from '@govmesh/persistence';
import { ENDPOINT_DEPS, ServiceEndpoint, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { compareClaim } from './compare';
import { VERIFIER_DATABASE, VERIFIER_SERVICE } from './database';
import { VerificationRecord } from './entities';

type RecordReader = (manager: EntityManager, id: string) => Promise<Record<string, unknown> | undefined>;

/**
 * Readers of systems of record. The verifier reads with its own query, never trusting the
 * tool's output: the sandbox's accounts table is read directly here.
 */
const READERS: Record<string, RecordReader | undefined> = {
  'sandbox/account': async (manager, id) => {
    const rows: Array<{ holder: string; status: string; balance_cents: number }> = await manager.query(
      'SELECT holder, status, balance_cents FROM "sandbox"."accounts" WHERE id = $1',
      [id],
    );
    return rows[0] ? { holder: rows[0].holder, status: rows[0].status, balanceCents: rows[0].balance_cents } : undefined;
  },
};

/** Layer 6: work is done only when the system of record confirms it. */
@Injectable()
export class VerifierEndpoint extends ServiceEndpoint {
  constructor(@InjectDataSource(VERIFIER_SERVICE) dataSource: DataSource, @Inject(ENDPOINT_DEPS) deps: ServiceEndpointDeps) {
    super(VERIFIER_SERVICE, VERIFIER_DATABASE.schema, dataSource, deps);
  }

  protected handlers(): EventHandlers {
    return {
      [EventTypes.VerificationRequested]: async (event, ctx) => {
        const { runId, stepId, claim } = event.data;
        const reader = READERS[`${claim.system}/${claim.entity}`];
        const what = `${claim.system} ${claim.entity} ${claim.id}`;
        const observed = reader ? await reader(ctx.manager, claim.id) : undefined;
        const { verdict, reasons } = reader
          ? compareClaim(claim.fields, observed, what)
          : { verdict: 'unsupported' as const, reasons: [{ code: 'no_reader', message: `no verifier can read ${claim.system}/${claim.entity}` }] };
        await this.record(ctx.manager, runId, stepId, claim, verdict, observed);
        this.deps.metrics.verifications.inc({ service: this.service, verdict });
        ctx.emit(EventTypes.VerificationCompleted, { runId, stepId, verdict, ...(observed ? { observed } : {}), reasons });
      },
    };
  }

  private async record(manager: EntityManager, runId: string, stepId: string, claim: RecordClaim, verdict: string, observed: Record<string, unknown> | undefined): Promise<void> {
    await manager.insert(VerificationRecord, insertable<VerificationRecord>({
      id: randomUUID(),
      runId,
      stepId,
      system: claim.system,
      entity: claim.entity,
      recordId: claim.id,
      verdict,
      claimed: claim.fields,
      observed: observed ?? null,
    }));
  }
}
