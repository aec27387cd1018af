import { randomUUID, type KeyObject } from 'node:crypto';
import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { checkVerificationAnswer, signVerificationRead } from '@govmesh/action-grants';
import { loadCel } from '@govmesh/cel';
import { EventTypes, type GovmeshEvent, type Reason } from '@govmesh/contracts';
import { HandlesEvents, type BatchEventHandler, type Consumed, type UnitOfWork } from '@govmesh/messaging';
import { ENDPOINT_DEPS, ServiceKeys, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { planCheck, settleCheck, verdictOf, type CheckKind, type CheckResult, type CheckState, type VerifiedCall } from './checks';
import type { Verdict } from './compare';
import { VERIFIER_SERVICE } from './database';
import { claimOf, VerifierRepository, type VerificationRow, type VerificationUpdate } from './verifier.repository';

/** Results to count once the batch committed. */
class Tally {
  readonly checks: Array<{ check: CheckKind; result: CheckResult }> = [];
  readonly verdicts: Verdict[] = [];

  countAfterCommit(uow: UnitOfWork, deps: ServiceEndpointDeps): void {
    uow.afterCommit(() => {
      for (const c of this.checks) deps.metrics.verificationChecks.inc({ service: VERIFIER_SERVICE, check: c.check, result: c.result });
      for (const verdict of this.verdicts) deps.metrics.verifications.inc({ service: VERIFIER_SERVICE, verdict });
    });
  }
}

/**
 * Follows the tool manifest: the verifier keeps each tool's verification checks as the registry
 * last said. A retired tool has none, so its claims are never confirmed.
 */
@Injectable()
@HandlesEvents(VERIFIER_SERVICE, [EventTypes.ToolRegistered])
export class ToolRegistryHandler implements BatchEventHandler<typeof EventTypes.ToolRegistered> {
  constructor(private readonly repository: VerifierRepository) {}

  async handle(batch: ReadonlyArray<Consumed<typeof EventTypes.ToolRegistered>>, uow: UnitOfWork): Promise<void> {
    await this.repository.saveToolSpecs(
      uow,
      batch.map(({ event }) => {
        const { name, manifest, change, status } = event.data;
        return {
          name,
          version: manifest.version,
          sideEffect: manifest.sideEffect,
          verification: manifest.verification ?? [],
          status: change === 'retired' || status === 'retired' ? 'retired' : 'active',
          changedAt: event.time,
        };
      }),
    );
  }
}

/**
 * Layer 6: work is done only when the system of record confirms it. A claim is checked by the
 * checks its tool's manifest declares, each reading the system of record through a read tool the
 * gateway executes under the verifier's own signed identity, never by trusting the tool's answer.
 * A tool without checks is never confirmed.
 */
@Injectable()
@HandlesEvents(VERIFIER_SERVICE, [EventTypes.VerificationRequested])
export class VerificationRequestsHandler implements BatchEventHandler<typeof EventTypes.VerificationRequested>, OnModuleInit {
  private signingKey!: KeyObject;

  constructor(
    private readonly repository: VerifierRepository,
    private readonly keys: ServiceKeys,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  /** The verifier signs its reads with its own key; the gateway holds only the public key. */
  onModuleInit(): void {
    this.signingKey = this.keys.signingKey('verifier');
  }

  async handle(batch: ReadonlyArray<Consumed<typeof EventTypes.VerificationRequested>>, uow: UnitOfWork): Promise<void> {
    await loadCel();
    const specs = await this.repository.activeSpecs(uow, batch.flatMap(({ event }) => (event.data.tool ? [event.data.tool] : [])));
    const planned = batch.map(({ event }) => {
      const d = event.data;
      const spec = d.tool ? specs.get(d.tool) : undefined;
      const call: VerifiedCall = { runId: d.runId, claim: d.claim, tool: d.tool ?? '', executionId: d.executionId, arguments: d.arguments ?? {}, output: d.output ?? {} };
      return { event, checks: spec && spec.verification.length > 0 ? spec.verification.map((check, i) => planCheck(check, i, call)) : undefined };
    });
    // A read is only ever asked of a read tool: a check naming a tool the manifest says changes the world is not run.
    const readTools = await this.repository.activeSpecs(uow, planned.flatMap((p) => (p.checks ?? []).flatMap((c) => (c.read ? [c.read.tool] : []))));
    for (const p of planned) {
      p.checks = p.checks?.map((c, i) => {
        const sideEffect = c.read ? readTools.get(c.read.tool)?.sideEffect : undefined;
        if (!c.read || sideEffect === undefined || sideEffect === 'read') return c;
        return { check: c.check, spec: c.spec, status: 'error', reasons: [{ code: 'read_tool_not_read_only', message: `check ${i} (${c.check}) names ${c.read.tool}, a ${sideEffect} tool: the verifier reads systems of record only with read tools` }] };
      });
    }

    const requestedAt = new Date().toISOString();
    const rows: VerificationRow[] = [];
    const tally = new Tally();
    for (const { event, checks } of planned) {
      const d = event.data;
      const row: VerificationRow = {
        id: randomUUID(),
        run_id: d.runId,
        step_id: d.stepId,
        system: d.claim.system,
        entity: d.claim.entity,
        record_id: d.claim.id,
        status: 'pending',
        verdict: null,
        claimed: d.claim.fields,
        observed: null,
        tool: d.tool ?? null,
        execution_id: d.executionId ?? null,
        arguments: d.arguments ?? null,
        output: d.output ?? null,
        checks: checks ?? [],
        reasons: [],
        settled_at: null,
      };
      rows.push(row);
      if (!checks) {
        const reasons: Reason[] = [
          {
            code: 'no_verification_spec',
            message: d.tool
              ? `tool ${d.tool} declares no verification checks in the tool manifest (or is not registered): nothing is confirmed without a check`
              : 'the request names no tool, so no verification check applies: nothing is confirmed without a check',
          },
        ];
        Object.assign(row, settle(uow, event, row, { verdict: 'unsupported', reasons }, tally));
        continue;
      }
      checks.forEach((c) => {
        if (c.status !== 'awaiting_read') tally.checks.push({ check: c.check, result: c.status });
      });
      if (checks.every((c) => c.status !== 'awaiting_read')) {
        Object.assign(row, settle(uow, event, row, verdictOf(checks), tally));
        continue;
      }
      checks.forEach((c, i) => {
        if (c.status !== 'awaiting_read' || !c.read) return;
        const signed = signVerificationRead(this.signingKey, { runId: row.run_id, verificationId: row.id, check: i, tool: c.read.tool, arguments: c.read.arguments, requestedAt });
        uow.emit(EventTypes.VerificationReadRequested, signed, { cause: event });
      });
    }
    await this.repository.insertVerifications(uow, rows);
    tally.countAfterCommit(uow, this.deps);
  }
}

/**
 * The gateway's answers to the verifier's reads. An answer counts only for a pending verification
 * and a check that asked exactly that tool; anything else is skipped, and a repeated or late
 * answer changes nothing. When a verification's last check settles, its verdict is sent once.
 */
@Injectable()
@HandlesEvents(VERIFIER_SERVICE, [EventTypes.VerificationReadCompleted])
export class VerificationReadsHandler implements BatchEventHandler<typeof EventTypes.VerificationReadCompleted>, OnModuleInit {
  private readonly logger = new Logger(VERIFIER_SERVICE);
  private gatewayKey!: KeyObject;

  constructor(
    private readonly repository: VerifierRepository,
    private readonly keys: ServiceKeys,
    @Inject(ENDPOINT_DEPS) private readonly deps: ServiceEndpointDeps,
  ) {}

  /** Only answers signed with the tool gateway's key count: a distributed verifier without its public key does not start. */
  onModuleInit(): void {
    this.gatewayKey = this.keys.publicKey('gateway');
  }

  async handle(batch: ReadonlyArray<Consumed<typeof EventTypes.VerificationReadCompleted>>, uow: UnitOfWork): Promise<void> {
    await loadCel();
    const rows = await this.repository.lockVerifications(uow, batch.map(({ event }) => event.data.verificationId));
    const changed = new Map<string, VerificationRow>();
    const tally = new Tally();
    const skipped: string[] = [];
    const ignored: string[] = [];
    const forged: string[] = [];
    for (const { event } of batch) {
      const d = event.data;
      const unsigned = checkVerificationAnswer(this.gatewayKey, d);
      if (unsigned) {
        // Whoever can write the topic is not the gateway: the check waits for a genuine answer.
        forged.push(unsigned.code);
        skipped.push(`read answer ${event.id} (verification ${d.verificationId}, check ${d.check}): ${unsigned.code}: ${unsigned.message}`);
        continue;
      }
      const row = rows.get(d.verificationId);
      const state: CheckState | undefined = row?.checks[d.check];
      const which = `read answer ${event.id} (verification ${d.verificationId}, check ${d.check}, ${d.tool})`;
      if (!row || row.run_id !== d.runId) {
        skipped.push(`${which}: no verification of run ${d.runId} by that id was begun by this verifier`);
        continue;
      }
      if (!state?.read || state.read.tool !== d.tool) {
        skipped.push(`${which}: the verifier asked no read of ${d.tool} for that check`);
        continue;
      }
      if (row.status !== 'pending' || state.status !== 'awaiting_read') {
        ignored.push(`${which}: the check is settled already`);
        continue;
      }
      const call: VerifiedCall = { runId: row.run_id, claim: claimOf(row), tool: row.tool ?? '', executionId: row.execution_id ?? undefined, arguments: row.arguments ?? {}, output: row.output ?? {} };
      const next = settleCheck(state, d.check, call, { tool: d.tool, executionId: d.executionId, status: d.status, output: d.output, reasons: d.reasons });
      row.checks = row.checks.map((c, i) => (i === d.check ? next : c));
      tally.checks.push({ check: next.check, result: next.status as CheckResult });
      changed.set(row.id, row);
      if (row.checks.every((c) => c.status !== 'awaiting_read')) Object.assign(row, settle(uow, event, row, verdictOf(row.checks), tally));
    }
    await this.repository.updateVerifications(
      uow,
      [...changed.values()].map((r): VerificationUpdate => ({ id: r.id, status: r.status, verdict: r.verdict, observed: r.observed, checks: r.checks, reasons: r.reasons, settled_at: r.settled_at })),
    );
    tally.countAfterCommit(uow, this.deps);
    if (skipped.length > 0 || ignored.length > 0) {
      uow.afterCommit(() => {
        for (const reason of forged) this.deps.metrics.verificationAnswersRefused.inc({ service: VERIFIER_SERVICE, reason });
        for (const s of skipped) this.logger.warn(`skipped ${s}`);
        for (const s of ignored) this.logger.debug(`ignored ${s}`);
      });
    }
  }
}

/** Sends a verification's one verdict and answers the row's settled columns. */
function settle(
  uow: UnitOfWork,
  cause: GovmeshEvent,
  row: VerificationRow,
  outcome: { verdict: Verdict; reasons: Reason[]; observed?: Record<string, unknown> },
  tally: Tally,
): Pick<VerificationRow, 'status' | 'verdict' | 'observed' | 'reasons' | 'settled_at'> {
  const { verdict, reasons, observed } = outcome;
  uow.emit(EventTypes.VerificationCompleted, { runId: row.run_id, stepId: row.step_id, verdict, ...(observed ? { observed } : {}), reasons }, { cause });
  tally.verdicts.push(verdict);
  return { status: 'settled', verdict, observed: observed ?? null, reasons, settled_at: new Date().toISOString() };
}
