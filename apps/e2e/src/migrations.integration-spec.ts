import { Column, Entity, PrimaryColumn } from 'typeorm';
import { serviceEntities, type ServiceDatabaseDefinition } from '@govmesh/nest-runtime';
import { createServiceDataSource, schemaDrift } from '@govmesh/persistence';
import { CONTEXT_DATABASE } from '@govmesh/service-context';
import { MODEL_ROUTER_DATABASE } from '@govmesh/service-model-router';
import { ORCHESTRATOR_DATABASE } from '@govmesh/service-orchestrator';
import { POLICY_DATABASE } from '@govmesh/service-policy';
import { TELEMETRY_DATABASE } from '@govmesh/service-telemetry';
import { TOOL_GATEWAY_DATABASE } from '@govmesh/service-tool-gateway';
import { VERIFIER_DATABASE } from '@govmesh/service-verifier';
import { createScratchDatabase, type ScratchDatabase } from '@govmesh/testing';

const ALL = [POLICY_DATABASE, ORCHESTRATOR_DATABASE, MODEL_ROUTER_DATABASE, CONTEXT_DATABASE, TOOL_GATEWAY_DATABASE, VERIFIER_DATABASE, TELEMETRY_DATABASE];

async function driftOf(definition: ServiceDatabaseDefinition, url: string): Promise<string[]> {
  const dataSource = await createServiceDataSource({ schema: definition.schema, entities: serviceEntities(definition), migrations: definition.migrations, target: { kind: 'postgres', url } });
  try {
    return (await schemaDrift(dataSource)).up;
  } finally {
    await dataSource.destroy();
  }
}

/** Committed migrations are the schema production runs; entities must never drift from them. */
describe('migrations', () => {
  let db: ScratchDatabase;

  beforeAll(async () => {
    db = await createScratchDatabase('migrations');
  });

  afterAll(async () => {
    await db?.drop();
  });

  it.each(ALL.map((d) => [d.service, d] as const))('%s: its migrations create exactly what its entities describe, each in its own schema', async (_service, definition) => {
    expect(await driftOf(definition, db.url)).toEqual([]);
    const tables = await db.query<{ table_name: string }>('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [definition.schema]);
    expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(['outbox', 'inbox', 'migrations']));
  });

  it('running the migrations again on a migrated database changes nothing', async () => {
    const before = await db.query<{ n: string }>('SELECT count(*) AS n FROM policy.migrations');
    expect(await driftOf(POLICY_DATABASE, db.url)).toEqual([]);
    expect(await db.query('SELECT count(*) AS n FROM policy.migrations')).toEqual(before);
  });

  it('detects an entity change that has no migration', async () => {
    @Entity({ name: 'agents' })
    class AgentWithNewColumn {
      @PrimaryColumn({ type: 'varchar', length: 128 }) id!: string;
      @Column({ type: 'varchar', length: 64 }) version!: string;
      @Column({ type: 'varchar', length: 128 }) owner!: string;
      @Column({ type: 'varchar', length: 32 }) tier!: string;
      @Column({ type: 'varchar', length: 16 }) status!: string;
      @Column({ type: 'text', default: '' }) description!: string;
      @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' }) createdAt!: Date;
      @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' }) updatedAt!: Date;
      @Column({ name: 'public_key', type: 'text', nullable: true }) publicKey!: string | null;
    }
    const drifted: ServiceDatabaseDefinition = {
      ...POLICY_DATABASE,
      entities: [AgentWithNewColumn, ...POLICY_DATABASE.entities.filter((e) => e.name !== 'AgentRecord')],
    };
    const missing = await driftOf(drifted, db.url);
    expect(missing.join('\n')).toMatch(/ALTER TABLE "policy"."agents" ADD "public_key" text/);
  });
});
