import assert from 'node:assert/strict';
import { it } from 'node:test';
import { homePage } from '../../app/src/pages.ts';
import { readPage } from './visits.ts';

it('reads the release and the assets off the home page the app renders', () => {
  const page = readPage(homePage({ server: 'web-01', release: '0123456789ab' }));
  assert.equal(page.release, '0123456789ab');
  assert.deepEqual(page.assets.sort(), [
    '/static/0123456789ab/app.css',
    '/static/0123456789ab/app.js',
    '/static/0123456789ab/logo.svg',
  ]);
  assert.deepEqual(readPage('<html>502 Bad Gateway</html>'), { assets: [] });
});
