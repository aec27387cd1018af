import type { MigrationInterface, QueryRunner } from 'typeorm';

export class MediationRateBuckets1795259717840 implements MigrationInterface {
  name = 'MediationRateBuckets1795259717840';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE TABLE \"tool_gateway\".\"rate_buckets\" (\"key\" character varying(300) NOT NULL, \"tokens\" double precision NOT NULL, \"updated_at\" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT \"PK_50c8d842e5e87c143d11b5e0452\" PRIMARY KEY (\"key\"))");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP TABLE \"tool_gateway\".\"rate_buckets\"");
  }
}
