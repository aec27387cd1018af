import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ReadToolVerification1795261889941 implements MigrationInterface {
  name = 'ReadToolVerification1795261889941';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"verifier\".\"tool_specs\" (\"name\" character varying(128) NOT NULL, \"version\" character varying(32) NOT NULL, \"side_effect\" character varying(16) NOT NULL, \"verification\" jsonb NOT NULL DEFAULT '[]', \"status\" character varying(16) NOT NULL, \"changed_at\" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT \"PK_47eb465b019c694a3fa1fc2c5da\" PRIMARY KEY (\"name\"))");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" ADD \"status\" character varying(16) NOT NULL DEFAULT 'settled'");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" ADD \"tool\" character varying(128)");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" ADD \"execution_id\" character varying(64)");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" ADD \"arguments\" jsonb");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" ADD \"output\" jsonb");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" ADD \"checks\" jsonb NOT NULL DEFAULT '[]'");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" ADD \"reasons\" jsonb NOT NULL DEFAULT '[]'");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" ADD \"settled_at\" TIMESTAMP WITH TIME ZONE");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" ALTER COLUMN \"verdict\" DROP NOT NULL");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" ALTER COLUMN \"verdict\" SET NOT NULL");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" DROP COLUMN \"settled_at\"");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" DROP COLUMN \"reasons\"");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" DROP COLUMN \"checks\"");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" DROP COLUMN \"output\"");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" DROP COLUMN \"arguments\"");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" DROP COLUMN \"execution_id\"");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" DROP COLUMN \"tool\"");
    await queryRunner.query("ALTER TABLE \"verifier\".\"verifications\" DROP COLUMN \"status\"");
    await queryRunner.query("DROP TABLE \"verifier\".\"tool_specs\"");
  }
}
