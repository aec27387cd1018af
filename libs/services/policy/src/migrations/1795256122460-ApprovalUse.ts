import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ApprovalUse1795256122460 implements MigrationInterface {
  name = 'ApprovalUse1795256122460';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("ALTER TABLE \"policy\".\"decisions\" ADD \"approval_id\" character varying(64)");
    await queryRunner.query("CREATE UNIQUE INDEX \"decisions_approval_uq\" ON \"policy\".\"decisions\" (\"approval_id\") WHERE approval_id IS NOT NULL");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"policy\".\"decisions_approval_uq\"");
    await queryRunner.query("ALTER TABLE \"policy\".\"decisions\" DROP COLUMN \"approval_id\"");
  }
}
