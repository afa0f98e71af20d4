import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gtidCookie, gtidFromCookies, parseLimit, validateMessageText } from './messages.ts';

describe('validateMessageText', () => {
  it('keeps any text as given, SQL-looking or not', () => {
    for (const text of [
      "'); DROP TABLE messages; --",
      ' padded ',
      'héllo 👋 世界',
      'a\nb\tc',
      'x'.repeat(500),
      '😀'.repeat(500),
    ])
      assert.deepEqual(validateMessageText(text), { text });
  });

  it('refuses what is not a message', () => {
    assert.deepEqual(validateMessageText(undefined), { error: 'text must be a string' });
    assert.deepEqual(validateMessageText(42), { error: 'text must be a string' });
    assert.deepEqual(validateMessageText(''), { error: 'text is empty' });
    assert.deepEqual(validateMessageText(' \n\t '), { error: 'text is empty' });
    assert.deepEqual(validateMessageText('x'.repeat(501)), {
      error: 'text is longer than 500 characters',
    });
    assert.deepEqual(validateMessageText('bad \ud800 half'), {
      error: 'text is not valid Unicode',
    });
    assert.deepEqual(validateMessageText('nul \u0000'), {
      error: 'text contains control characters',
    });
  });
});

it('reads a limit between 1 and 100', () => {
  assert.equal(parseLimit(undefined), 20);
  assert.equal(parseLimit('100'), 100);
  for (const bad of ['0', '101', '-1', '1.5', 'ten', '1e2', ['5']])
    assert.equal(parseLimit(bad), undefined);
});

it('carries a GTID in a cookie and ignores anything else in it', () => {
  assert.match(
    gtidCookie('0-31-7'),
    /^fb_gtid=0-31-7; Path=\/; Max-Age=300; HttpOnly; SameSite=Lax$/,
  );
  assert.equal(gtidFromCookies('a=b; fb_gtid=0-31-7'), '0-31-7');
  assert.equal(gtidFromCookies("fb_gtid=0-31-7'; DROP"), undefined);
  assert.equal(gtidFromCookies(undefined), undefined);
});
