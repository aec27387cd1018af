import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Workflows1795252845872 implements MigrationInterface {
  name = 'Workflows1795252845872';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"orchestrator\".\"workflow_definitions\" (\"id\" character varying(64) NOT NULL, \"version\" integer NOT NULL, \"definition\" jsonb NOT NULL, \"digest\" character varying(64) NOT NULL, \"published_by\" character varying(300) NOT NULL, \"published_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_0754d3355dbb064ac2639c7c910\" PRIMARY KEY (\"id\", \"version\"))");
    await queryRunner.query("CREATE TABLE \"orchestrator\".\"run_steps\" (\"run_id\" character varying(128) NOT NULL, \"id\" character varying(64) NOT NULL, \"step_id\" character varying(64) NOT NULL, \"attempt\" integer NOT NULL, \"status\" character varying(16) NOT NULL, \"input_digest\" character varying(64), \"output\" jsonb, \"reasons\" jsonb NOT NULL DEFAULT '[]', \"due_at\" TIMESTAMP WITH TIME ZONE, \"started_at\" TIMESTAMP WITH TIME ZONE NOT NULL, \"ended_at\" TIMESTAMP WITH TIME ZONE, CONSTRAINT \"PK_65f446dcbbfd455d92d7d7e6958\" PRIMARY KEY (\"run_id\", \"id\"))");
    await queryRunner.query("CREATE INDEX \"run_steps_status_idx\" ON \"orchestrator\".\"run_steps\" (\"status\") ");
    await queryRunner.query("CREATE TABLE \"orchestrator\".\"review_items\" (\"id\" character varying(64) NOT NULL, \"run_id\" character varying(128) NOT NULL, \"kind\" character varying(16) NOT NULL, \"escalation_case\" character varying(32), \"step_id\" character varying(64), \"exec_id\" character varying(64), \"agent_id\" character varying(128) NOT NULL, \"requester\" character varying(300) NOT NULL, \"status\" character varying(16) NOT NULL, \"level\" integer NOT NULL, \"eligible_groups\" jsonb NOT NULL, \"levels\" jsonb NOT NULL, \"policy_approvers\" jsonb NOT NULL DEFAULT '[]', \"digest\" character varying(64), \"reasons\" jsonb NOT NULL, \"state\" jsonb NOT NULL, \"decisions\" jsonb NOT NULL, \"requested_at\" TIMESTAMP WITH TIME ZONE NOT NULL, \"due_at\" TIMESTAMP WITH TIME ZONE, \"expires_at\" TIMESTAMP WITH TIME ZONE, \"decided_at\" TIMESTAMP WITH TIME ZONE, \"decision\" character varying(16), \"decided_by\" jsonb, \"decision_reason\" text, \"history\" jsonb NOT NULL DEFAULT '[]', CONSTRAINT \"PK_417e5a69fd5f01f31e3c0303dfe\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE INDEX \"review_items_run_idx\" ON \"orchestrator\".\"review_items\" (\"run_id\") ");
    await queryRunner.query("CREATE INDEX \"review_items_status_idx\" ON \"orchestrator\".\"review_items\" (\"status\", \"kind\", \"requested_at\") ");
    await queryRunner.query("ALTER TABLE \"orchestrator\".\"runs\" DROP COLUMN \"proposal\"");
    await queryRunner.query("ALTER TABLE \"orchestrator\".\"runs\" ADD \"requester\" character varying(300) NOT NULL DEFAULT ''");
    await queryRunner.query("ALTER TABLE \"orchestrator\".\"runs\" ADD \"workflow_state\" jsonb NOT NULL DEFAULT '{}'");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("ALTER TABLE \"orchestrator\".\"runs\" DROP COLUMN \"workflow_state\"");
    await queryRunner.query("ALTER TABLE \"orchestrator\".\"runs\" DROP COLUMN \"requester\"");
    await queryRunner.query("ALTER TABLE \"orchestrator\".\"runs\" ADD \"proposal\" jsonb");
    await queryRunner.query("DROP INDEX \"orchestrator\".\"review_items_status_idx\"");
    await queryRunner.query("DROP INDEX \"orchestrator\".\"review_items_run_idx\"");
    await queryRunner.query("DROP TABLE \"orchestrator\".\"review_items\"");
    await queryRunner.query("DROP INDEX \"orchestrator\".\"run_steps_status_idx\"");
    await queryRunner.query("DROP TABLE \"orchestrator\".\"run_steps\"");
    await queryRunner.query("DROP TABLE \"orchestrator\".\"workflow_definitions\"");
  }
}
