import type { MigrationInterface, QueryRunner } from 'typeorm';

export class Identity1795247044457 implements MigrationInterface {
  name = 'Identity1795247044457';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"policy\".\"agent_versions\" (\"agent_id\" character varying(128) NOT NULL, \"version\" character varying(64) NOT NULL, \"public_key\" character varying(64), \"key_status\" character varying(16) NOT NULL DEFAULT 'active', \"created_by\" character varying(300) NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), \"revoked_at\" TIMESTAMP WITH TIME ZONE, CONSTRAINT \"PK_b392370a19a493bde3c73566159\" PRIMARY KEY (\"agent_id\", \"version\"))");
    await queryRunner.query("CREATE TABLE \"policy\".\"resources\" (\"kind\" character varying(64) NOT NULL, \"id\" character varying(128) NOT NULL, \"classification\" character varying(16) NOT NULL, \"owner\" character varying(128), CONSTRAINT \"PK_ad66ee05651af6ee376104d219a\" PRIMARY KEY (\"kind\", \"id\"))");
    await queryRunner.query("CREATE TABLE \"policy\".\"policy_sets\" (\"version\" character varying(16) NOT NULL, \"policies\" jsonb NOT NULL, \"status\" character varying(16) NOT NULL, \"description\" text NOT NULL DEFAULT '', \"created_by\" character varying(300) NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), \"activated_at\" TIMESTAMP WITH TIME ZONE, \"activated_by\" character varying(300), CONSTRAINT \"PK_6a8f54ca484fc49bd37b96c4005\" PRIMARY KEY (\"version\"))");
    await queryRunner.query("CREATE TABLE \"policy\".\"policy_activations\" (\"seq\" BIGSERIAL NOT NULL, \"version\" character varying(16) NOT NULL, \"previous_version\" character varying(16), \"change\" character varying(16) NOT NULL, \"activated_by\" character varying(300) NOT NULL, \"activated_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_c775e45e97cfa4fc4345bdac2b2\" PRIMARY KEY (\"seq\"))");
    await queryRunner.query("ALTER TABLE \"policy\".\"agents\" RENAME COLUMN \"description\" TO \"purpose\"");
    await queryRunner.query("ALTER TABLE \"policy\".\"agents\" ADD \"clearance\" character varying(16) NOT NULL DEFAULT 'internal'");
    // Every registered agent keeps its current version, with no key until an operator adds one.
    await queryRunner.query("INSERT INTO \"policy\".\"agent_versions\" (\"agent_id\", \"version\", \"public_key\", \"created_by\") SELECT \"id\", \"version\", NULL, 'system' FROM \"policy\".\"agents\"");
    await queryRunner.query("ALTER TABLE \"policy\".\"tool_profiles\" ADD \"classification\" character varying(16) NOT NULL DEFAULT 'internal'");
    await queryRunner.query("ALTER TABLE \"policy\".\"tool_profiles\" ADD \"max_tier\" character varying(32)");
    await queryRunner.query("ALTER TABLE \"policy\".\"tool_profiles\" ADD \"resource_argument\" character varying(64)");
    await queryRunner.query("ALTER TABLE \"policy\".\"tool_profiles\" ADD \"resource_kind\" character varying(64)");
    await queryRunner.query("ALTER TABLE \"policy\".\"decisions\" ADD \"request\" jsonb");
    await queryRunner.query("CREATE UNIQUE INDEX \"policy_sets_one_active\" ON \"policy\".\"policy_sets\" (\"status\") WHERE status = 'active'");
    await queryRunner.query("CREATE INDEX \"decisions_decided_idx\" ON \"policy\".\"decisions\" (\"decided_at\") ");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"policy\".\"decisions_decided_idx\"");
    await queryRunner.query("DROP INDEX \"policy\".\"policy_sets_one_active\"");
    await queryRunner.query("ALTER TABLE \"policy\".\"decisions\" DROP COLUMN \"request\"");
    await queryRunner.query("ALTER TABLE \"policy\".\"tool_profiles\" DROP COLUMN \"resource_kind\"");
    await queryRunner.query("ALTER TABLE \"policy\".\"tool_profiles\" DROP COLUMN \"resource_argument\"");
    await queryRunner.query("ALTER TABLE \"policy\".\"tool_profiles\" DROP COLUMN \"max_tier\"");
    await queryRunner.query("ALTER TABLE \"policy\".\"tool_profiles\" DROP COLUMN \"classification\"");
    await queryRunner.query("ALTER TABLE \"policy\".\"agents\" DROP COLUMN \"clearance\"");
    await queryRunner.query("ALTER TABLE \"policy\".\"agents\" RENAME COLUMN \"purpose\" TO \"description\"");
    await queryRunner.query("DROP TABLE \"policy\".\"policy_activations\"");
    await queryRunner.query("DROP TABLE \"policy\".\"policy_sets\"");
    await queryRunner.query("DROP TABLE \"policy\".\"resources\"");
    await queryRunner.query("DROP TABLE \"policy\".\"agent_versions\"");
  }
}
