// V8 flags for the long-running server, which only the node command line can set: V8 refuses
// `--single-threaded-gc` in NODE_OPTIONS and traps when it is set at run time
// (v8.setFlagsFromString, measured), and `--initial-old-space-size` is read once, when an
// isolate's heap is made, so `claimlens serve` and the benchmark that hosts the server start
// node again with them, once. (The old-generation floor: DEFAULT_OLD_SPACE_FLOOR_MB below.)
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
// Why not `--single-threaded-gc` itself, which sessions 7–15 used: it also turns off concurrent
// sweeping (of pages and of ArrayBuffers), so a mark-compact frees every dead object inside its
// pause. The database thread's old generation grows to ~100 MB between its mark-compacts, and
// its pause was then 138–184 ms (five runs with --trace-gc), the mid-run stall of the paced
// submission benchmark; with sweeping left to a helper thread the same collection (99 → 18 MB)
// paused 24 ms (docs/service.md, session 16). Marking, scavenging and compaction stay on the
// thread that collects, which is where the CPU saving measured in session 7 came from.
// (`--no-cppheap-concurrent-marking` goes with `--no-concurrent-marking`: without it V8 aborts
// in its C++ heap's marker when a worker collects.)
//
// Plain JavaScript (no tsx): bin/claimlens.mjs loads it before the TypeScript loader.

import { spawn } from 'node:child_process';
import { availableParallelism, constants } from 'node:os';

/** Set in the relaunched process, so that it never relaunches again. */
export const RELAUNCHED = 'CLAIMLENS_GC_RELAUNCHED';

/**
 * Default floor of every isolate's old-generation limit, MB (CLAIMLENS_GC_OLD_SPACE_MB).
 *
 * Why: V8 counts external memory allocated since the last full collection (ArrayBuffer backing
 * stores: Node's HTTP parser copies every body chunk into a Buffer of its own, ~300 KB per
 * claim) against the old generation's limit, and starts a full collection when less than the
 * young generation's capacity is left. The serving thread's live heap is ~25 MB, so its limit
 * sat ~35 MB above it, the ~30 MB of body chunks between two scavenges ate that up, and under
 * load it ran a full collection every ~300 ms: `--trace-gc` counted 39 mark-compacts in one
 * submission bench with 1.4 s of incremental marking and 0.35 s of pauses, against 0.4 s for
 * all its scavenges. With a floor set, V8 lets the old generation grow to it before marking
 * (a floor is what `--initial-old-space-size` sets once given: "allow V8 to skip full GCs below
 * that threshold"): the same bench made 1 mark-compact. The cost is that an isolate may hold
 * up to this much of garbage in its old generation before it collects; external memory keeps
 * its own 64 MB trigger.
 */
export const DEFAULT_OLD_SPACE_FLOOR_MB = 128;

/** The collector CLAIMLENS_GC=single chooses: no GC helper threads but the sweepers (see above). */
export const SINGLE_THREADED_GC_FLAGS = [
  '--no-concurrent-marking',
  '--no-cppheap-concurrent-marking',
  '--no-parallel-marking',
  '--no-parallel-scavenge',
  '--no-parallel-compaction',
  '--no-parallel-pointer-update',
];

/** A command-line flag as node and V8 read it: without its value, `_` and `-` alike. */
function flagSpelling(arg) {
  return arg.split('=')[0].replaceAll('_', '-');
}

/** The V8 flag an argument sets, whichever way: `--no-concurrent-marking` and `--concurrent-marking` are one flag. */
function flagName(arg) {
  return flagSpelling(arg).replace(/^--no-/, '--');
}

/** Whether a node started with `execArgv` runs the single-threaded collector (ours or V8's own flag). */
export function runsSingleThreadedGc(execArgv = process.execArgv) {
  const given = new Set(execArgv.map(flagSpelling));
  return given.has('--single-threaded-gc') || SINGLE_THREADED_GC_FLAGS.every((f) => given.has(f));
}

/**
 * The GC flags the server should run with: CLAIMLENS_GC=single|parallel chooses the collector,
 * otherwise single-threaded on 2 cores or fewer; CLAIMLENS_GC_OLD_SPACE_MB sets the floor of
 * the old-generation limit (0: V8's own). Throws on any other value of either.
 */
export function serverGcFlags(env = process.env, cores = availableParallelism()) {
  const choice = env.CLAIMLENS_GC ?? '';
  if (choice !== '' && choice !== 'single' && choice !== 'parallel') {
    throw new Error(`CLAIMLENS_GC must be 'single' or 'parallel', not '${choice}'`);
  }
  const floorText = env.CLAIMLENS_GC_OLD_SPACE_MB ?? '';
  if (floorText !== '' && !/^\d{1,6}$/.test(floorText)) {
    throw new Error(`CLAIMLENS_GC_OLD_SPACE_MB must be a whole number of MB (0 for V8's default), not '${floorText}'`);
  }
  const floor = floorText === '' ? DEFAULT_OLD_SPACE_FLOOR_MB : Number(floorText);
  const single = choice === 'single' || (choice === '' && cores <= 2);
  return [...(single ? SINGLE_THREADED_GC_FLAGS : []), ...(floor > 0 ? [`--initial-old-space-size=${floor}`] : [])];
}

/**
 * The server's GC flags this process lacks, to start node again with: none in a process that
 * is already such a relaunch.
 */
export function missingServerGcFlags(env = process.env) {
  const flags = serverGcFlags(env);
  if (env[RELAUNCHED] === '1') return [];
  // A flag this node was started with, whatever its value (on or off), is the operator's choice.
  const given = new Set(process.execArgv.map(flagName));
  return flags.filter((f) => !given.has(flagName(f)));
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
