import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The role that owns the audit ledger; the application's role may only read and append. */
const OWNER = 'govmesh_ledger_owner';
const LEDGER = ['"telemetry"."audit_records"', '"telemetry"."audit_checkpoints"'];

/**
 * Signed checkpoints of the ledger, and the ledger handed to an owner role of its own: the
 * application's role keeps SELECT and INSERT on records and checkpoints, and UPDATE of the chain
 * head, but loses UPDATE, DELETE and TRUNCATE, ownership of the tables and their triggers (it can no
 * longer switch them off) and membership of the owner role. A superuser bypasses grants, so the
 * append-only triggers stay in force for one too. Creating the role needs CREATEROLE (or a
 * superuser) for the role that runs this migration; an administrator may create
 * `govmesh_ledger_owner` beforehand instead.
 */
export class AuditCheckpoints1795270774939 implements MigrationInterface {
  name = 'AuditCheckpoints1795270774939';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query(
      'CREATE TABLE "telemetry"."audit_checkpoints" ("seq" bigint NOT NULL, "from_seq" bigint NOT NULL, "head" character(64) NOT NULL, "root" character(64) NOT NULL, "prev" character(64) NOT NULL, "signed_time" character varying(40) NOT NULL, "key_id" character(16) NOT NULL, "signature" character varying(128) NOT NULL, "recorded_at" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT "PK_00d27c519361818fba5bb6602de" PRIMARY KEY ("seq"))',
    );
    await queryRunner.query(
      'CREATE TABLE "telemetry"."audit_verification" ("id" smallint NOT NULL, "checkpoint_seq" bigint NOT NULL, "verified_at" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT "PK_d17f5b225f8a5a7cf37d803198a" PRIMARY KEY ("id"))',
    );
    await queryRunner.query(`CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON "telemetry"."audit_checkpoints" FOR EACH ROW EXECUTE FUNCTION "telemetry".refuse_ledger_change()`);
    await queryRunner.query(`CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON "telemetry"."audit_checkpoints" FOR EACH STATEMENT EXECUTE FUNCTION "telemetry".refuse_ledger_change()`);
    // Several databases of one cluster may migrate at once: the role is created once, by whichever is first.
    await queryRunner.query(`DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${OWNER}') THEN CREATE ROLE ${OWNER} NOLOGIN; END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
END $$`);
    // A superuser may hand tables to any role; any other role becomes a member for the hand-over only.
    const [{ rolsuper: superuser }] = (await queryRunner.query('SELECT rolsuper FROM pg_roles WHERE rolname = CURRENT_USER')) as Array<{ rolsuper: boolean }>;
    if (!superuser) await queryRunner.query(`GRANT ${OWNER} TO CURRENT_USER`);
    // Postgres hands a table only to a role that could create it there; the right goes again below.
    await queryRunner.query(`GRANT USAGE, CREATE ON SCHEMA "telemetry" TO ${OWNER}`);
    for (const table of LEDGER) {
      await queryRunner.query(`ALTER TABLE ${table} OWNER TO ${OWNER}`);
      await queryRunner.query(`REVOKE ALL ON ${table} FROM PUBLIC`);
      await queryRunner.query(`GRANT SELECT, INSERT ON ${table} TO CURRENT_USER`);
    }
    await queryRunner.query(`ALTER TABLE "telemetry"."audit_chain_head" OWNER TO ${OWNER}`);
    await queryRunner.query(`GRANT SELECT, INSERT, UPDATE ON "telemetry"."audit_chain_head" TO CURRENT_USER`);
    await queryRunner.query(`ALTER FUNCTION "telemetry".refuse_ledger_change() OWNER TO ${OWNER}`);
    await queryRunner.query(`REVOKE CREATE ON SCHEMA "telemetry" FROM ${OWNER}`);
    if (!superuser) await queryRunner.query(`REVOKE ${OWNER} FROM CURRENT_USER`);
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    const [{ rolsuper: superuser }] = (await queryRunner.query('SELECT rolsuper FROM pg_roles WHERE rolname = CURRENT_USER')) as Array<{ rolsuper: boolean }>;
    if (!superuser) await queryRunner.query(`GRANT ${OWNER} TO CURRENT_USER`);
    for (const table of [...LEDGER, '"telemetry"."audit_chain_head"']) await queryRunner.query(`ALTER TABLE ${table} OWNER TO CURRENT_USER`);
    await queryRunner.query(`ALTER FUNCTION "telemetry".refuse_ledger_change() OWNER TO CURRENT_USER`);
    if (!superuser) await queryRunner.query(`REVOKE ${OWNER} FROM CURRENT_USER`);
    await queryRunner.query('DROP TABLE "telemetry"."audit_verification"');
    await queryRunner.query('DROP TABLE "telemetry"."audit_checkpoints"');
  }
}
