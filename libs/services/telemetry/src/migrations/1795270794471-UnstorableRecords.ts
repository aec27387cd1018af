import type { MigrationInterface, QueryRunner } from 'typeorm';

export class UnstorableRecords1795270794471 implements MigrationInterface {
  name = 'UnstorableRecords1795270794471';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"telemetry\".\"unstorable_records\" (\"id\" character varying(255) NOT NULL, \"topic\" character varying(255) NOT NULL, \"partition\" integer NOT NULL, \"offset\" character varying(32) NOT NULL, \"message_key\" bytea, \"headers\" bytea NOT NULL, \"value\" bytea, \"reason_code\" character varying(64) NOT NULL, \"reason\" text NOT NULL, \"recorded_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_729b008b7eb1ef86034ceb00765\" PRIMARY KEY (\"id\"))");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP TABLE \"telemetry\".\"unstorable_records\"");
  }
}
