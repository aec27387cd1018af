import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { createServiceDataSource } from '@govmesh/persistence';
import { createScratchDatabase, type ScratchDatabase } from '@govmesh/testing';
import { TELEMETRY_DATABASE } from './database';

/**
 * The ledger as the application's own database role sees it: a role that is not a superuser, runs
 * the migrations itself (with CREATEROLE, as a deployment's migration role does), and afterwards
 * may read and append to the ledger but never change, remove or unprotect what is in it.
 */
describe('telemetry: the application role cannot edit the audit ledger', () => {
  let db: ScratchDatabase;
  let app: Client;
  const role = `govmesh_app_${randomBytes(4).toString('hex')}`;
  const T = '"telemetry"';

  beforeAll(async () => {
    db = await createScratchDatabase('ledger-role');
    await db.query(`CREATE ROLE ${role} LOGIN NOSUPERUSER CREATEROLE`);
    await db.query(`GRANT CREATE ON DATABASE "${db.name}" TO ${role}`);
    const url = new URL(db.url);
    url.username = role;
    const dataSource = await createServiceDataSource({ ...TELEMETRY_DATABASE, target: { kind: 'postgres', url: url.toString() } });
    await dataSource.query(`INSERT INTO ${T}."audit_chain_head" (id, seq, hash) VALUES (1, 0, $1)`, ['0'.repeat(64)]);
    await dataSource.destroy();
    // CREATEROLE is for the migration only: a role that keeps it may grant itself any role.
    await db.query(`ALTER ROLE ${role} NOCREATEROLE`);
    app = new Client({ connectionString: url.toString() });
    await app.connect();
  });
  afterAll(async () => {
    await app?.end();
    await db?.drop();
    const admin = new Client({ connectionString: db.url });
    await admin.connect().catch(() => undefined);
    await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await admin.end().catch(() => undefined);
  });

  const row = (seq: number) => [seq, `e-${seq}`, 'govmesh.intent.decided.v1', 'r-1', 'govmesh.decisions', new Date().toISOString(), { effect: 'deny' }, 'a'.repeat(64), 'b'.repeat(64), 'c'.repeat(64)];
  const insert = (seq: number) =>
    app.query(`INSERT INTO ${T}."audit_records" (seq, event_id, type, run_id, topic, occurred_at, payload, payload_digest, prev_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, row(seq));

  it('is not a superuser and does not own the ledger', async () => {
    const [me] = (await app.query('SELECT rolsuper FROM pg_roles WHERE rolname = current_user')).rows;
    expect(me.rolsuper).toBe(false);
    const owners = (await app.query(`SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'telemetry' AND tablename IN ('audit_records', 'audit_checkpoints', 'audit_chain_head')`)).rows;
    expect(owners).toHaveLength(3);
    for (const o of owners) expect(o.tableowner).toBe('govmesh_ledger_owner');
  });

  it('reads and appends', async () => {
    await insert(1);
    await insert(2);
    expect((await app.query(`SELECT count(*)::int AS n FROM ${T}."audit_records"`)).rows[0].n).toBe(2);
    await app.query(`UPDATE ${T}."audit_chain_head" SET seq = 2 WHERE id = 1`);
  });

  it.each([
    ['UPDATE of a record', `UPDATE ${T}."audit_records" SET payload = '{"effect":"allow"}' WHERE seq = 1`],
    ['DELETE of a record', `DELETE FROM ${T}."audit_records" WHERE seq = 2`],
    ['TRUNCATE of the ledger', `TRUNCATE ${T}."audit_records"`],
    ['UPDATE of a checkpoint', `UPDATE ${T}."audit_checkpoints" SET root = head`],
    ['DELETE of checkpoints', `DELETE FROM ${T}."audit_checkpoints"`],
    ['switching the append-only triggers off', `ALTER TABLE ${T}."audit_records" DISABLE TRIGGER USER`],
    ['taking the owner role', 'SET ROLE govmesh_ledger_owner'],
    ['granting itself the owner role', `GRANT govmesh_ledger_owner TO ${role}`],
  ])('refuses %s', async (_what, sql) => {
    await expect(app.query(sql)).rejects.toThrow(/permission denied|must be owner|must have admin option|must be member/);
    expect((await app.query(`SELECT count(*)::int AS n FROM ${T}."audit_records"`)).rows[0].n).toBe(2);
  });

  it('still refuses UPDATE and DELETE after the triggers are dropped with the schema owner\'s right', async () => {
    await app.query(`DROP FUNCTION ${T}.refuse_ledger_change() CASCADE`);
    await expect(app.query(`UPDATE ${T}."audit_records" SET type = 'x' WHERE seq = 1`)).rejects.toThrow(/permission denied/);
    await expect(app.query(`DELETE FROM ${T}."audit_records" WHERE seq = 1`)).rejects.toThrow(/permission denied/);
  });
});
