import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RecordingDriver } from '../drivers/recording.ts';
import { exampleModel } from '../model/examples-testing.ts';
import { createContext } from './context.ts';
import { daemonsOf } from './services.ts';

describe('the daemons of every host', () => {
  for (const example of ['foobar', 'machines'] as const) {
    it(`${example}: none is told to write the pid file foobar keeps for it`, async () => {
      // A daemon that writes it too truncates it as it starts or reloads, and foobar reading it
      // in between took a running HAProxy for one that had exited (CI of 9574d34).
      const model = exampleModel(example);
      const ctx = createContext(model, new RecordingDriver());
      for (const host of model.hosts) {
        for (const daemon of await daemonsOf(ctx, host, true)) {
          const what = `${host.name}: ${daemon.service}`;
          assert.ok(!daemon.start.argv.includes(daemon.pidFile), `${what}: its command line`);
          for (const file of daemon.files)
            assert.ok(!file.content.includes(daemon.pidFile), `${what}: ${file.path}`);
        }
      }
    });
  }
});
