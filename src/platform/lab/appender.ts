/**
 * The appender of a daemon whose output is non-blocking (Daemon.outputNonBlocking: HAProxy): it
 * reads the daemon's output pipe and appends what it reads to the daemon's log file, which the
 * driver opened with O_APPEND for it, so the log rotator's copy and truncate is safe.
 *
 * It drains the pipe every APPENDER_PERIOD_MS, not as each line arrives, out of a pipe of
 * APPENDER_PIPE_BYTES. A reader that waits on the pipe (`cat`, which it was) is woken by every
 * line the daemon writes, and HAProxy pays for the wakeup in each request: measured on lb-01
 * (interleaved 5 s wrk rounds on three copies of our config, HAProxy's CPU per static request,
 * median of 9): a file 65 µs, a pipe read by `cat` 75, this appender 66. The larger pipe also
 * holds a burst that a 64 kB one could not while its reader waited its turn: HAProxy drops a line
 * it cannot write at once (`DroppedLogs`): 1,926 of 114,000 through `cat`, 259 of 123,000 here.
 * Lines reach the file at most a period late. Perl is in every Debian (perl-base is essential).
 */
import type { Command } from '../../drivers/driver.ts';

/** The pipe's size (Linux's F_SETPIPE_SZ; root may set up to /proc/sys/fs/pipe-max-size). */
export const APPENDER_PIPE_BYTES = 1024 * 1024;
/** How long the appender sleeps after each read. */
export const APPENDER_PERIOD_MS = 100;

// $ARGV: the pipe, its size, the period in seconds. 1031 is F_SETPIPE_SZ, whose argument must be
// a number (a string would be passed as a pointer to it). A write to the file may be short (a
// full disk): the rest is written, or the appender dies saying why.
const SCRIPT = `use strict;
my ($pipe, $size, $period) = ($ARGV[0], int($ARGV[1]), $ARGV[2]);
open(my $in, '<', $pipe) or die "$pipe: $!\\n";
fcntl($in, 1031, $size) or warn "appender: F_SETPIPE_SZ $size: $!\\n";
while (1) {
  my $n = sysread($in, my $buf, $size);
  die "appender: $pipe: $!\\n" if !defined $n;
  last if $n == 0;
  for (my $off = 0; $off < $n; ) {
    my $w = syswrite(STDOUT, $buf, $n - $off, $off);
    die "appender: $!\\n" if !defined $w;
    $off += $w;
  }
  select(undef, undef, undef, $period);
}
`;

/** The appender's command: it reads `pipe` until its last writer is gone, then exits. */
export function appenderCommand(pipe: string): Command {
  return {
    argv: [
      'perl',
      '-e',
      SCRIPT,
      pipe,
      String(APPENDER_PIPE_BYTES),
      String(APPENDER_PERIOD_MS / 1000),
    ],
  };
}
