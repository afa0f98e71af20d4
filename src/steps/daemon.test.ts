import assert from 'node:assert/strict';
import { it } from 'node:test';
import { sleep } from '../lib/wait.ts';
import { oneReloadAtATime } from './daemon.ts';

it('reloads one service on one host at a time, in the order asked, a failed one not blocking the next; other services meanwhile', async () => {
  const events: string[] = [];
  const reload = (service: string, host: string, fail = false) =>
    oneReloadAtATime(service, async () => {
      events.push(`${service}@${host} begins`);
      await sleep(30);
      events.push(`${service}@${host} ends`);
      if (fail) throw new Error(`${host} failed`);
      return host;
    });
  const results = await Promise.allSettled([
    reload('nginx-test', 'web-01', true),
    reload('nginx-test', 'web-02'),
    reload('haproxy-test', 'lb-01'),
  ]);
  assert.deepEqual(
    results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
    ['web-01 failed', 'web-02', 'lb-01'],
  );
  const at = (event: string): number => events.indexOf(event);
  // One Nginx at a time, in the order asked; HAProxy's reload did not wait for theirs.
  assert.ok(at('nginx-test@web-01 ends') < at('nginx-test@web-02 begins'), events.join(', '));
  assert.ok(at('haproxy-test@lb-01 begins') < at('nginx-test@web-01 ends'), events.join(', '));
  assert.equal(events.length, 6);
});
