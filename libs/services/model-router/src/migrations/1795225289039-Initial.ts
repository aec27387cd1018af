import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Initial1795225289039 implements MigrationInterface {
  name = 'Initial1795225289039';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"model_router\".\"outbox\" (\"seq\" BIGSERIAL NOT NULL, \"event_id\" character varying(128) NOT NULL, \"topic\" character varying(255) NOT NULL, \"message_key\" character varying(255), \"value\" text NOT NULL, \"headers\" jsonb NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_acf0725c6a7245b71c651964ee4\" PRIMARY KEY (\"seq\"))");
    await queryRunner.query("CREATE UNIQUE INDEX \"outbox_event_id_key\" ON \"model_router\".\"outbox\" (\"event_id\") ");
    await queryRunner.query("CREATE TABLE \"model_router\".\"inbox\" (\"event_id\" character varying(255) NOT NULL, \"topic\" character varying(255) NOT NULL, \"received_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_9b85eb4cab41c7c6023b1e579d0\" PRIMARY KEY (\"event_id\"))");
    await queryRunner.query("CREATE INDEX \"inbox_received_at_idx\" ON \"model_router\".\"inbox\" (\"received_at\") ");
    await queryRunner.query("CREATE TABLE \"model_router\".\"model_calls\" (\"id\" uuid NOT NULL, \"run_id\" character varying(128) NOT NULL, \"step_id\" character varying(64) NOT NULL, \"model\" character varying(128) NOT NULL, \"provider\" character varying(64) NOT NULL, \"risk\" character varying(16) NOT NULL, \"routing_reason\" text NOT NULL, \"confidence\" real NOT NULL, \"input_tokens\" integer NOT NULL, \"output_tokens\" integer NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_e2538384974b0960151a53380c1\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE INDEX \"model_calls_run_idx\" ON \"model_router\".\"model_calls\" (\"run_id\") ");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"model_router\".\"model_calls_run_idx\"");
    await queryRunner.query("DROP TABLE \"model_router\".\"model_calls\"");
    await queryRunner.query("DROP INDEX \"model_router\".\"inbox_received_at_idx\"");
    await queryRunner.query("DROP TABLE \"model_router\".\"inbox\"");
    await queryRunner.query("DROP INDEX \"model_router\".\"outbox_event_id_key\"");
    await queryRunner.query("DROP TABLE \"model_router\".\"outbox\"");
  }
}
