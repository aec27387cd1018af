import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Identity1795246957141 implements MigrationInterface {
  name = 'Identity1795246957141';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"identity\".\"api_keys\" (\"id\" character varying(32) NOT NULL, \"name\" character varying(128) NOT NULL, \"secret_sha256\" character varying(64) NOT NULL, \"role\" character varying(16) NOT NULL, \"groups\" jsonb NOT NULL DEFAULT '[]', \"agent_id\" character varying(128), \"created_by\" character varying(200) NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), \"revoked_at\" TIMESTAMP WITH TIME ZONE, \"revoked_by\" character varying(200), CONSTRAINT \"PK_5c8a79801b44bd27b79228e1dad\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE INDEX \"api_keys_agent_idx\" ON \"identity\".\"api_keys\" (\"agent_id\") ");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"identity\".\"api_keys_agent_idx\"");
    await queryRunner.query("DROP TABLE \"identity\".\"api_keys\"");
  }
}
