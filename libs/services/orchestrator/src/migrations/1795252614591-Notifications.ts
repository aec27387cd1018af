import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Reviewer notifications: written with the decision that causes them, delivered to webhooks afterwards. */
export class Notifications1795252614591 implements MigrationInterface {
  name = 'Notifications1795252614591';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"orchestrator\".\"notifications\" (\"id\" uuid NOT NULL, \"item_id\" character varying(128) NOT NULL, \"run_id\" character varying(128) NOT NULL, \"group_name\" character varying(128) NOT NULL, \"event\" character varying(16) NOT NULL, \"text\" text NOT NULL, \"status\" character varying(16) NOT NULL, \"attempts\" integer NOT NULL DEFAULT '0', \"next_attempt_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), \"last_error\" text, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), \"delivered_at\" TIMESTAMP WITH TIME ZONE, CONSTRAINT \"PK_6a72c3c0f683f6462415e653c3a\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE INDEX \"notifications_due_idx\" ON \"orchestrator\".\"notifications\" (\"status\", \"next_attempt_at\") ");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"orchestrator\".\"notifications_due_idx\"");
    await queryRunner.query("DROP TABLE \"orchestrator\".\"notifications\"");
  }
}
