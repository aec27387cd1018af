import type { MigrationInterface, QueryRunner } from 'typeorm';

export class BehaviourBaselines1795270906444 implements MigrationInterface {
  name = 'BehaviourBaselines1795270906444';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"telemetry\".\"run_profiles\" (\"run_id\" character varying(128) NOT NULL, \"agent_id\" character varying(128), \"workflow_id\" character varying(128), \"cost_tokens\" bigint NOT NULL DEFAULT '0', \"denied\" boolean NOT NULL DEFAULT false, \"escalated\" boolean NOT NULL DEFAULT false, \"overridden\" boolean NOT NULL DEFAULT false, \"first_seen_at\" TIMESTAMP WITH TIME ZONE NOT NULL, \"started_at\" TIMESTAMP WITH TIME ZONE, \"completed_at\" TIMESTAMP WITH TIME ZONE, \"outcome\" character varying(32), CONSTRAINT \"PK_f77766bccbf2e6c96f5170799ec\" PRIMARY KEY (\"run_id\"))");
    await queryRunner.query("CREATE INDEX \"run_profiles_workflow_completed_idx\" ON \"telemetry\".\"run_profiles\" (\"workflow_id\", \"completed_at\") ");
    await queryRunner.query("CREATE INDEX \"run_profiles_agent_completed_idx\" ON \"telemetry\".\"run_profiles\" (\"agent_id\", \"completed_at\") ");
    await queryRunner.query("CREATE TABLE \"telemetry\".\"agent_usage\" (\"agent_id\" character varying(128) NOT NULL, \"dimension\" character varying(16) NOT NULL, \"subject\" character varying(300) NOT NULL, \"day\" date NOT NULL, \"calls\" integer NOT NULL, \"last_seen_at\" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT \"PK_e48cf91cfee2d796d3fcb835abe\" PRIMARY KEY (\"agent_id\", \"dimension\", \"subject\", \"day\"))");
    await queryRunner.query("CREATE TABLE \"telemetry\".\"egress_routes\" (\"kind\" character varying(16) NOT NULL, \"id\" character varying(128) NOT NULL, \"destination\" character varying(300), \"updated_at\" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT \"PK_556afa37604276c076d596e5524\" PRIMARY KEY (\"kind\", \"id\"))");
    await queryRunner.query("CREATE TABLE \"telemetry\".\"behaviour_alerts\" (\"agent_id\" character varying(128) NOT NULL, \"kind\" character varying(32) NOT NULL, \"subject\" character varying(300) NOT NULL, \"run_id\" character varying(128) NOT NULL, \"observed\" double precision NOT NULL, \"expected\" double precision NOT NULL, \"raised_at\" TIMESTAMP WITH TIME ZONE NOT NULL, \"acknowledged_at\" TIMESTAMP WITH TIME ZONE, \"acknowledged_by\" character varying(300), CONSTRAINT \"PK_64522eb4c5c28016a4b02134414\" PRIMARY KEY (\"agent_id\", \"kind\", \"subject\"))");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP TABLE \"telemetry\".\"behaviour_alerts\"");
    await queryRunner.query("DROP TABLE \"telemetry\".\"egress_routes\"");
    await queryRunner.query("DROP TABLE \"telemetry\".\"agent_usage\"");
    await queryRunner.query("DROP INDEX \"telemetry\".\"run_profiles_agent_completed_idx\"");
    await queryRunner.query("DROP INDEX \"telemetry\".\"run_profiles_workflow_completed_idx\"");
    await queryRunner.query("DROP TABLE \"telemetry\".\"run_profiles\"");
  }
}
