import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GOVMESH_VERSION } from './openapi';

describe('the OpenAPI document version', () => {
  it('is the version in the root package.json', () => {
    const pkg = JSON.parse(readFileSync(join(__dirname, '../../../package.json'), 'utf8')) as { version: string };
    expect(GOVMESH_VERSION).toBe(pkg.version);
  });
});
