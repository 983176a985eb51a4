/**
 * SIGINT / SIGTERM / SIGUSR2 during a run: the first one asks the run to stop after the step in
 * flight (it then saves a checkpoint, prints its summary and exits 130 / 143 / 140); a second one
 * exits at once. SIGUSR2 is the one to send to a data-parallel job: Open MPI's mpirun forwards it
 * to every rank (a Ctrl-C on mpirun kills the ranks about a second after its SIGTERM), and
 * `sbatch --signal=USR2@120` sends it ahead of a Slurm time limit. (SIGUSR1 would start Deno's
 * inspector.)
 * @module
 */

/** The signals a run stops on, and the conventional exit code of each (128 + signal number). */
export const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143, SIGUSR2: 140 } as const;

/** A signal that stops a run. */
export type StopSignal = keyof typeof SIGNAL_EXIT;

/** Thrown by the pretrain command after an interrupted run has saved and printed its summary. */
export class RunInterrupted extends Error {
  /** The exit code for `signal`. */
  readonly exitCode: number;
  constructor(readonly signal: StopSignal) {
    super(`interrupted by ${signal}`);
    this.name = "RunInterrupted";
    this.exitCode = SIGNAL_EXIT[signal];
  }
}

/** Whether `s` names a stop signal. */
export function isStopSignal(s: unknown): s is StopSignal {
  return typeof s === "string" && s in SIGNAL_EXIT;
}

/** Listeners installed by `installStopSignals`. */
export interface StopSignals {
  /** Aborted (reason: the signal's name) by the first signal. */
  readonly signal: AbortSignal;
  /** Remove the listeners (the default behaviour of the signals returns). */
  dispose(): void;
}

/**
 * Listen for SIGINT and SIGTERM. `what` says what the run will do when asked to stop (printed
 * with the acknowledgement, e.g. "then saving a checkpoint to ckpt").
 */
export function installStopSignals(what: () => string): StopSignals {
  const controller = new AbortController();
  const listeners: [StopSignal, () => void][] = [];
  for (const sig of Object.keys(SIGNAL_EXIT) as StopSignal[]) {
    const listener = () => {
      if (!controller.signal.aborted) {
        console.error(
          `tempo: ${sig} received: stopping after the step in flight${what()}; ` +
            `${sig === "SIGINT" ? "press Ctrl-C" : `send ${sig}`} again to exit at once`,
        );
        controller.abort(sig);
        return;
      }
      try {
        if (Deno.stdout.isTerminal()) Deno.stdout.writeSync(new TextEncoder().encode("\x1b[?25h"));
      } catch {
        // not a terminal after all
      }
      console.error(
        `tempo: second ${sig}: exiting at once; a checkpoint being written is abandoned ` +
          "(earlier ones are intact)",
      );
      Deno.exit(SIGNAL_EXIT[sig]);
    };
    try {
      Deno.addSignalListener(sig, listener);
      listeners.push([sig, listener]);
    } catch {
      // this platform has no such signal (SIGTERM on Windows)
    }
  }
  return {
    signal: controller.signal,
    dispose() {
      for (const [sig, l] of listeners.splice(0)) Deno.removeSignalListener(sig, l);
    },
  };
}
