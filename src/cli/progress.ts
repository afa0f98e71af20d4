/** The task list of long commands: live on a terminal, one line per finished task otherwise. */
import type { Phase, PlanReporter, TaskState } from '../steps/plan.ts';

const SPINNER = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export interface Style {
  readonly green: (s: string) => string;
  readonly red: (s: string) => string;
  readonly yellow: (s: string) => string;
  readonly dim: (s: string) => string;
  readonly bold: (s: string) => string;
}

const ansi = (code: number) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;
export const COLOUR: Style = {
  green: ansi(32),
  red: ansi(31),
  yellow: ansi(33),
  dim: ansi(2),
  bold: ansi(1),
};
export const PLAIN: Style = {
  green: (s) => s,
  red: (s) => s,
  yellow: (s) => s,
  dim: (s) => s,
  bold: (s) => s,
};

export function styleFor(stream: NodeJS.WritableStream & { isTTY?: boolean }): Style {
  return stream.isTTY === true && process.env.NO_COLOR === undefined ? COLOUR : PLAIN;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function line(style: Style, title: string, state: TaskState, frame: number): string {
  switch (state.kind) {
    case 'pending':
      return `  ${style.dim('·')} ${title}`;
    case 'running':
      return `  ${style.yellow(SPINNER[frame % SPINNER.length] ?? '-')} ${title} ${style.dim(seconds(Date.now() - state.since))}`;
    case 'done':
      return `  ${style.green('✔')} ${title}: ${state.outcome} ${style.dim(seconds(state.ms))}`;
    case 'failed':
      return `  ${style.red('✖')} ${title}: ${style.red(state.error.message.split('\n')[0] ?? '')} ${style.dim(seconds(state.ms))}`;
  }
}

/** Redraws the current phase in place, with a spinner for running tasks. */
export function terminalReporter(out: NodeJS.WritableStream): PlanReporter {
  const style = styleFor(out);
  let states: TaskState[] = [];
  let current: Phase | undefined;
  let drawn = 0;
  let frame = 0;
  let timer: NodeJS.Timeout | undefined;
  const draw = (): void => {
    if (current === undefined) return;
    const phase = current;
    const lines = phase.tasks.map((task, i) =>
      line(style, task.title, states[i] ?? { kind: 'pending' }, frame),
    );
    out.write(`${drawn > 0 ? `\x1b[${drawn}A` : ''}${lines.map((l) => `\x1b[2K${l}\n`).join('')}`);
    drawn = lines.length;
  };
  return {
    phaseStarted(phase) {
      current = phase;
      states = phase.tasks.map(() => ({ kind: 'pending' }));
      drawn = 0;
      out.write(`${style.bold(phase.title)}\n`);
      draw();
      timer = setInterval(() => {
        frame++;
        draw();
      }, 100);
    },
    taskChanged(_phase, index, state) {
      states[index] = state;
      draw();
    },
    phaseFinished() {
      clearInterval(timer);
      draw();
      current = undefined;
    },
  };
}

/** For logs and CI: the phase title, then each task once it has finished. */
export function plainReporter(out: NodeJS.WritableStream): PlanReporter {
  return {
    phaseStarted(phase) {
      out.write(`${phase.title}\n`);
    },
    taskChanged(phase, index, state) {
      if (state.kind === 'done' || state.kind === 'failed') {
        out.write(`${line(PLAIN, phase.tasks[index]?.title ?? '', state, 0)}\n`);
      }
    },
    phaseFinished: () => undefined,
  };
}

export function reporterFor(out: NodeJS.WritableStream & { isTTY?: boolean }): PlanReporter {
  return out.isTTY === true ? terminalReporter(out) : plainReporter(out);
}

/**
 * One line of progress for long commands that are not a task list (a drill): redrawn in place on
 * a terminal; without one, only lines that are not `transient` are printed, one each.
 */
export function progressLine(out: NodeJS.WritableStream & { isTTY?: boolean }): {
  update: (text: string, transient?: boolean) => void;
  clear: () => void;
} {
  if (out.isTTY !== true) {
    return {
      update: (text, transient) => {
        if (transient !== true) out.write(`${text}\n`);
      },
      clear: () => undefined,
    };
  }
  const style = styleFor(out);
  return {
    update: (text) => {
      out.write(`\r\x1b[2K${style.dim(text)}`);
    },
    clear: () => {
      out.write('\r\x1b[2K');
    },
  };
}

/**
 * Wraps a reporter to time each phase (phases run one after another, so their times add up to
 * the command's) and name its slowest task: where a long `up` spent its time.
 */
export function timedReporter(inner: PlanReporter): PlanReporter & { slowest(n: number): string } {
  const started = new Map<Phase, number>();
  const phases: { title: string; ms: number; task: string }[] = [];
  return {
    phaseStarted(phase) {
      started.set(phase, Date.now());
      inner.phaseStarted(phase);
    },
    taskChanged: (phase, index, state) => {
      inner.taskChanged(phase, index, state);
    },
    phaseFinished(phase, states) {
      inner.phaseFinished(phase, states);
      let task = '';
      let most = -1;
      states.forEach((state, index) => {
        if ((state.kind === 'done' || state.kind === 'failed') && state.ms > most) {
          most = state.ms;
          task = phase.tasks[index]?.title ?? '';
        }
      });
      phases.push({
        title: phase.title,
        ms: Date.now() - (started.get(phase) ?? Date.now()),
        task,
      });
    },
    slowest(n) {
      const total = phases.reduce((sum, p) => sum + p.ms, 0);
      const top = [...phases]
        .sort((a, b) => b.ms - a.ms)
        .slice(0, n)
        .map(
          (p) =>
            `${p.title} ${(p.ms / 1000).toFixed(1)} s${phases.length > 1 && p.task !== '' ? ` (${p.task.split(':')[0] ?? ''})` : ''}`,
        );
      return `${(total / 1000).toFixed(1)} s; slowest: ${top.join(', ')}`;
    },
  };
}
