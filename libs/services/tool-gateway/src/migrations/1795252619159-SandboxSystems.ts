import type { MigrationInterface, QueryRunner } from 'typeorm';

export class SandboxSystems1795252619159 implements MigrationInterface {
  name = 'SandboxSystems1795252619159';

  public async up(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("CREATE SCHEMA IF NOT EXISTS \"sandbox\"");
    await queryRunner.query("CREATE TABLE \"sandbox\".\"invoices\" (\"id\" character varying(32) NOT NULL, \"vendor\" character varying(128) NOT NULL, \"amount\" numeric(14,2) NOT NULL, \"currency\" character varying(3) NOT NULL, \"status\" character varying(16) NOT NULL, \"reason\" text NOT NULL DEFAULT '', \"drop_writes\" boolean NOT NULL DEFAULT false, \"unavailable_calls\" integer NOT NULL DEFAULT '0', \"updated_at\" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT \"PK_668cef7c22a427fd822cc1be3ce\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE TABLE \"sandbox\".\"payments\" (\"id\" character varying(64) NOT NULL, \"invoice_id\" character varying(32) NOT NULL, \"amount\" numeric(14,2) NOT NULL, \"currency\" character varying(3) NOT NULL, \"idempotency_key\" character varying(255) NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_197ab7af18c93fbb0c9b28b4a59\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE UNIQUE INDEX \"payments_idempotency_key\" ON \"sandbox\".\"payments\" (\"idempotency_key\") ");
    await queryRunner.query("CREATE INDEX \"payments_invoice_idx\" ON \"sandbox\".\"payments\" (\"invoice_id\") ");
    await queryRunner.query("CREATE TABLE \"sandbox\".\"contracts\" (\"id\" character varying(32) NOT NULL, \"customer\" character varying(128) NOT NULL, \"customer_email_domain\" character varying(253) NOT NULL, \"end_date\" date NOT NULL, \"status\" character varying(16) NOT NULL, \"renewal_draft\" text, \"updated_at\" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT \"PK_2c7b8f3a7b1acdd49497d83d0fb\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE TABLE \"sandbox\".\"outbound_mail\" (\"id\" character varying(64) NOT NULL, \"to\" character varying(320) NOT NULL, \"subject\" character varying(300) NOT NULL, \"body\" text NOT NULL, \"contract_id\" character varying(32), \"idempotency_key\" character varying(255) NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_e7f6d3164f065d081b18f3b324f\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE UNIQUE INDEX \"outbound_mail_idempotency_key\" ON \"sandbox\".\"outbound_mail\" (\"idempotency_key\") ");
    await queryRunner.query("CREATE TABLE \"sandbox\".\"tickets\" (\"id\" character varying(32) NOT NULL, \"subject\" character varying(300) NOT NULL, \"body\" text NOT NULL DEFAULT '', \"priority\" character varying(16) NOT NULL, \"status\" character varying(16) NOT NULL, \"assignee_group\" character varying(128), \"updated_at\" TIMESTAMP WITH TIME ZONE NOT NULL, CONSTRAINT \"PK_343bc942ae261cf7a1377f48fd0\" PRIMARY KEY (\"id\"))");
    await queryRunner.query("CREATE TABLE \"sandbox\".\"write_requests\" (\"idempotency_key\" character varying(255) NOT NULL, \"tool\" character varying(128) NOT NULL, \"record_id\" character varying(64) NOT NULL, \"result\" jsonb NOT NULL, \"created_at\" TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(), CONSTRAINT \"PK_e52a646cc91d69837046ab02a3e\" PRIMARY KEY (\"idempotency_key\"))");
    await queryRunner.query("ALTER TABLE \"tool_gateway\".\"executions\" ADD \"idempotency_key\" character varying(300)");
    await queryRunner.query("ALTER TABLE \"tool_gateway\".\"executions\" ADD \"claim\" jsonb");
    await queryRunner.query("CREATE UNIQUE INDEX \"executions_idempotency_key\" ON \"tool_gateway\".\"executions\" (\"idempotency_key\") ");
  }

  public async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.query("DROP INDEX \"tool_gateway\".\"executions_idempotency_key\"");
    await queryRunner.query("ALTER TABLE \"tool_gateway\".\"executions\" DROP COLUMN \"claim\"");
    await queryRunner.query("ALTER TABLE \"tool_gateway\".\"executions\" DROP COLUMN \"idempotency_key\"");
    await queryRunner.query("DROP TABLE \"sandbox\".\"write_requests\"");
    await queryRunner.query("DROP TABLE \"sandbox\".\"tickets\"");
    await queryRunner.query("DROP INDEX \"sandbox\".\"outbound_mail_idempotency_key\"");
    await queryRunner.query("DROP TABLE \"sandbox\".\"outbound_mail\"");
    await queryRunner.query("DROP TABLE \"sandbox\".\"contracts\"");
    await queryRunner.query("DROP INDEX \"sandbox\".\"payments_invoice_idx\"");
    await queryRunner.query("DROP INDEX \"sandbox\".\"payments_idempotency_key\"");
    await queryRunner.query("DROP TABLE \"sandbox\".\"payments\"");
    await queryRunner.query("DROP TABLE \"sandbox\".\"invoices\"");
  }
}
