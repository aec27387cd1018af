import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Initial1795225289521 implements MigrationInterface {
  name = 'Initial1795225289521';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE SCHEMA IF NOT EXISTS \"sandbox\"");
    await queryRunner.query("CREATE TABLE \"tool_gateway\".\"outbox\" (\"seq\" BIGSERIAL NOT NULL, \"event_id\" character varying(128) NOT NULL, \"topic\" character varying(255) NOT NULL, \"message_key\" character varying(255), \"value\" text NOT NULL, \"headers\" jsonb NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_acf0725c6a7245b71c651964ee4\" PRIMARY KEY (\"seq\"))");
    await queryRunner.query("CREATE UNIQUE INDEX \"outbox_event_id_key\" ON \"tool_gateway\".\"outbox\" (\"event_id\") ");
    await queryRunner.query("CREATE TABLE \"tool_gateway\".\"inbox\" (\"event_id\" character varying(255) NOT NULL, \"topic\" character varying(255) NOT NULL, \"received_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_9b85eb4cab41c7c6023b1e579d0\" PRIMARY KEY (\"event_id\"))");
    await queryRunner.query("CREATE INDEX \"inbox_received_at_idx\" ON \"tool_gateway\".\"inbox\" (\"received_at\") ");
    await queryRunner.query("CREATE TABLE \"tool_gateway\".\"executions\" (\"id\" uuid NOT NULL, \"run_id\" character varying(128) NOT NULL, \"step_id\" character varying(64) NOT NULL, \"tool\" character varying(128) NOT NULL, \"grant_id\" character varying(64), \"arguments\" jsonb NOT NULL, \"status\" character varying(16) NOT NULL, \"output\" jsonb, \"reasons\" jsonb NOT NULL DEFAULT '[]', \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_703e64e0ef651986191844b7b8b\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE UNIQUE INDEX \"executions_grant_key\" ON \"tool_gateway\".\"executions\" (\"grant_id\") ");
    await queryRunner.query("CREATE INDEX \"executions_run_idx\" ON \"tool_gateway\".\"executions\" (\"run_id\") ");
    await queryRunner.query("CREATE TABLE \"sandbox\".\"accounts\" (\"id\" character varying(32) NOT NULL, \"holder\" character varying(128) NOT NULL, \"status\" character varying(16) NOT NULL, \"balance_cents\" integer NOT NULL, \"updated_at\" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT \"PK_5a7a02c20412299d198e097a8fe\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE TABLE \"sandbox\".\"access_log\" (\"id\" BIGSERIAL NOT NULL, \"account_id\" character varying(32) NOT NULL, \"run_id\" character varying(128) NOT NULL, \"execution_id\" uuid NOT NULL, \"operation\" character varying(16) NOT NULL, \"accessed_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_bd09621fb73b42d9e32b85ae41f\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE INDEX \"access_log_run_idx\" ON \"sandbox\".\"access_log\" (\"run_id\") ");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"sandbox\".\"access_log_run_idx\"");
    await queryRunner.query("DROP TABLE \"sandbox\".\"access_log\"");
    await queryRunner.query("DROP TABLE \"sandbox\".\"accounts\"");
    await queryRunner.query("DROP INDEX \"tool_gateway\".\"executions_run_idx\"");
    await queryRunner.query("DROP INDEX \"tool_gateway\".\"executions_grant_key\"");
    await queryRunner.query("DROP TABLE \"tool_gateway\".\"executions\"");
    await queryRunner.query("DROP INDEX \"tool_gateway\".\"inbox_received_at_idx\"");
    await queryRunner.query("DROP TABLE \"tool_gateway\".\"inbox\"");
    await queryRunner.query("DROP INDEX \"tool_gateway\".\"outbox_event_id_key\"");
    await queryRunner.query("DROP TABLE \"tool_gateway\".\"outbox\"");
  }
}
