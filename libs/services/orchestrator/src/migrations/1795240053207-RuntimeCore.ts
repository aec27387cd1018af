import type { MigrationInterface, QueryRunner } from 'typeorm';

export class RuntimeCore1795240053207 implements MigrationInterface {
  name = 'RuntimeCore1795240053207';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"orchestrator\".\"outbox_failed\" (\"seq\" BIGSERIAL NOT NULL, \"event_id\" character varying(128) NOT NULL, \"topic\" character varying(255) NOT NULL, \"message_key\" character varying(255), \"value\" text NOT NULL, \"headers\" jsonb NOT NULL, \"reason_code\" character varying(64) NOT NULL, \"reason\" text NOT NULL, \"failed_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_3d1acbf1405455ad2c92e1c07d6\" PRIMARY KEY (\"seq\"))");
    await queryRunner.query("CREATE TABLE \"orchestrator\".\"timers\" (\"id\" character varying(200) NOT NULL, \"purpose\" character varying(64) NOT NULL, \"run_id\" character varying(128) NOT NULL, \"due_at\" TIMESTAMP WITH TIME ZONE NOT NULL, \"payload\" jsonb NOT NULL DEFAULT '{}', \"fired_at\" TIMESTAMP WITH TIME ZONE, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_d13ea0d2fe75274ca5a9576aae6\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE INDEX \"timers_due_idx\" ON \"orchestrator\".\"timers\" (\"due_at\") WHERE fired_at IS NULL");
    await queryRunner.query("CREATE TABLE \"orchestrator\".\"effects\" (\"key\" character varying(255) NOT NULL, \"kind\" character varying(64) NOT NULL, \"run_id\" character varying(128) NOT NULL, \"payload\" jsonb NOT NULL, \"status\" character varying(16) NOT NULL, \"attempts\" integer NOT NULL DEFAULT '0', \"timeout_ms\" integer NOT NULL, \"lease_until\" TIMESTAMP WITH TIME ZONE, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_1b35e6bd37b4c9e4dc736d6070c\" PRIMARY KEY (\"key\"))");
    await queryRunner.query("CREATE INDEX \"effects_claim_idx\" ON \"orchestrator\".\"effects\" (\"status\", \"created_at\") ");
    // Runs from before deadlines existed get the default workflow's deadline from their start.
    await queryRunner.query("ALTER TABLE \"orchestrator\".\"runs\" ADD \"deadline_at\" TIMESTAMP WITH TIME ZONE");
    await queryRunner.query("UPDATE \"orchestrator\".\"runs\" SET \"deadline_at\" = \"created_at\" + interval '300 seconds'");
    await queryRunner.query("ALTER TABLE \"orchestrator\".\"runs\" ALTER COLUMN \"deadline_at\" SET NOT NULL");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("ALTER TABLE \"orchestrator\".\"runs\" DROP COLUMN \"deadline_at\"");
    await queryRunner.query("DROP INDEX \"orchestrator\".\"effects_claim_idx\"");
    await queryRunner.query("DROP TABLE \"orchestrator\".\"effects\"");
    await queryRunner.query("DROP INDEX \"orchestrator\".\"timers_due_idx\"");
    await queryRunner.query("DROP TABLE \"orchestrator\".\"timers\"");
    await queryRunner.query("DROP TABLE \"orchestrator\".\"outbox_failed\"");
  }
}
