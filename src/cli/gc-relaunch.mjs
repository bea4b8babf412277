// V8 flags for the long-running server, which only the node command line can set: V8 refuses
// `--single-threaded-gc` in NODE_OPTIONS and traps when it is set at run time
// (v8.setFlagsFromString, measured), so `claimlens serve` and the benchmark that hosts the
// server start node again with it, once.
//
// Why single-threaded GC on a small machine: with two cores the serving thread already shares
// them with the database thread, two intake threads and the analysis threads; V8's four
// parallel and concurrent GC helper threads then cost more CPU per claim (0.5 ms) than the
// marking they take off the serving thread saves. Alternating A/B runs of the submission
// benchmark on this 2-core machine, API only, 9 pairs: 601 against 542 claims/s on average,
// p99 59 against 76 ms, 2.94 against 3.31 ms of server CPU per claim (better in 8 of 9 pairs);
// analysis drained no slower (docs/service.md, session 7). Not measured on larger machines,
// where parallel marking keeps pauses short: there the default stays.
//
// Plain JavaScript (no tsx): bin/claimlens.mjs loads it before the TypeScript loader.

import { spawn } from 'node:child_process';
import { availableParallelism, constants } from 'node:os';

/** Set in the relaunched process, so that it never relaunches again. */
export const RELAUNCHED = 'CLAIMLENS_GC_RELAUNCHED';

/**
 * The GC flags the server should run with: CLAIMLENS_GC=single|parallel chooses, otherwise
 * single-threaded on 2 cores or fewer. Throws on any other CLAIMLENS_GC value.
 */
export function serverGcFlags(env = process.env, cores = availableParallelism()) {
  const choice = env.CLAIMLENS_GC ?? '';
  if (choice !== '' && choice !== 'single' && choice !== 'parallel') {
    throw new Error(`CLAIMLENS_GC must be 'single' or 'parallel', not '${choice}'`);
  }
  const single = choice === 'single' || (choice === '' && cores <= 2);
  return single ? ['--single-threaded-gc'] : [];
}

/**
 * The server's GC flags this process lacks, to start node again with: none in a process that
 * is already such a relaunch.
 */
export function missingServerGcFlags(env = process.env) {
  const flags = serverGcFlags(env);
  return env[RELAUNCHED] === '1' ? [] : flags.filter((f) => !process.execArgv.includes(f));
}

/**
 * Runs `script args` again in a new node process with the server's GC flags, unless this
 * process already has them (or is that relaunch). Resolves to the child's exit code (after
 * the child exited), or null when no relaunch is needed and the caller should go on itself.
 *
 * The child runs in its own process group, so a terminal's Ctrl-C reaches it once (through
 * this process) rather than twice; SIGINT, SIGTERM and SIGHUP are passed on; a child killed by
 * a signal makes this process die of the same signal. If this process is killed outright
 * (SIGKILL), the child notices its IPC channel close and kills itself the same way
 * (watchParent), so no server is left behind holding the port and the data folder.
 */
export function relaunchWithGcFlags(script, args, env = process.env) {
  const flags = missingServerGcFlags(env);
  if (flags.length === 0) return Promise.resolve(null);
  const child = spawn(process.execPath, [...process.execArgv, ...flags, script, ...args], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...env, [RELAUNCHED]: '1' },
    detached: true,
  });
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const pass = (sig) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
  };
  for (const s of signals) process.on(s, pass);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      for (const s of signals) process.off(s, pass);
      if (signal) {
        process.kill(process.pid, signal);
        // A signal this process ignores or handles still has to end it.
        resolve(128 + (constants.signals[signal] ?? constants.signals.SIGKILL));
        return;
      }
      resolve(code ?? 1);
    });
  });
}

/**
 * In the relaunched process: dies (SIGKILL, as its parent did) when the parent that started it
 * disappears without passing a signal on. The IPC channel is unreferenced, so it never keeps
 * the process alive by itself.
 */
export function watchParent() {
  if (process.env[RELAUNCHED] !== '1' || !process.channel) return;
  process.channel.unref();
  process.once('disconnect', () => process.kill(process.pid, 'SIGKILL'));
}
