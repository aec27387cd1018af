export * from './orchestrator.module';
export * from './database';
export * from './runs/runs.service';
export * from './runs/run-state';
export * from './workflows/workflow-registry';
