/**
 * For step tests: the recording driver (src/drivers/recording.ts) with files kept per host, as
 * machines have them (the recording driver's own are one set for every host), with their modes.
 */
import type { Target } from './driver.ts';
import { RecordingDriver } from './recording.ts';

export class HostsDriver extends RecordingDriver {
  readonly byHost = new Map<string, { content: string; mode: number }>();
  static key(target: Target, file: string): string {
    return `${target ?? 'local'}:${file}`;
  }
  override readFile(target: Target, file: string): Promise<string | undefined> {
    return Promise.resolve(this.byHost.get(HostsDriver.key(target, file))?.content);
  }
  override async writeFile(
    target: Target,
    file: string,
    content: string | Buffer,
    mode = 0o644,
  ): Promise<void> {
    await super.writeFile(target, file, content, mode);
    this.byHost.set(HostsDriver.key(target, file), { content: content.toString(), mode });
  }
  override async remove(target: Target, file: string): Promise<void> {
    await super.remove(target, file);
    const key = HostsDriver.key(target, file);
    for (const k of [...this.byHost.keys()])
      if (k === key || k.startsWith(`${key}/`)) this.byHost.delete(k);
  }
  mode(target: Target, file: string): number | undefined {
    return this.byHost.get(HostsDriver.key(target, file))?.mode;
  }
}
