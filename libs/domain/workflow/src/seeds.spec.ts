import { compileWorkflow, SEED_WORKFLOWS } from './index';

describe('the seed workflows', () => {
  it.each(SEED_WORKFLOWS.map((w) => [w.id, w] as const))('%s compiles', async (_id, workflow) => {
    await expect(compileWorkflow(workflow)).resolves.toBeDefined();
  });
});
