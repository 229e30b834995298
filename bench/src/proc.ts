// Reads other processes of this benchmark from /proc (Linux): the stack's children are found by
// their entry file among this process's descendants, then their RSS and CPU time are read directly,
// so the numbers are the process's own, not what it reports about itself.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

interface ProcEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly cmdline: string;
}

function listProcesses(): ProcEntry[] {
  const entries: ProcEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // The command name (field 2) may contain spaces and parentheses: parse after the last ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
      entries.push({ pid: Number(name), ppid: Number(fields[1]), cmdline });
    } catch {
      // The process exited while we looked.
    }
  }
  return entries;
}

/** The pid of a descendant of `root` whose command line contains `fragment` (e.g. 'gateway/src/main.ts'). */
export function findDescendantPid(fragment: string, root = process.pid): number {
  const all = listProcesses();
  const descendants = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const entry of all) {
      if (!descendants.has(entry.pid) && descendants.has(entry.ppid)) {
        descendants.add(entry.pid);
        grew = true;
      }
    }
  }
  const found = all.find((entry) => entry.pid !== root && descendants.has(entry.pid) && entry.cmdline.includes(fragment));
  if (!found) throw new Error(`no child process running ${fragment}`);
  return found.pid;
}

/** VmRSS of a process in bytes. */
export function readRssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

/** User + system CPU seconds a process has used so far. */
export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After the command: state(0) ppid(1) … utime(11) stime(12).
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** One environment variable of a child process, as that process received it. */
export function readProcessEnv(pid: number, name: string): string | undefined {
  const prefix = `${name}=`;
  return readFileSync(`/proc/${pid}/environ`, 'utf8')
    .split('\0')
    .find((item) => item.startsWith(prefix))
    ?.slice(prefix.length);
}

/** Busy CPU seconds of the whole machine (all cores, all processes: /proc/stat). */
export function readMachineBusySeconds(): number {
  const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …: busy = all but idle and iowait.
  const busy = fields.reduce((sum, value, index) => (index === 3 || index === 4 || index > 7 ? sum : sum + value), 0);
  return busy / CLOCK_TICKS;
}

/** CPU seconds of every process whose executable is `name` (e.g. all postgres backends). */
function readCpuSecondsByName(name: string): Map<number, number> {
  const found = new Map<number, number>();
  for (const entry of listProcesses()) {
    // The executable, or a postgres backend's retitled "postgres: user db …".
    const executable = entry.cmdline.split(' ')[0] ?? '';
    if (executable.split('/').at(-1) !== name && executable !== `${name}:`) continue;
    try {
      found.set(entry.pid, readCpuSeconds(entry.pid));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

const SHARED_SERVICES = { postgres: 'postgres', redis: 'redis-server' } as const;

/**
 * CPU seconds used between two calls of the returned function by: the given processes, PostgreSQL
 * and Redis (every process of theirs on the box), this process, and the whole machine.
 */
export function cpuMeter(pids: Readonly<Record<string, number>>): () => Record<string, number> {
  const start = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, readCpuSeconds(pid)]));
  const services = Object.fromEntries(Object.entries(SHARED_SERVICES).map(([label, name]) => [label, readCpuSecondsByName(name)]));
  const machine = readMachineBusySeconds();
  const self = process.cpuUsage();
  return () => {
    const used: Record<string, number> = Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, readCpuSeconds(pid) - (start[name] ?? 0)]));
    for (const [label, name] of Object.entries(SHARED_SERVICES)) {
      const before = services[label] ?? new Map<number, number>();
      let total = 0;
      for (const [pid, seconds] of readCpuSecondsByName(name)) total += seconds - (before.get(pid) ?? 0);
      used[label] = total;
    }
    const own = process.cpuUsage(self);
    used['load generator'] = (own.user + own.system) / 1e6;
    used['machine (all)'] = readMachineBusySeconds() - machine;
    return used;
  };
}

/**
 * On SIGINT/SIGTERM, runs `cleanup` (stop the stack and client processes, drop the database) and
 * exits 130, so an interrupted benchmark leaves no processes or databases behind. Returns the
 * function that unregisters it.
 */
export function onInterrupt(cleanup: () => PromiseLike<unknown>): () => void {
  const handler = (signal: NodeJS.Signals): void => {
    console.error(`\n${signal}: stopping the benchmark's processes`);
    void Promise.resolve(cleanup())
      .catch((error: unknown) => console.error(error))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', handler);
  process.once('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}
