import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Connections1795259771841 implements MigrationInterface {
  name = 'Connections1795259771841';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"tool_gateway\".\"connections\" (\"id\" character varying(64) NOT NULL, \"kind\" character varying(16) NOT NULL, \"endpoint\" character varying(2048), \"description\" character varying(1000) NOT NULL DEFAULT '', \"auth\" jsonb NOT NULL, \"secret_key_id\" character varying(64), \"secret_wrapped_key\" character varying(512), \"secret_iv\" character varying(64), \"secret_tag\" character varying(64), \"secret_ciphertext\" text, \"status\" character varying(16) NOT NULL, \"version\" integer NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), \"created_by\" character varying(300) NOT NULL, \"rotated_at\" TIMESTAMP WITH TIME ZONE, \"rotated_by\" character varying(300), \"revoked_at\" TIMESTAMP WITH TIME ZONE, \"revoked_by\" character varying(300), \"last_used_at\" TIMESTAMP WITH TIME ZONE, CONSTRAINT \"PK_0a1f844af3122354cbd487a8d03\" PRIMARY KEY (\"id\"))");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP TABLE \"tool_gateway\".\"connections\"");
  }
}
