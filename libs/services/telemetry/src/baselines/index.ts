import type { RetentionPolicy } from '@govmesh/messaging';
import type { GovmeshConfig } from '@govmesh/nest-runtime';
import { BaselinesController, WorkflowKpisController } from './baseline.controller';
import { BehaviourBaselineHandler } from './baseline.handler';
import { BaselineRepository } from './baseline.repository';

export { BASELINE_ENTITIES } from './baseline.entities';
export { BehaviourBaselineHandler, BASELINE_EVENT_TYPES } from './baseline.handler';

/** The longest window the KPI API answers: run profiles are kept at least this long. */
export const KPI_MAX_WINDOW_DAYS = 90;

export const BASELINE_PROVIDERS = [BaselineRepository, BehaviourBaselineHandler];
export const BASELINE_CONTROLLERS = [BaselinesController, WorkflowKpisController];

/**
 * What telemetry prunes: dead letters past their retention, and baseline state older than it is
 * used (run profiles past the baseline window and the longest KPI window, daily usage and alerts
 * past the window). The audit ledger is never pruned.
 */
export function telemetryRetention(config: GovmeshConfig): RetentionPolicy[] {
  const window = config.baseline.windowDays;
  return [
    { store: 'dead_letters', table: 'dead_letters', key: 'id', olderThan: 't.recorded_at < $1', days: config.retention.deadLetterDays },
    { store: 'run_profiles', table: 'run_profiles', key: 'run_id', olderThan: 'COALESCE(t.completed_at, t.first_seen_at) < $1', days: Math.max(window, KPI_MAX_WINDOW_DAYS) + 1 },
    { store: 'agent_usage', table: 'agent_usage', key: 'ctid', olderThan: 't.day < $1::date', days: window + 1 },
    { store: 'behaviour_alerts', table: 'behaviour_alerts', key: 'ctid', olderThan: 't.raised_at < $1', days: window + 1 },
  ];
}
