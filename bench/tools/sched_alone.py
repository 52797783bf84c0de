#!/usr/bin/env python3
"""Where a run's idle CPU is, from the scheduler: which threads run alone while a core is idle,
for how long, and what ends those stretches (the README's "Where the idle is" tables).

Record a few seconds of a running bench with both events, on every core, then read them:

    $B bench --mode api --runs 1 --events 60000 --concurrency 64 > /dev/null &
    sleep 4
    perf record -e sched:sched_switch -e sched:sched_waking -a -o sched.data -- sleep 2
    wait
    perf script -i sched.data -F comm,pid,tid,cpu,time,event,trace > sched.txt
    python3 bench/tools/sched_alone.py sched.txt

Prints the share of time with every core busy, one idle and all idle (machine idle = all idle
plus the one-idle share over the cores), which thread ran alone how long (the server, the one
process with a `sqlite-writer` thread, as `srv`; other processes by pid), and, for each alone
stretch, what ended it: another thread starting on the idle core (and which thread woke it),
the alone thread sleeping, or its core switching to another thread. Written for 2 cores; give
the count as the second argument on others.
"""

import collections
import re
import sys

LINE = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)$")


def short(comm):
    return re.sub(r"\d+$", "#", comm)


def main(path, cores):
    events, tgid, names, server = [], {}, {}, None
    for line in open(path, encoding="utf-8", errors="replace"):
        m = LINE.match(line)
        if not m:
            continue
        comm, pid, tid = m.group(1), int(m.group(2)), int(m.group(3))
        tgid[tid], names[tid] = pid, short(comm)
        if comm == "sqlite-writer":
            server = pid
        events.append((float(m.group(5)), int(m.group(4)), m.group(6), m.group(7), tid))

    def label(tid):
        pid = tgid.get(tid)
        return f"{'srv' if pid == server and pid else pid or '?'}:{names.get(tid, '?')}"

    current, woken = {}, {}
    shares, alone = collections.Counter(), collections.Counter()
    ends = collections.defaultdict(lambda: [0, 0.0])
    start = who = previous = None
    for t, cpu, kind, trace, tid in events:
        if kind == "sched_waking":
            m = re.search(r"pid=(\d+)", trace)
            woken[int(m.group(1))] = (t, tid)
            continue
        if kind != "sched_switch":
            continue
        m = re.search(r"next_comm=(.+?) next_pid=(\d+)", trace)
        following = int(m.group(2))
        names.setdefault(following, short(m.group(1)))
        if previous is not None and len(current) == cores:
            busy = [c for c, running in current.items() if running]
            took = (t - previous) * 1e6
            shares[len(busy)] += took
            if len(busy) == 1:
                alone[label(current[busy[0]])] += took
        previous = t
        before = dict(current)
        current[cpu] = following
        if len(current) < cores:
            continue
        busy_now = [c for c, running in current.items() if running]
        was_alone = len(before) == cores and sum(1 for r in before.values() if r) == 1
        if was_alone and start is not None and not (len(busy_now) == 1 and current[busy_now[0]] == who):
            if len(busy_now) == cores:
                wake = woken.get(following)
                when = "before" if wake and wake[0] < start else "during"
                by = label(wake[1]) if wake else "?"
                end = f"another core runs {label(following)}, woken {when} by {by}"
            elif not busy_now:
                end = "it sleeps: every core idle"
            else:
                end = f"its core switches to {label(current[busy_now[0]])}"
            ends[(label(who), end)][0] += 1
            ends[(label(who), end)][1] += (t - start) * 1e6
            start = None
        if len(busy_now) == 1 and start is None:
            start, who = t, current[busy_now[0]]

    total = sum(shares.values()) or 1.0
    idle = sum(share * (cores - busy) / cores for busy, share in shares.items())
    print(f"cores busy: " + ", ".join(
        f"{busy} {100 * shares[busy] / total:.2f}%" for busy in sorted(shares)))
    print(f"machine idle {100 * idle / total:.2f}%")
    print("alone: " + ", ".join(f"{k} {100 * v / total:.2f}%" for k, v in alone.most_common(8)))
    print("alone stretches, longest total first (ms in all, count, average µs, thread, end):")
    for (thread, end), (n, us) in sorted(ends.items(), key=lambda kv: -kv[1][1])[:20]:
        print(f"{us / 1e3:8.2f} {n:6d} {us / n:8.1f}  {thread:24} {end}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2)
