import type { MigrationInterface, QueryRunner } from 'typeorm';

export class ToolCatalog1795265778875 implements MigrationInterface {
  name = 'ToolCatalog1795265778875';

  public async up(queryRunner: QueryRunner): Promise<void> {
    // The router's own table of tools starts empty: the tool gateway's govmesh.tool.registered.v1
    // events fill it (its built-in tools are published when the gateway registers them).
    await queryRunner.query("CREATE TABLE \"model_router\".\"tools\" (\"name\" character varying(128) NOT NULL, \"version\" character varying(32) NOT NULL, \"description\" text NOT NULL, \"input_schema\" jsonb NOT NULL, \"side_effect\" character varying(16) NOT NULL, \"status\" character varying(16) NOT NULL, \"updated_at\" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT \"PK_d95e4bbca1f6fffc98a6cf12973\" PRIMARY KEY (\"name\"))");
    await queryRunner.query("ALTER TABLE \"model_router\".\"model_calls\" ADD \"tools_offered\" integer NOT NULL DEFAULT '0'");
    await queryRunner.query("ALTER TABLE \"model_router\".\"model_calls\" ADD \"tool_catalog\" character varying(16)");
    await queryRunner.query("ALTER TABLE \"model_router\".\"model_calls\" ADD \"proposal_refused\" character varying(64)");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("ALTER TABLE \"model_router\".\"model_calls\" DROP COLUMN \"proposal_refused\"");
    await queryRunner.query("ALTER TABLE \"model_router\".\"model_calls\" DROP COLUMN \"tool_catalog\"");
    await queryRunner.query("ALTER TABLE \"model_router\".\"model_calls\" DROP COLUMN \"tools_offered\"");
    await queryRunner.query("DROP TABLE \"model_router\".\"tools\"");
  }
}
