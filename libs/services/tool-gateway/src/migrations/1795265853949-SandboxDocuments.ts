import type { MigrationInterface, QueryRunner } from 'typeorm';

export class SandboxDocuments1795265853949 implements MigrationInterface {
  name = 'SandboxDocuments1795265853949';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE SCHEMA IF NOT EXISTS \"sandbox\"");
    await queryRunner.query("CREATE TABLE \"sandbox\".\"document_versions\" (\"document_id\" character varying(64) NOT NULL, \"version\" integer NOT NULL, \"title\" character varying(300) NOT NULL, \"contract_id\" character varying(32), \"text\" text NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT \"PK_92bbba2a6f4bf3e07a3a3db7bbe\" PRIMARY KEY (\"document_id\", \"version\"))");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP TABLE \"sandbox\".\"document_versions\"");
  }
}
