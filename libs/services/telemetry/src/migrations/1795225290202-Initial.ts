import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Initial1795225290202 implements MigrationInterface {
  name = 'Initial1795225290202';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"telemetry\".\"outbox\" (\"seq\" BIGSERIAL NOT NULL, \"event_id\" character varying(128) NOT NULL, \"topic\" character varying(255) NOT NULL, \"message_key\" character varying(255), \"value\" text NOT NULL, \"headers\" jsonb NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_acf0725c6a7245b71c651964ee4\" PRIMARY KEY (\"seq\"))");
    await queryRunner.query("CREATE UNIQUE INDEX \"outbox_event_id_key\" ON \"telemetry\".\"outbox\" (\"event_id\") ");
    await queryRunner.query("CREATE TABLE \"telemetry\".\"inbox\" (\"event_id\" character varying(255) NOT NULL, \"topic\" character varying(255) NOT NULL, \"received_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_9b85eb4cab41c7c6023b1e579d0\" PRIMARY KEY (\"event_id\"))");
    await queryRunner.query("CREATE INDEX \"inbox_received_at_idx\" ON \"telemetry\".\"inbox\" (\"received_at\") ");
    await queryRunner.query("CREATE TABLE \"telemetry\".\"audit_records\" (\"seq\" bigint NOT NULL, \"event_id\" character varying(255) NOT NULL, \"type\" character varying(128) NOT NULL, \"run_id\" character varying(128), \"topic\" character varying(255) NOT NULL, \"occurred_at\" TIMESTAMP WITH TIME ZONE NOT NULL, \"recorded_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), \"payload\" jsonb NOT NULL, \"payload_digest\" character(64) NOT NULL, \"prev_hash\" character(64) NOT NULL, \"hash\" character(64) NOT NULL, CONSTRAINT \"PK_849d46c77cbd8a25c1e3cb456ff\" PRIMARY KEY (\"seq\"))");
    await queryRunner.query("CREATE UNIQUE INDEX \"audit_records_event_key\" ON \"telemetry\".\"audit_records\" (\"event_id\") ");
    await queryRunner.query("CREATE INDEX \"audit_records_run_idx\" ON \"telemetry\".\"audit_records\" (\"run_id\", \"seq\") ");
    await queryRunner.query("CREATE TABLE \"telemetry\".\"audit_chain_head\" (\"id\" smallint NOT NULL, \"seq\" bigint NOT NULL, \"hash\" character(64) NOT NULL, CONSTRAINT \"PK_9211408bf584034de409b1bbec5\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE TABLE \"telemetry\".\"dead_letters\" (\"id\" character varying(255) NOT NULL, \"reason_code\" character varying(64) NOT NULL, \"reason\" text NOT NULL, \"original_topic\" character varying(255) NOT NULL, \"original_partition\" integer NOT NULL, \"original_offset\" character varying(32) NOT NULL, \"consumer_group\" character varying(255) NOT NULL, \"message_key\" character varying(255), \"headers\" jsonb NOT NULL, \"value\" text NOT NULL, \"value_encoding\" character varying(8) NOT NULL, \"failed_at\" TIMESTAMP WITH TIME ZONE, \"recorded_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_084e63809483fb0a9c48aae607f\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE INDEX \"dead_letters_reason_idx\" ON \"telemetry\".\"dead_letters\" (\"reason_code\") ");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"telemetry\".\"dead_letters_reason_idx\"");
    await queryRunner.query("DROP TABLE \"telemetry\".\"dead_letters\"");
    await queryRunner.query("DROP TABLE \"telemetry\".\"audit_chain_head\"");
    await queryRunner.query("DROP INDEX \"telemetry\".\"audit_records_run_idx\"");
    await queryRunner.query("DROP INDEX \"telemetry\".\"audit_records_event_key\"");
    await queryRunner.query("DROP TABLE \"telemetry\".\"audit_records\"");
    await queryRunner.query("DROP INDEX \"telemetry\".\"inbox_received_at_idx\"");
    await queryRunner.query("DROP TABLE \"telemetry\".\"inbox\"");
    await queryRunner.query("DROP INDEX \"telemetry\".\"outbox_event_id_key\"");
    await queryRunner.query("DROP TABLE \"telemetry\".\"outbox\"");
  }
}
