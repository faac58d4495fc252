import cliProgress from "cli-progress";

/** A progress bar on stderr when it is a terminal; silent otherwise (CI logs, pipes, --json). */
export function progressBar(label: string, enabled = process.stderr.isTTY === true) {
  if (!enabled) return { update: (_done: number, _total: number) => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { format: `${label.padEnd(24)} {bar} {value}/{total} {percentage}% {eta_formatted}`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done: number, total: number) {
      if (!started) {
        bar.start(total, done);
        started = true;
      } else bar.setTotal(total);
      bar.update(done);
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
