import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { debianSources, stageKeys } from './image.ts';
import { BASE_PACKAGES, SERVER_PACKAGES } from './packages.ts';

/** This machine's sources, as Debian's cloud images write them, plus a third party's. */
const DEBIAN = `Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;
const NODESOURCE = `Types: deb
URIs: https://deb.nodesource.com/node_20.x
Suites: nodistro
Components: main
Signed-By: /usr/share/keyrings/nodesource.gpg
`;

describe('the image', () => {
  it("comes from this machine's Debian mirror, without third parties' sources", () => {
    const sources = debianSources([DEBIAN, NODESOURCE]);
    assert.equal(sources.mirror, 'http://deb.debian.org/debian');
    assert.equal(
      sources.text,
      [
        'Types: deb',
        'URIs: http://deb.debian.org/debian',
        'Suites: bookworm bookworm-updates',
        'Components: main',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
        'Types: deb',
        'URIs: http://deb.debian.org/debian-security',
        'Suites: bookworm-security',
        'Components: main',
        'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg',
        '',
      ].join('\n'),
    );
  });

  it('says what to do when this machine has no Debian source', () => {
    assert.throws(() => debianSources([NODESOURCE]), /no Debian bookworm source in .*deb822/);
  });

  it('rebuilds the packages layer, not the base, when the package list changes', () => {
    const sources = debianSources([DEBIAN]);
    const inputs = { ...sources, basePackages: BASE_PACKAGES, serverPackages: SERVER_PACKAGES };
    const now = stageKeys(inputs);
    const more = stageKeys({ ...inputs, serverPackages: [...SERVER_PACKAGES, 'pebble'] });
    assert.equal(more.base, now.base);
    assert.notEqual(more.layer, now.layer);
    const otherMirror = stageKeys({ ...inputs, mirror: 'http://ftp.de.debian.org/debian' });
    assert.notEqual(otherMirror.base, now.base);
    assert.notEqual(otherMirror.layer, now.layer, 'a new base rebuilds the layer above it');
    assert.deepEqual(stageKeys(inputs), now, 'the same inputs give the same keys');
  });
});
