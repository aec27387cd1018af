import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Initial1795225288897 implements MigrationInterface {
  name = 'Initial1795225288897';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"orchestrator\".\"outbox\" (\"seq\" BIGSERIAL NOT NULL, \"event_id\" character varying(128) NOT NULL, \"topic\" character varying(255) NOT NULL, \"message_key\" character varying(255), \"value\" text NOT NULL, \"headers\" jsonb NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_acf0725c6a7245b71c651964ee4\" PRIMARY KEY (\"seq\"))");
    await queryRunner.query("CREATE UNIQUE INDEX \"outbox_event_id_key\" ON \"orchestrator\".\"outbox\" (\"event_id\") ");
    await queryRunner.query("CREATE TABLE \"orchestrator\".\"inbox\" (\"event_id\" character varying(255) NOT NULL, \"topic\" character varying(255) NOT NULL, \"received_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_9b85eb4cab41c7c6023b1e579d0\" PRIMARY KEY (\"event_id\"))");
    await queryRunner.query("CREATE INDEX \"inbox_received_at_idx\" ON \"orchestrator\".\"inbox\" (\"received_at\") ");
    await queryRunner.query("CREATE TABLE \"orchestrator\".\"runs\" (\"id\" character varying(128) NOT NULL, \"agent_id\" character varying(128) NOT NULL, \"agent_version\" character varying(64), \"task\" text NOT NULL, \"input\" jsonb NOT NULL DEFAULT '{}', \"status\" character varying(32) NOT NULL, \"outcome\" character varying(32), \"current_step\" character varying(64), \"workflow_id\" character varying(128) NOT NULL, \"workflow_version\" integer NOT NULL, \"proposal\" jsonb, \"reasons\" jsonb NOT NULL DEFAULT '[]', \"result\" jsonb, \"source\" character varying(16) NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), \"updated_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), \"completed_at\" TIMESTAMP WITH TIME ZONE, CONSTRAINT \"PK_46d6a1e257c38ba58f1a3c30836\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE INDEX \"runs_status_idx\" ON \"orchestrator\".\"runs\" (\"status\") ");
    await queryRunner.query("CREATE TABLE \"orchestrator\".\"run_timeline\" (\"seq\" BIGSERIAL NOT NULL, \"run_id\" character varying(128) NOT NULL, \"step_id\" character varying(64), \"kind\" character varying(64) NOT NULL, \"event_type\" character varying(128), \"event_id\" character varying(128), \"detail\" jsonb NOT NULL DEFAULT '{}', \"at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_86e39e83b1a253dcce89f3872ae\" PRIMARY KEY (\"seq\"))");
    await queryRunner.query("CREATE INDEX \"run_timeline_run_idx\" ON \"orchestrator\".\"run_timeline\" (\"run_id\", \"seq\") ");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"orchestrator\".\"run_timeline_run_idx\"");
    await queryRunner.query("DROP TABLE \"orchestrator\".\"run_timeline\"");
    await queryRunner.query("DROP INDEX \"orchestrator\".\"runs_status_idx\"");
    await queryRunner.query("DROP TABLE \"orchestrator\".\"runs\"");
    await queryRunner.query("DROP INDEX \"orchestrator\".\"inbox_received_at_idx\"");
    await queryRunner.query("DROP TABLE \"orchestrator\".\"inbox\"");
    await queryRunner.query("DROP INDEX \"orchestrator\".\"outbox_event_id_key\"");
    await queryRunner.query("DROP TABLE \"orchestrator\".\"outbox\"");
  }
}
