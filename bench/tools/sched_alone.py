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

The idle is split: idle while a thread was runnable and not running (woken and not yet started
on any core, or preempted: the wake-up's own latency or the kernel's placement; work existed
and the idle core had not yet taken it), and idle with nothing runnable (no thread had work),
either while a thread slept uninterruptibly (state D: here, a sync or a read of the disk) or
not (what a design that serialises leaves). A thread counts as waiting from its wake-up (or
preemption) until it is switched in, for waits that end within the recording; the idle while
threads waited is charged to them (by how they came to wait: woken by whom, or preempted), and
the waits are listed by thread, with their average.
"""

import collections
import re
import sys

LINE = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+\[(\d+)\]\s+([\d.]+):\s+sched:(\w+):\s+(.*)$")


def short(comm):
    return re.sub(r"\d+$", "#", comm)


def waits_of(events):
    """Each wait of a thread for a core that ended within the recording: from its wake-up (or
    its preemption: switched out still runnable) to its switch onto a core. Returns, by event
    index, the (thread, waker or None if preempted) of the waits that start there, and the
    (thread, µs waited) of those that end there; a
    wake-up never followed by a run in the window (a thread woken while it ran, say) is no
    wait."""
    current, pending = {}, {}
    starts, ends_at = collections.defaultdict(list), collections.defaultdict(list)
    for i, (t, cpu, kind, trace, tid) in enumerate(events):
        if kind == "sched_waking":
            target = int(re.search(r"pid=(\d+)", trace).group(1))
            if target not in current.values() and target not in pending:
                pending[target] = (i, t, tid)
            continue
        if kind != "sched_switch":
            continue
        m = re.search(r"prev_pid=(\d+) .*prev_state=(\S+) ==> .*next_pid=(\d+)", trace)
        before, state, following = int(m.group(1)), m.group(2), int(m.group(3))
        if before and state.startswith("R"):
            pending.setdefault(before, (i, t, None))
        else:
            pending.pop(before, None)
        if following in pending:
            began, at, waker = pending.pop(following)
            if following:
                starts[began].append((following, waker))
                ends_at[i].append((following, (t - at) * 1e6))
        current[cpu] = following
    return starts, ends_at


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

    starts, ends_at = waits_of(events)
    waiting = {}
    current, woken, in_d = {}, {}, set()
    idle_waiting = collections.Counter()
    shares, alone = collections.Counter(), collections.Counter()
    idle_split = collections.Counter()
    waits = collections.defaultdict(lambda: [0, 0.0])
    ends = collections.defaultdict(lambda: [0, 0.0])
    start = who = previous = None
    for i, (t, cpu, kind, trace, tid) in enumerate(events):
        # The time since the last event, as the cores and the runnable threads stood.
        if previous is not None and len(current) == cores:
            busy = [c for c, running in current.items() if running]
            took = (t - previous) * 1e6
            shares[len(busy)] += took
            if len(busy) == 1:
                alone[label(current[busy[0]])] += took
            idle_cores = cores - len(busy)
            usable = min(idle_cores, len(waiting))
            for thread, waker in waiting.values():
                how = f"woken by {label(waker)}" if waker else "preempted"
                idle_waiting[(label(thread), how)] += took * usable / cores / len(waiting)
            idle_split["something runnable, not yet running"] += took * usable / cores
            rest = took * (idle_cores - usable) / cores
            if rest:
                # Other processes by name alone: PostgreSQL's backends are one process each.
                on_disk = sorted({label(t) if tgid.get(t) == server else names.get(t, "?") for t in in_d})
                why = f"a thread waits on the disk ({', '.join(on_disk)})" if on_disk else "none waits on the disk"
                idle_split[f"nothing runnable, {why}"] += rest
        previous = t
        for thread, waker in starts.get(i, ()):
            waiting[thread] = (thread, waker)
        for thread, waited in ends_at.get(i, ()):
            waiting.pop(thread, None)
            waits[label(thread)][0] += 1
            waits[label(thread)][1] += waited
        if kind == "sched_waking":
            m = re.search(r"pid=(\d+)", trace)
            woken[int(m.group(1))] = (t, tid)
            in_d.discard(int(m.group(1)))
            continue
        if kind != "sched_switch":
            continue
        m = re.search(r"next_comm=(.+?) next_pid=(\d+)", trace)
        following = int(m.group(2))
        m_prev = re.search(r"prev_pid=(\d+) .*prev_state=(\S+)", trace)
        if m_prev.group(2).startswith("D"):
            # Asleep uninterruptibly: in this program, waiting on the disk (a sync, a read).
            in_d.add(int(m_prev.group(1)))
        names.setdefault(following, short(m.group(1)))
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
    print("machine idle, " + ", ".join(
        f"{k} {100 * v / total:.2f}%" for k, v in idle_split.most_common()))
    print("idle while a thread waited for a core, by that thread and how it came to wait:")
    for (thread, how), us in idle_waiting.most_common(8):
        print(f"{100 * us / total:8.2f}%  {thread:24} {how}")
    print("runnable -> running, most waited first (ms in all, count, average µs, thread):")
    for thread, (n, us) in sorted(waits.items(), key=lambda kv: -kv[1][1])[:8]:
        print(f"{us / 1e3:8.2f} {n:6d} {us / n:8.1f}  {thread}")
    print("alone: " + ", ".join(f"{k} {100 * v / total:.2f}%" for k, v in alone.most_common(8)))
    print("alone stretches, longest total first (ms in all, count, average µs, thread, end):")
    for (thread, end), (n, us) in sorted(ends.items(), key=lambda kv: -kv[1][1])[:20]:
        print(f"{us / 1e3:8.2f} {n:6d} {us / n:8.1f}  {thread:24} {end}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2)
