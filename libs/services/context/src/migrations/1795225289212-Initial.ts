import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Initial1795225289212 implements MigrationInterface {
  name = 'Initial1795225289212';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"context\".\"outbox\" (\"seq\" BIGSERIAL NOT NULL, \"event_id\" character varying(128) NOT NULL, \"topic\" character varying(255) NOT NULL, \"message_key\" character varying(255), \"value\" text NOT NULL, \"headers\" jsonb NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_acf0725c6a7245b71c651964ee4\" PRIMARY KEY (\"seq\"))");
    await queryRunner.query("CREATE UNIQUE INDEX \"outbox_event_id_key\" ON \"context\".\"outbox\" (\"event_id\") ");
    await queryRunner.query("CREATE TABLE \"context\".\"inbox\" (\"event_id\" character varying(255) NOT NULL, \"topic\" character varying(255) NOT NULL, \"received_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_9b85eb4cab41c7c6023b1e579d0\" PRIMARY KEY (\"event_id\"))");
    await queryRunner.query("CREATE INDEX \"inbox_received_at_idx\" ON \"context\".\"inbox\" (\"received_at\") ");
    await queryRunner.query("CREATE TABLE \"context\".\"documents\" (\"id\" character varying(128) NOT NULL, \"title\" text NOT NULL, \"body\" text NOT NULL, \"source\" character varying(512) NOT NULL, \"classification\" character varying(32) NOT NULL, \"allowed_agents\" text array NOT NULL, \"updated_at\" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT \"PK_ac51aa5181ee2036f5ca482857c\" PRIMARY KEY (\"id\"))");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP TABLE \"context\".\"documents\"");
    await queryRunner.query("DROP INDEX \"context\".\"inbox_received_at_idx\"");
    await queryRunner.query("DROP TABLE \"context\".\"inbox\"");
    await queryRunner.query("DROP INDEX \"context\".\"outbox_event_id_key\"");
    await queryRunner.query("DROP TABLE \"context\".\"outbox\"");
  }
}
