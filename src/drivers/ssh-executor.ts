/**
 * One SSH session per host that runs every command sent to it, instead of one session a command.
 *
 * A command in a session of its own costs the host a fork of sshd, a login (PAM, a logind session
 * and its scope) and a shell, and this machine an `ssh` process: 30 ms of CPU each, measured on the
 * test machines, where the same command through this session costs 6 ms. A `foobar up` with nothing
 * to do makes about 180 of them on the default site.
 *
 * The program on the host is Perl, from perl-base (Essential in Debian: on every Debian machine),
 * using only modules of perl-base. Requests and answers are framed by lengths, so any bytes pass:
 *
 *   request   `ID INPUT_LENGTH ARG_LENGTH...\n` then the arguments' bytes, then the input's
 *   answer    `ID STATUS STDOUT_LENGTH STDERR_LENGTH\n` then stdout's bytes, then stderr's
 *
 * Each command is forked and exec'd (argv as given, no shell, in a process group of its own),
 * several at once; its input is written as it reads it, its output read as it writes it. STATUS is
 * its exit code, or 128 + the signal that ended it, as a shell says. The session announces itself
 * with one line (HELLO) before anything else. When its standard input ends (foobar closed it, or
 * the connection is gone), the commands still running are sent SIGTERM, as a session's end would
 * have them, and it exits.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { ExecResult } from './driver.ts';
import { quoteArgv } from './quote.ts';

export const HELLO = 'foobar-executor 1';

export const EXECUTOR = `$0 = 'foobar-executor';
use strict; use warnings; use POSIX ();
$SIG{PIPE} = 'IGNORE';
# A child's end interrupts select (EINTR), so it is answered at once, not at the next 20 ms look.
$SIG{CHLD} = sub {};
binmode STDIN; binmode STDOUT;
my $tck = POSIX::sysconf(POSIX::_SC_CLK_TCK());
sub now { (POSIX::times())[0] * 1000 / $tck }
my %jobs; my $rbuf = ''; my $eof = 0;
sub say_all { my $s = shift; while (length $s) { my $n = syswrite(STDOUT, $s); if (!defined $n) { next if $!{EINTR}; exit 1 } substr($s, 0, $n) = '' } }
sub refuse { my ($id, $m) = @_; say_all("$id 126 0 " . length($m) . "\\n$m") }
sub start {
  my ($id, $timeout, $input, @argv) = @_;
  my ($cr, $pw, $pr, $cw, $er, $ew);
  return refuse($id, "pipe: $!") unless pipe($cr, $pw) && pipe($pr, $cw) && pipe($er, $ew);
  my $pid = fork;
  return refuse($id, "fork: $!") unless defined $pid;
  if ($pid == 0) {
    POSIX::setpgid(0, 0); $SIG{PIPE} = 'DEFAULT';
    open(STDIN, '<&', $cr); open(STDOUT, '>&', $cw); open(STDERR, '>&', $ew);
    { no warnings; exec { $argv[0] } @argv; }
    print STDERR "cannot run $argv[0]: $!\\n"; POSIX::_exit(127);
  }
  close $cr; close $cw; close $ew;
  my $j = { id => $id, pid => $pid, out => $pr, err => $er, o => '', e => '', in => $pw, i => $input,
    # now() moves by whole clock ticks (10 ms): a tick more, so a command is never ended before
    # its timeout (ended at 490 ms of 500, it read as its own exit 124, not a timeout).
    deadline => $timeout > 0 ? now() + $timeout + 1000 / $tck : undef };
  if (length $input) { my $f = fcntl($pw, POSIX::F_GETFL(), 0); fcntl($pw, POSIX::F_SETFL(), $f | POSIX::O_NONBLOCK()) } else { close $pw; $j->{in} = undef }
  $jobs{$pid} = $j;
}
sub finish {
  for my $j (values %jobs) {
    next unless defined $j->{st};
    if ($j->{killed}) { for my $k ('out', 'err', 'in') { close $j->{$k} if $j->{$k}; $j->{$k} = undef } }
    next if $j->{out} || $j->{err};
    say_all("$j->{id} $j->{st} " . length($j->{o}) . ' ' . length($j->{e}) . "\\n$j->{o}$j->{e}");
    delete $jobs{$j->{pid}};
  }
}
sub reap {
  while ((my $pid = waitpid(-1, POSIX::WNOHANG())) > 0) {
    my $j = $jobs{$pid} or next;
    $j->{st} = $j->{killed} ? $j->{killed} : POSIX::WIFSIGNALED($?) ? 128 + POSIX::WTERMSIG($?) : POSIX::WEXITSTATUS($?);
  }
}
sub expire {
  my $t = now(); my $wait;
  for my $j (values %jobs) {
    next if defined $j->{st} || !defined $j->{deadline};
    if ($t >= $j->{deadline}) {
      if (!$j->{killed}) { kill 'TERM', -$j->{pid}; $j->{killed} = 124; $j->{deadline} = $t + 2000 }
      else { kill 'KILL', -$j->{pid}; $j->{killed} = 137; $j->{deadline} = undef; next }
    }
    my $left = ($j->{deadline} - $t) / 1000;
    $wait = $left if !defined $wait || $left < $wait;
  }
  return $wait;
}
say_all("${HELLO}\\n");
while (1) {
  while ((my $nl = index($rbuf, "\\n")) >= 0) {
    my ($id, $timeout, $inlen, @lens) = split / /, substr($rbuf, 0, $nl);
    my $need = $nl + 1 + $inlen; $need += $_ for @lens;
    last if length($rbuf) < $need;
    my $at = $nl + 1; my @argv;
    for my $l (@lens) { push @argv, substr($rbuf, $at, $l); $at += $l }
    my $input = substr($rbuf, $at, $inlen);
    substr($rbuf, 0, $need) = '';
    start($id, $timeout, $input, @argv);
  }
  if ($eof) { kill 'TERM', map { -$_ } keys %jobs; exit 0 }
  my ($rin, $win) = ('', '');
  vec($rin, fileno(STDIN), 1) = 1;
  my $wait = expire();
  for my $j (values %jobs) {
    vec($rin, fileno($j->{out}), 1) = 1 if $j->{out};
    vec($rin, fileno($j->{err}), 1) = 1 if $j->{err};
    vec($win, fileno($j->{in}), 1) = 1 if $j->{in};
    $wait = 0.02 if !$j->{out} && !$j->{err} && !defined $j->{st} && (!defined $wait || $wait > 0.02);
  }
  my $n = select(my $r = $rin, my $w = $win, undef, $wait);
  if ($n < 0) { next if $!{EINTR}; die "select: $!" }
  if ($n > 0 && vec($r, fileno(STDIN), 1)) {
    my $got = sysread(STDIN, $rbuf, 65536, length $rbuf);
    $eof = 1 if defined $got && $got == 0;
  }
  for my $j ($n > 0 ? values %jobs : ()) {
    for my $k (['out', 'o'], ['err', 'e']) {
      my $fh = $j->{$k->[0]} or next;
      next unless vec($r, fileno($fh), 1);
      my $got = sysread($fh, $j->{$k->[1]}, 65536, length $j->{$k->[1]});
      if (defined $got && $got == 0) { close $fh; $j->{$k->[0]} = undef }
    }
    if ($j->{in} && vec($w, fileno($j->{in}), 1)) {
      my $put = syswrite($j->{in}, $j->{i});
      if (!defined $put) { if (!$!{EAGAIN} && !$!{EINTR}) { close $j->{in}; $j->{in} = undef } }
      else { substr($j->{i}, 0, $put) = ''; if (!length $j->{i}) { close $j->{in}; $j->{in} = undef } }
    }
  }
  reap(); finish();
}
`;

/**
 * The remote command: a few bytes of Perl that read the program above from standard input, then
 * run it (so that \`ps\` on the host shows a short line, then \`foobar-executor\`).
 */
