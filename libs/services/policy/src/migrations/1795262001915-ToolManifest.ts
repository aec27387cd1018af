import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ToolManifest1795262001915 implements MigrationInterface {
  name = 'ToolManifest1795262001915';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // Profiles until now came from a built-in list, not the tool manifest: forget them. The tool
    // gateway's events teach them again (its built-in tools are published at its start).
    await queryRunner.query("DELETE FROM \"policy\".\"tool_profiles\"");
    await queryRunner.query("ALTER TABLE \"policy\".\"tool_profiles\" ADD \"version\" character varying(32) NOT NULL");
    await queryRunner.query("ALTER TABLE \"policy\".\"tool_profiles\" ADD \"status\" character varying(16) NOT NULL");
    await queryRunner.query("ALTER TABLE \"policy\".\"tool_profiles\" ADD \"updated_at\" TIMESTAMP WITH TIME ZONE NOT NULL");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("ALTER TABLE \"policy\".\"tool_profiles\" DROP COLUMN \"updated_at\"");
    await queryRunner.query("ALTER TABLE \"policy\".\"tool_profiles\" DROP COLUMN \"status\"");
    await queryRunner.query("ALTER TABLE \"policy\".\"tool_profiles\" DROP COLUMN \"version\"");
  }
}
