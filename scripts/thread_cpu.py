#!/usr/bin/env python3
# CPU per thread of running processes over a window, from /proc (what ./kosmos bench cannot
# say: which thread). Usage: scripts/thread_cpu.py SECONDS PID...  (docs/perf/lean.md)
import sys, os, time
secs = float(sys.argv[1]); pids = sys.argv[2:]
def snap(pid):
    d = {}
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            s = open(f"/proc/{pid}/task/{t}/stat").read()
            name = s[s.index('(')+1:s.rindex(')')]
            f = s[s.rindex(')')+2:].split()
            d[t] = (name, int(f[11]) + int(f[12]))
        except Exception: pass
    return d
a = {p: snap(p) for p in pids}
time.sleep(secs)
b = {p: snap(p) for p in pids}
for p in pids:
    comm = open(f"/proc/{p}/comm").read().strip()
    rows = []
    for t, (n, c) in b[p].items():
        c0 = a[p].get(t, (n, 0))[1]
        rows.append((c - c0, n))
    tot = sum(r[0] for r in rows) * 10 / secs
    agg = {}
    for c, n in rows:
        import re
        k = re.sub(r'\d+', '#', n)
        agg[k] = agg.get(k, 0) + c
    print(f"== pid {p} {comm}: {tot:.1f} ms/s")
    for k, c in sorted(agg.items(), key=lambda x: -x[1])[:12]:
        if c: print(f"   {c*10/secs:7.1f} ms/s  {k}")