export const EXECUTOR_COMMAND = quoteArgv([
  'perl',
  '-e',
  `my $p = ''; while (length($p) < ${Buffer.byteLength(EXECUTOR)}) { sysread(STDIN, $p, ${Buffer.byteLength(EXECUTOR)} - length($p), length($p)) or exit 1 } eval $p; die $@ if $@;`,
]);

/** Exit status of a request the session ended before answering (as ssh's own 255). */
const SESSION_ENDED = 255;

interface Pending {
  readonly resolve: (result: ExecResult) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * The client side: `ssh ... -- DEST perl -e EXECUTOR`, started by the driver. `run` sends one
 * command and resolves with what it did; a command the session could not answer (the connection
 * ended) resolves with exit 255 and ssh's own message, as a command in a session of its own would.
 * `fallback` is set when the host has no Perl: the driver then runs each command as before.
 */
export class Executor {
  readonly #child: ChildProcessWithoutNullStreams;
  readonly #pending = new Map<number, Pending>();
  readonly #ended: Promise<void>;
  #nextId = 1;
  #buffer: Buffer = Buffer.alloc(0);
  #hello = false;
  #stderr = '';
  #done = false;
  /** Ended before it said HELLO without ssh's own failure: the host cannot run it. */
  fallback = false;

  constructor(sshArgv: readonly string[]) {
    const [file = 'ssh', ...args] = sshArgv;
    this.#child = spawn(file, [...args, EXECUTOR_COMMAND], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child.stdin.on('error', () => undefined);
    this.#child.stdin.write(EXECUTOR);
    this.#child.stdout.on('data', (chunk: Buffer) => {
      this.#read(chunk);
    });
    this.#child.stderr.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-4000);
    });
    this.#ended = new Promise((resolve) => {
      this.#child.once('error', (error) => {
        this.#stderr += `\ncannot run ${file}: ${error.message}`;
        this.#end(-1);
        resolve();
      });
      this.#child.once('close', (code) => {
        this.#end(code ?? -1);
        resolve();
      });
    });
    this.#idle();
  }

  /** Still able to take commands. */
  get open(): boolean {
    return !this.#done;
  }

  /**
   * Runs argv on the host with `input` on its standard input. After `timeoutMs` the session ends
   * it there (SIGTERM to its process group, SIGKILL 2 s later: exit 124 or 137, as coreutils'
   * `timeout` says); this side gives up waiting `marginMs` later.
   */
  run(
    argv: readonly string[],
    input: string | Uint8Array | undefined,
    timeoutMs: number,
    marginMs: number,
  ): Promise<ExecResult> {
    if (this.#done) return Promise.resolve(this.#lost());
    const id = this.#nextId++;
    const args = argv.map((arg) => Buffer.from(arg, 'utf8'));
    const stdin = input === undefined ? Buffer.alloc(0) : Buffer.from(input);
    const header = [
      id,
      Math.max(1, Math.ceil(timeoutMs)),
      stdin.byteLength,
      ...args.map((arg) => arg.byteLength),
    ].join(' ');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.#idle();
        resolve({ stdout: '', stderr: '(timed out)', exitCode: -1 });
      }, timeoutMs + marginMs);
      this.#pending.set(id, { resolve, timer });
      this.#busy();
      this.#child.stdin.write(Buffer.concat([Buffer.from(`${header}\n`), ...args, stdin]));
    });
  }

  /** Ends the session: its standard input closed, the host's side exits. */
  async close(): Promise<void> {
    if (!this.#done) this.#child.stdin.end();
    const bound = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await this.#ended;
    clearTimeout(bound);
  }

  #read(chunk: Buffer): void {
    this.#buffer = this.#buffer.byteLength === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    for (;;) {
      const nl = this.#buffer.indexOf(10);
      if (nl < 0) return;
      const line = this.#buffer.subarray(0, nl).toString('latin1');
      if (!this.#hello) {
        if (line !== HELLO) {
          this.#stderr += `\nunexpected first line from the host: ${line.slice(0, 200)}`;
          this.#child.kill('SIGKILL');
          return;
        }
        this.#hello = true;
        this.#buffer = this.#buffer.subarray(nl + 1);
        continue;
      }
      const [id = NaN, status = NaN, outLength = NaN, errLength = NaN] = line
        .split(' ')
        .map(Number);
      const end = nl + 1 + outLength + errLength;
      if (this.#buffer.byteLength < end) return;
      const stdout = this.#buffer.subarray(nl + 1, nl + 1 + outLength).toString('utf8');
      const stderr = this.#buffer.subarray(nl + 1 + outLength, end).toString('utf8');
      this.#buffer = this.#buffer.subarray(end);
      const pending = this.#pending.get(id);
      if (pending === undefined) continue;
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      this.#idle();
      pending.resolve({ stdout, stderr, exitCode: status });
    }
  }

  /** Every command not answered ends as ssh ends one whose connection is gone. */
  #end(code: number): void {
    this.#done = true;
    if (!this.#hello && code !== SESSION_ENDED) this.fallback = true;
    for (const [id, pending] of this.#pending) {
      this.#pending.delete(id);
      clearTimeout(pending.timer);
      pending.resolve(this.#lost());
    }
  }

  #lost(): ExecResult {
    return {
      stdout: '',
      // What ssh said, as a command in a session of its own gets it: often nothing (LogLevel
      // ERROR), and a caller that expects a lost connection (a firewall applied over it) retries.
      stderr: this.#stderr,
      exitCode: this.fallback ? -1 : SESSION_ENDED,
    };
  }

  /** Idle, the session does not keep this process alive; a command waiting for its answer does. */
  #idle(): void {
    if (this.#pending.size > 0) return;
    this.#child.unref();
    for (const stream of [this.#child.stdin, this.#child.stdout, this.#child.stderr]) {
      (stream as unknown as { unref?: () => void }).unref?.();
    }
  }

  #busy(): void {
    this.#child.ref();
    for (const stream of [this.#child.stdin, this.#child.stdout, this.#child.stderr]) {
      (stream as unknown as { ref?: () => void }).ref?.();
    }
  }
}
