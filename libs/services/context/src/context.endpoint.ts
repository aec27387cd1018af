import { Inject, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { EventTypes, type Citation } from '@govmesh/contracts';
import type { EventHandlers } from '@govmesh/messaging';
import { ENDPOINT_DEPS, ServiceEndpoint, type ServiceEndpointDeps } from '@govmesh/nest-runtime';
import { CONTEXT_DATABASE, CONTEXT_SERVICE } from './database';
import { DocumentRecord } from './entities';

const DEMO_DOCUMENTS: Array<Omit<DocumentRecord, 'updatedAt'> & { updatedAt: Date }> = [
  {
    id: 'kb-account-status',
    title: 'How to read an account status',
    body: 'An account status is active, frozen or closed. Look up the account by its id (acc-NNN) before answering a customer about balance or status.',
    source: 'kb://support/account-status',
    classification: 'internal',
    allowedAgents: ['*'],
    updatedAt: new Date('2026-10-01T09:00:00Z'),
  },
  {
    id: 'kb-refund-policy',
    title: 'Refund policy',
    body: 'Refunds above 500 EUR need approval by finance operations. Never refund a frozen account.',
    source: 'kb://finance/refunds',
    classification: 'internal',
    allowedAgents: ['support-assistant'],
    updatedAt: new Date('2026-09-15T09:00:00Z'),
  },
  {
    id: 'fraud-watchlist',
    title: 'Fraud watchlist procedures for frozen accounts',
    body: 'Frozen accounts on the watchlist are handled by the fraud team only. Account status must not be disclosed.',
    source: 'kb://risk/watchlist',
    classification: 'confidential',
    allowedAgents: ['fraud-analyst'],
    updatedAt: new Date('2026-11-01T09:00:00Z'),
  },
];

const EXCERPT_LENGTH = 280;

/** Layer 4: permission-scoped retrieval with provenance and freshness. */
@Injectable()
export class ContextEndpoint extends ServiceEndpoint {
  constructor(@InjectDataSource(CONTEXT_SERVICE) dataSource: DataSource, @Inject(ENDPOINT_DEPS) deps: ServiceEndpointDeps) {
    super(CONTEXT_SERVICE, CONTEXT_DATABASE.schema, dataSource, deps);
  }

  protected override async prepare(): Promise<void> {
    if (this.deps.config.seedDemoData) {
      await this.dataSource.createQueryBuilder().insert().into(DocumentRecord).values(DEMO_DOCUMENTS).orIgnore().execute();
    }
  }

  protected handlers(): EventHandlers {
    return {
      [EventTypes.ContextRequested]: async (event, ctx) => {
        const { runId, stepId, agentId, query, limit } = event.data;
        // Full-text match on any query word; ACL applied in the same query so nothing the agent
        // may not see is ever loaded, only counted.
        const rows: Array<DocumentRecord & { visible: boolean; rank: number }> = await ctx.manager.query(
          `WITH q AS (
             SELECT to_tsquery('english', string_agg(quote_literal(lexeme), ' | ')) AS query
             FROM unnest(to_tsvector('english', $1)) AS t(lexeme, positions, weights)
           )
           SELECT d.id, d.title, d.body, d.source, d.classification, d.updated_at AS "updatedAt",
                  ($2 = ANY(d.allowed_agents) OR '*' = ANY(d.allowed_agents)) AS visible,
                  ts_rank(to_tsvector('english', d.title || ' ' || d.body), q.query) AS rank
           FROM "${this.schema}"."documents" d, q
           WHERE q.query IS NOT NULL AND to_tsvector('english', d.title || ' ' || d.body) @@ q.query
           ORDER BY rank DESC, d.updated_at DESC`,
          [query, agentId],
        );
        const visible = rows.filter((r) => r.visible).slice(0, limit);
        const citations: Citation[] = visible.map((d) => ({
          documentId: d.id,
          title: d.title,
          excerpt: d.body.slice(0, EXCERPT_LENGTH),
          source: d.source,
          classification: d.classification,
          updatedAt: new Date(d.updatedAt).toISOString(),
        }));
        ctx.emit(EventTypes.ContextRetrieved, { runId, stepId, citations, withheld: rows.filter((r) => !r.visible).length });
      },
    };
  }
}
