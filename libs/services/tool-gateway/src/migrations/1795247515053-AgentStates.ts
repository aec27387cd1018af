import type { MigrationInterface, QueryRunner } from 'typeorm';

export class AgentStates1795247515053 implements MigrationInterface {
  name = 'AgentStates1795247515053';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"tool_gateway\".\"agent_states\" (\"agent_id\" character varying(128) NOT NULL, \"status\" character varying(16) NOT NULL, \"revoked_versions\" jsonb NOT NULL DEFAULT '[]', \"changed_at\" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT \"PK_bce7b1c1dfa0c05b302e6e5bd3e\" PRIMARY KEY (\"agent_id\"))");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP TABLE \"tool_gateway\".\"agent_states\"");
  }
}
