import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Initial1795225288766 implements MigrationInterface {
  name = 'Initial1795225288766';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"policy\".\"outbox\" (\"seq\" BIGSERIAL NOT NULL, \"event_id\" character varying(128) NOT NULL, \"topic\" character varying(255) NOT NULL, \"message_key\" character varying(255), \"value\" text NOT NULL, \"headers\" jsonb NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_acf0725c6a7245b71c651964ee4\" PRIMARY KEY (\"seq\"))");
    await queryRunner.query("CREATE UNIQUE INDEX \"outbox_event_id_key\" ON \"policy\".\"outbox\" (\"event_id\") ");
    await queryRunner.query("CREATE TABLE \"policy\".\"inbox\" (\"event_id\" character varying(255) NOT NULL, \"topic\" character varying(255) NOT NULL, \"received_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_9b85eb4cab41c7c6023b1e579d0\" PRIMARY KEY (\"event_id\"))");
    await queryRunner.query("CREATE INDEX \"inbox_received_at_idx\" ON \"policy\".\"inbox\" (\"received_at\") ");
    await queryRunner.query("CREATE TABLE \"policy\".\"agents\" (\"id\" character varying(128) NOT NULL, \"version\" character varying(64) NOT NULL, \"owner\" character varying(128) NOT NULL, \"tier\" character varying(32) NOT NULL, \"status\" character varying(16) NOT NULL, \"description\" text NOT NULL DEFAULT '', \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), \"updated_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_9c653f28ae19c5884d5baf6a1d9\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE TABLE \"policy\".\"tool_profiles\" (\"name\" character varying(128) NOT NULL, \"side_effect\" character varying(16) NOT NULL, CONSTRAINT \"PK_745ae070383859a57985260de34\" PRIMARY KEY (\"name\"))");
    await queryRunner.query("CREATE TABLE \"policy\".\"decisions\" (\"id\" uuid NOT NULL, \"run_id\" character varying(128) NOT NULL, \"step_id\" character varying(64), \"subject\" character varying(16) NOT NULL, \"agent_id\" character varying(128) NOT NULL, \"effect\" character varying(32) NOT NULL, \"reasons\" jsonb NOT NULL, \"policy_version\" character varying(64) NOT NULL, \"grant_id\" character varying(64), \"decided_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_48eee6fa229cd5e43648f6a2ec3\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE INDEX \"decisions_run_idx\" ON \"policy\".\"decisions\" (\"run_id\") ");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"policy\".\"decisions_run_idx\"");
    await queryRunner.query("DROP TABLE \"policy\".\"decisions\"");
    await queryRunner.query("DROP TABLE \"policy\".\"tool_profiles\"");
    await queryRunner.query("DROP TABLE \"policy\".\"agents\"");
    await queryRunner.query("DROP INDEX \"policy\".\"inbox_received_at_idx\"");
    await queryRunner.query("DROP TABLE \"policy\".\"inbox\"");
    await queryRunner.query("DROP INDEX \"policy\".\"outbox_event_id_key\"");
    await queryRunner.query("DROP TABLE \"policy\".\"outbox\"");
  }
}
