import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The ledger is append-only in the database itself: UPDATE, DELETE and TRUNCATE of audit records
 * are refused by triggers, and the chain head cannot be deleted. Editing the ledger takes
 * disabling the triggers (the schema owner's right), and the chain verification names the edit.
 */
export class AppendOnlyLedger1795250833664 implements MigrationInterface {
  name = 'AppendOnlyLedger1795250833664';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`CREATE OR REPLACE FUNCTION "telemetry".refuse_ledger_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the audit ledger is append-only: % on %.% is refused', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END $$ LANGUAGE plpgsql`);
    await queryRunner.query(`CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON "telemetry"."audit_records" FOR EACH ROW EXECUTE FUNCTION "telemetry".refuse_ledger_change()`);
    await queryRunner.query(`CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON "telemetry"."audit_records" FOR EACH STATEMENT EXECUTE FUNCTION "telemetry".refuse_ledger_change()`);
    await queryRunner.query(`CREATE TRIGGER audit_chain_head_kept BEFORE DELETE ON "telemetry"."audit_chain_head" FOR EACH ROW EXECUTE FUNCTION "telemetry".refuse_ledger_change()`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(`DROP TRIGGER audit_chain_head_kept ON "telemetry"."audit_chain_head"`);
    await queryRunner.query(`DROP TRIGGER audit_records_no_truncate ON "telemetry"."audit_records"`);
    await queryRunner.query(`DROP TRIGGER audit_records_append_only ON "telemetry"."audit_records"`);
    await queryRunner.query(`DROP FUNCTION "telemetry".refuse_ledger_change()`);
  }
}
