// Preloaded with --require into a process under benchmark: at exit it appends the process's
// peak resident set size in KB to $RUNMAT_BENCH_RSS_FILE. On Linux it reads VmHWM, because
// getrusage's maxRSS survives exec and would report the (much larger) parent that forked us.
const { appendFileSync, readFileSync } = require("node:fs");

function peakKilobytes() {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (match) return Number(match[1]);
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS;
}

process.on("exit", () => {
  const file = process.env.RUNMAT_BENCH_RSS_FILE;
  if (file) appendFileSync(file, `${peakKilobytes()}\n`);
});
