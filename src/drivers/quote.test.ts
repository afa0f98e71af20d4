import assert from 'node:assert/strict';
import { it } from 'node:test';
import { quoteArgv } from './quote.ts';

it('quotes only what a shell would misread', () => {
  assert.equal(
    quoteArgv(['nginx', '-t', '-c', '/a b/nginx.conf']),
    "nginx -t -c '/a b/nginx.conf'",
  );
  assert.equal(quoteArgv(['echo', "it's", '']), `echo 'it'\\''s' ''`);
  assert.equal(quoteArgv(['sh', '-c', 'a|b']), "sh -c 'a|b'");
});
