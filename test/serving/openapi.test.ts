import fs from 'node:fs';
import path from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { queryRoutes } from '../../src/server/query-routes.js';
import type { ViewCatalog } from '../../src/serving/maintainer.js';
import { REPO_ROOT } from '../cli/cli-harness.js';

describe('docs/openapi.json', () => {
  const doc = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'docs/openapi.json'), 'utf8')) as {
    openapi: string;
    paths: Record<string, Record<string, unknown>>;
    components: { schemas: Record<string, object> };
  };

  it('is OpenAPI 3.1 whose schemas compile (JSON Schema 2020-12)', () => {
    expect(doc.openapi).toBe('3.1.0');
    const ajv = new Ajv2020({ strict: false });
    ajv.addSchema({ $id: 'doc', components: doc.components });
    for (const name of Object.keys(doc.components.schemas)) expect(() => ajv.getSchema(`doc#/components/schemas/${name}`)).not.toThrow();
    expect(ajv.validate('doc#/components/schemas/Error', { error: { code: 'FRESHET_SQL_FORBIDDEN', message: 'x' } })).toBe(true);
  });

  it('documents exactly the query routes the server registers', async () => {
    const catalog: ViewCatalog = { listViews: () => [], viewInfo: () => undefined, view: () => undefined, sql: null };
    const app = Fastify();
    const registered: string[] = [];
    app.addHook('onRoute', (r) => {
      for (const m of [r.method].flat()) if (m !== 'HEAD') registered.push(`${m} ${r.url}`);
    });
    await app.register(queryRoutes({ catalog }));
    await app.ready();
    const documented = Object.entries(doc.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p.replace(/\{(\w+)\}/g, ':$1')}`));
    for (const route of documented) {
      const [method, url] = route.split(' ') as [string, string];
      expect(app.hasRoute({ method: method as 'GET', url }), route).toBe(true);
    }
    expect([...documented].sort()).toEqual([...registered].sort());
    await app.close();
  });
});
