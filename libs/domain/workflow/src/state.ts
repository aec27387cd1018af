import type { ReviewLevel } from './definition';

export interface Reason {
  code: string;
  message: string;
}

export type RunOutcome = 'verified' | 'succeeded' | 'denied' | 'failed' | 'verification_failed' | 'timed_out' | 'cancelled' | 'rejected' | 'expired';
export type RunStatus = 'pending' | 'running' | 'awaiting_approval' | 'escalated' | 'paused' | 'completed';
export type ReviewKind = 'approval' | 'checkpoint' | 'escalation';

export interface ClaimRef {
  system: string;
  entity: string;
  id: string;
  fields: Record<string, unknown>;
}

/** The executed call behind a claim: the verifier evaluates the tool's checks over it. */
export interface ClaimedCall {
  tool: string;
  executionId: string;
  arguments: Record<string, unknown>;
  output?: Record<string, unknown>;
}

export interface ProposedAction {
  tool: string;
  arguments: Record<string, unknown>;
  rationale?: string;
  /** Digest of agent, version, tool and arguments: what an approval binds to. */
  digest: string;
}

/** Where a run is: the step execution under way and what it waits for. */
export interface StepCursor {
  stepId: string;
  /** Step-execution id, `<step id>#<n>`: unique in the run; commands carry it and replies are matched by it. */
  execId: string;
  /** Attempt of this step in the current visit, from 1. */
  attempt: number;
  /**
   * requested: a command is out, its reply awaited; deciding: policy decides the action; reviewing:
   * a human decides; executing: the gateway runs the granted call; waiting: a wait step's timer;
   * backoff: a retry's timer; pending: the step starts when the run resumes.
   */
  phase: 'requested' | 'deciding' | 'reviewing' | 'executing' | 'waiting' | 'backoff' | 'pending';
  action?: ProposedAction;
  /** The idempotency key of an action step's side effect: kept across attempts of one visit. */
  idempotencyKey?: string;
  /** A reviewer's approval of this step's action: a retry of exactly that action carries it again. */
  approval?: ApprovalGiven;
}

/** A reviewer's approval of one action digest, as the run keeps it. */
export interface ApprovalGiven {
  reviewId: string;
  digest: string;
  reviewer: { id: string; name?: string; groups: string[] };
  decidedAt: string;
}

export type EscalationCase =
  | 'intent_held'
  | 'input_incomplete'
  | 'model_output_invalid'
  | 'model_low_confidence'
  | 'tool_failed'
  | 'step_timed_out'
  | 'verification_mismatch'
  | 'expression_failed';

/** The human decision a run waits for. The full item (state, context) lives with the orchestrator. */
export interface OpenReview {
  id: string;
  kind: ReviewKind;
  stepId: string | null;
  execId: string | null;
  escalationCase?: EscalationCase;
  level: number;
  levels: ReviewLevel[];
  /** Policy's approver groups for an action approval: a reviewer must be in one of them too. */
  policyApprovers: string[];
  digest?: string;
  /**
   * The autonomy tier at stake: policy's effective tier for an action approval, else the
   * workflow's. Recorded with the decision (and on its trace) so a reviewer's call can be read
   * against the risk it covered.
   */
  riskTier?: string;
  requestedAt: string;
  /** When the current level's SLA runs out. */
  dueAt: string;
  expiresAt: string | null;
  onExpiry: 'fail' | 'escalate';
  /** The decisions a reviewer may make on this item. */
  decisions: ReviewDecision[];
}

export type ReviewDecision = 'approve' | 'reject' | 'edit' | 'supply' | 'take_over' | 'retry' | 'abort';

/** A run as the interpreter sees it: plain data, stored by the orchestrator. */
export interface WorkflowRun {
  runId: string;
  agentId: string;
  agentVersion: string | null;
  /** The principal that submitted the intent: never its reviewer. */
  requester: string;
  task: string;
  input: Record<string, unknown>;
  workflowId: string;
  workflowVersion: number;
  status: RunStatus;
  outcome: RunOutcome | null;
  reasons: Reason[];
  cursor: StepCursor | null;
  /** Outputs of finished steps by step id: what CEL sees as `steps`. */
  outputs: Record<string, unknown>;
  /** Claims made by action steps (by step id) and whether the system of record confirmed them. */
  claims: Record<string, { claim: ClaimRef; verified: 'pending' | 'confirmed' | 'reviewer'; call?: ClaimedCall }>;
  review: OpenReview | null;
  /**
   * The agent was suspended: the run stops at its next step and waits for it to be reactivated.
   * While paused nothing is asked of a reviewer: open review items are withdrawn, none is opened.
   */
  paused: boolean;
  /**
   * Policy held the intent for a human (`require_approval` or `escalate`): kept until a reviewer lets
   * the run begin, so that a hold withdrawn by a pause is asked again when the run resumes.
   */
  heldIntent?: { effect: 'require_approval' | 'escalate'; reasons: Reason[]; policyVersion: string };
  /** Steps a reviewer took over (recorded the outcome themselves): such a run is never `verified`. */
  overrides: string[];
  /** Step executions so far (numbers execution ids; bounds loops). */
  executions: number;
  result: Record<string, unknown> | null;
  startedAt: string;
  deadlineAt: string;
  completedAt: string | null;
}

/** The reviewer as authenticated by the API: never taken from a request body. */
export interface Reviewer {
  id: string;
  name?: string;
  roles: readonly string[];
  groups: readonly string[];
  agentId?: string;
}
