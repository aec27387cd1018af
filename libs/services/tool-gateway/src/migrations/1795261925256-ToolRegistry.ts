import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ToolRegistry1795261925256 implements MigrationInterface {
  name = 'ToolRegistry1795261925256';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"tool_gateway\".\"tools\" (\"name\" character varying(128) NOT NULL, \"version\" character varying(32) NOT NULL, \"status\" character varying(16) NOT NULL, \"manifest\" jsonb NOT NULL, \"registered_by\" character varying(300) NOT NULL, \"updated_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_d95e4bbca1f6fffc98a6cf12973\" PRIMARY KEY (\"name\"))");
    await queryRunner.query("CREATE TABLE \"tool_gateway\".\"tool_versions\" (\"name\" character varying(128) NOT NULL, \"version\" character varying(32) NOT NULL, \"manifest\" jsonb NOT NULL, \"registered_by\" character varying(300) NOT NULL, \"registered_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_1fd1f7c5c86ddd5ba3dfa48c3d5\" PRIMARY KEY (\"name\", \"version\"))");
    await queryRunner.query("CREATE TABLE \"tool_gateway\".\"tool_grants\" (\"id\" uuid NOT NULL, \"agent_id\" character varying(128) NOT NULL, \"agent_version\" character varying(64) NOT NULL, \"tool\" character varying(128) NOT NULL, \"constraints\" jsonb, \"status\" character varying(16) NOT NULL, \"granted_by\" character varying(300) NOT NULL, \"granted_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), \"withdrawn_by\" character varying(300), \"withdrawn_at\" TIMESTAMP WITH TIME ZONE, CONSTRAINT \"PK_297fc07969739f2689182a63365\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE UNIQUE INDEX \"tool_grants_subject_key\" ON \"tool_gateway\".\"tool_grants\" (\"agent_id\", \"agent_version\", \"tool\") ");
    await queryRunner.query("CREATE TABLE \"tool_gateway\".\"tool_usage\" (\"agent_id\" character varying(128) NOT NULL, \"tool\" character varying(128) NOT NULL, \"calls\" bigint NOT NULL DEFAULT '0', \"succeeded\" bigint NOT NULL DEFAULT '0', \"refused\" bigint NOT NULL DEFAULT '0', \"last_used_at\" TIMESTAMP WITH TIME ZONE, CONSTRAINT \"PK_8ba7155c61debc4f4d65c1170ff\" PRIMARY KEY (\"agent_id\", \"tool\"))");
    await queryRunner.query("ALTER TABLE \"tool_gateway\".\"connections\" ADD \"egress\" jsonb");
    await queryRunner.query("ALTER TABLE \"tool_gateway\".\"executions\" ADD \"agent_id\" character varying(128)");
    await queryRunner.query("ALTER TABLE \"tool_gateway\".\"executions\" ADD \"dry_run\" boolean NOT NULL DEFAULT false");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("ALTER TABLE \"tool_gateway\".\"executions\" DROP COLUMN \"dry_run\"");
    await queryRunner.query("ALTER TABLE \"tool_gateway\".\"executions\" DROP COLUMN \"agent_id\"");
    await queryRunner.query("ALTER TABLE \"tool_gateway\".\"connections\" DROP COLUMN \"egress\"");
    await queryRunner.query("DROP TABLE \"tool_gateway\".\"tool_usage\"");
    await queryRunner.query("DROP INDEX \"tool_gateway\".\"tool_grants_subject_key\"");
    await queryRunner.query("DROP TABLE \"tool_gateway\".\"tool_grants\"");
    await queryRunner.query("DROP TABLE \"tool_gateway\".\"tool_versions\"");
    await queryRunner.query("DROP TABLE \"tool_gateway\".\"tools\"");
  }
}
