import type { KeyObject } from 'node:crypto';
import { approvalDigest, verifyApproval } from '@govmesh/action-grants';
import type { ActionProposedV1 } from '@govmesh/contracts';
import type { PolicyDecision } from '@govmesh/policy-engine';

/** How far ahead of policy's clock an approval's decision time may be (clock skew between services). */
const APPROVAL_MAX_CLOCK_SKEW_MS = 300_000;

export interface ApprovalContext {
  /** The orchestrator's attestation key (the ingress key): the only signer of approvals. */
  attestationKey: KeyObject;
  /** Approvals a decision already consumed (stored or earlier in this batch). */
  used: ReadonlySet<string>;
  now: Date;
}

export interface ApprovedDecision {
  decision: PolicyDecision;
  /** Set when the approval was genuine and fresh: the decision consumes it. */
  consumed?: string;
}

const refused = (decision: PolicyDecision, code: string, message: string): PolicyDecision => ({ ...decision, effect: 'deny', approvers: [], reasons: [{ code, message }] });

/**
 * What a reviewer's approval changes about a decision. Only an approval the orchestrator signed,
 * of exactly this action (digest over agent, version, tool and arguments), decided by someone
 * other than the requester, in one of the groups the checkpoint policy names, and never used
 * before, turns `require_approval` or `escalate` into `allow`. A policy that denies still denies;
 * a forged, replayed or mismatched approval is itself a denial with its reason.
 */
export function applyApproval(decision: PolicyDecision, action: ActionProposedV1, ctx: ApprovalContext): ApprovedDecision {
  const approval = action.approval;
  if (!approval) return { decision };
  if (!verifyApproval(ctx.attestationKey, approval)) {
    return { decision: refused(decision, 'approval_invalid', `approval ${approval.approvalId} does not carry a valid signature of the orchestrator; it approves nothing`) };
  }
  const digest = approvalDigest({ agentId: action.agentId, agentVersion: action.agentVersion ?? '', tool: action.tool, arguments: action.arguments });
  if (approval.digest !== digest) {
    return { decision: refused(decision, 'approval_digest_mismatch', `approval ${approval.approvalId} approved action ${approval.digest.slice(0, 12)}…, not this one (${digest.slice(0, 12)}…): an approval covers exactly the action the reviewer saw`) };
  }
  if (ctx.used.has(approval.approvalId)) {
    return { decision: refused(decision, 'approval_already_used', `approval ${approval.approvalId} was already used for a decision; each approval is honoured once`) };
  }
  if (Date.parse(approval.decidedAt) - ctx.now.getTime() > APPROVAL_MAX_CLOCK_SKEW_MS) {
    return { decision: refused(decision, 'approval_not_yet_valid', `approval ${approval.approvalId} is dated ${approval.decidedAt}, ahead of policy's clock`) };
  }
  if (approval.reviewer.id === approval.requester) {
    return { decision: refused(decision, 'approver_is_requester', `the principal that submitted the work (${approval.requester}) may not approve its own action`), consumed: approval.approvalId };
  }
  if (decision.effect === 'allow' || decision.effect === 'deny') return { decision, consumed: approval.approvalId };
  if (decision.approvers.length > 0 && !approval.reviewer.groups.some((g) => decision.approvers.includes(g))) {
    return {
      decision: refused(decision, 'approver_not_in_group', `this action needs approval by ${decision.approvers.join(' or ')}; the reviewer ${approval.reviewer.id} is in ${approval.reviewer.groups.join(', ') || 'no group'}`),
      consumed: approval.approvalId,
    };
  }
  const who = approval.reviewer.name ? `${approval.reviewer.name} (${approval.reviewer.id})` : approval.reviewer.id;
  return {
    decision: {
      ...decision,
      effect: 'allow',
      reasons: [{ code: 'approved_by_reviewer', message: `${who} of ${approval.reviewer.groups.join(', ')} approved exactly this action (approval ${approval.approvalId}, digest ${digest.slice(0, 12)}…)` }, ...decision.reasons],
    },
    consumed: approval.approvalId,
  };
}
