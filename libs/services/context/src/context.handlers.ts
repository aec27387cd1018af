import { Inject, Injectable, type OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { DataSource } from 'typeorm';
import { EventTypes, type Citation } from '@govmesh/contracts';
import { HandlesEvents, type BatchEventHandler, type Consumed, type UnitOfWork } from '@govmesh/messaging';
import { GOVMESH_CONFIG, type GovmeshConfig } from '@govmesh/nest-runtime';
import { CONTEXT_SERVICE } from './database';
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

interface Match {
  id: string;
  title: string;
  body: string;
  source: string;
  classification: string;
  updatedAt: Date | string;
  visible: boolean;
}

/** All SQL over documents: seeding and permission-scoped full-text search. */
@Injectable()
export class DocumentsRepository implements OnModuleInit {
  constructor(
    @InjectDataSource(CONTEXT_SERVICE) private readonly dataSource: DataSource,
    @Inject(GOVMESH_CONFIG) private readonly config: GovmeshConfig,
  ) {}

  async onModuleInit(): Promise<void> {
    if (this.config.seedDemoData) {
      await this.dataSource.createQueryBuilder().insert().into(DocumentRecord).values(DEMO_DOCUMENTS).orIgnore().execute();
    }
  }

  /**
   * Full-text match on any query word; the ACL is applied in the same query so nothing the agent
   * may not see is ever loaded, only counted.
   */
  search(uow: UnitOfWork, query: string, agentId: string): Promise<Match[]> {
    return uow.query<Match>(
      `WITH q AS (
         SELECT to_tsquery('english', string_agg(quote_literal(lexeme), ' | ')) AS query
         FROM unnest(to_tsvector('english', $1)) AS t(lexeme, positions, weights)
       )
       SELECT d.id, d.title, CASE WHEN vis THEN d.body ELSE '' END AS body, d.source, d.classification, d.updated_at AS "updatedAt", vis AS visible
       FROM ${uow.table('documents')} d CROSS JOIN q
       CROSS JOIN LATERAL (SELECT ($2 = ANY(d.allowed_agents) OR '*' = ANY(d.allowed_agents)) AS vis) v
       WHERE q.query IS NOT NULL AND to_tsvector('english', d.title || ' ' || d.body) @@ q.query
       ORDER BY ts_rank(to_tsvector('english', d.title || ' ' || d.body), q.query) DESC, d.updated_at DESC`,
      [query, agentId],
    );
  }
}

/** Layer 4: permission-scoped retrieval with provenance and freshness. */
@Injectable()
@HandlesEvents(CONTEXT_SERVICE, [EventTypes.ContextRequested])
export class ContextRequestsHandler implements BatchEventHandler<typeof EventTypes.ContextRequested> {
  constructor(private readonly documents: DocumentsRepository) {}

  async handle(batch: ReadonlyArray<Consumed<typeof EventTypes.ContextRequested>>, uow: UnitOfWork): Promise<void> {
    for (const { event } of batch) {
      const { runId, stepId, agentId, query, limit } = event.data;
      const rows = await this.documents.search(uow, query, agentId);
      const citations: Citation[] = rows
        .filter((r) => r.visible)
        .slice(0, limit)
        .map((d) => ({
          documentId: d.id,
          title: d.title,
          excerpt: d.body.slice(0, EXCERPT_LENGTH),
          source: d.source,
          classification: d.classification,
          updatedAt: new Date(d.updatedAt).toISOString(),
        }));
      uow.emit(EventTypes.ContextRetrieved, { runId, stepId, citations, withheld: rows.filter((r) => !r.visible).length }, { cause: event });
    }
  }
}
