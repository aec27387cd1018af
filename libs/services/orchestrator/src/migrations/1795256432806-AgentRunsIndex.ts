import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AgentRunsIndex1795256432806 implements MigrationInterface {
  name = 'AgentRunsIndex1795256432806';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE INDEX \"runs_agent_active_idx\" ON \"orchestrator\".\"runs\" (\"agent_id\") WHERE status <> 'completed'");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"orchestrator\".\"runs_agent_active_idx\"");
  }
}
