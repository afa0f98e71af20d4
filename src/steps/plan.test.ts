import assert from 'node:assert/strict';
import { it } from 'node:test';
import { PlanError, runPlan, type Phase } from './plan.ts';

it('runs phases in order, lets a failing task’s siblings finish, then stops', async () => {
  const ran: string[] = [];
  const task = (title: string, fail = false) => ({
    title,
    run: async () => {
      await Promise.resolve();
      ran.push(title);
      if (fail) throw new Error(`${title} broke`);
      return 'ok';
    },
  });
  const phases: Phase[] = [
    { title: 'first', tasks: [task('a'), task('b', true), task('c')] },
    { title: 'second', tasks: [task('d')] },
  ];
  await assert.rejects(runPlan(phases), (error: unknown) => {
    assert.ok(error instanceof PlanError);
    assert.equal(error.message, 'first failed:\n  b: b broke');
    return true;
  });
  assert.deepEqual(ran.sort(), ['a', 'b', 'c']);
});
