import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Initial1795225289927 implements MigrationInterface {
  name = 'Initial1795225289927';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"verifier\".\"outbox\" (\"seq\" BIGSERIAL NOT NULL, \"event_id\" character varying(128) NOT NULL, \"topic\" character varying(255) NOT NULL, \"message_key\" character varying(255), \"value\" text NOT NULL, \"headers\" jsonb NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_acf0725c6a7245b71c651964ee4\" PRIMARY KEY (\"seq\"))");
    await queryRunner.query("CREATE UNIQUE INDEX \"outbox_event_id_key\" ON \"verifier\".\"outbox\" (\"event_id\") ");
    await queryRunner.query("CREATE TABLE \"verifier\".\"inbox\" (\"event_id\" character varying(255) NOT NULL, \"topic\" character varying(255) NOT NULL, \"received_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_9b85eb4cab41c7c6023b1e579d0\" PRIMARY KEY (\"event_id\"))");
    await queryRunner.query("CREATE INDEX \"inbox_received_at_idx\" ON \"verifier\".\"inbox\" (\"received_at\") ");
    await queryRunner.query("CREATE TABLE \"verifier\".\"verifications\" (\"id\" uuid NOT NULL, \"run_id\" character varying(128) NOT NULL, \"step_id\" character varying(64) NOT NULL, \"system\" character varying(64) NOT NULL, \"entity\" character varying(64) NOT NULL, \"record_id\" character varying(128) NOT NULL, \"verdict\" character varying(16) NOT NULL, \"claimed\" jsonb, \"observed\" jsonb, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_2127ad1b143cf012280390b01d1\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE INDEX \"verifications_run_idx\" ON \"verifier\".\"verifications\" (\"run_id\") ");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"verifier\".\"verifications_run_idx\"");
    await queryRunner.query("DROP TABLE \"verifier\".\"verifications\"");
    await queryRunner.query("DROP INDEX \"verifier\".\"inbox_received_at_idx\"");
    await queryRunner.query("DROP TABLE \"verifier\".\"inbox\"");
    await queryRunner.query("DROP INDEX \"verifier\".\"outbox_event_id_key\"");
    await queryRunner.query("DROP TABLE \"verifier\".\"outbox\"");
  }
}
