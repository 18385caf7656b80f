#!/usr/bin/python3
"""Summary of bench/peers/run.sh: median [min..max] per system and figure, hapf/peer ratios.

  summary.py RESULTS --size S --runs N --command CMD --versions V --load L --sessions N --inserts N
             --bulk N --ct-bulk N            -> markdown on stdout
  summary.py --splice README SUMMARY         -> replaces the peers section of README (or appends it)

RESULTS has one "system|row|value" line per measurement.
"""
import argparse
import statistics
import sys
import time

BEGIN = "<!-- peers-bench:begin (written by bench/peers/run.sh --write-readme) -->"
END = "<!-- peers-bench:end -->"
SYSTEMS = [("hapf", "hapf (2 × hapfd)"), ("keepalived", "keepalived + conntrackd + nft"),
           ("ucarp", "ucarp + conntrackd + nft"), ("kernel", "kernel forwarding")]


def rows(a):
    out = []
    for timers, what in (("default", "default timers"), ("fast", "fastest timers")):
        out += [
            (f"failover_sigkill_{timers}", f"1. failover gap, SIGKILL of the master, {what} (ms lost, 1 kHz probe)"),
            (f"failover_linkdown_{timers}", f"1. failover gap, master's DMZ link down, {what} (ms)"),
            (f"failback_sigkill_{timers}", f"1. failback gap, master restarted after SIGKILL, {what} (ms)"),
            (f"failback_linkdown_{timers}", f"1. failback gap, master's link back up, {what} (ms)"),
        ]
    out += [
        ("sessions_survived", f"2. TCP connections surviving a SIGKILL failover (of {a.sessions})"),
        ("insert_rate", f"3. inserts/s until the backup holds all {a.inserts} new flows"),
        ("insert_held_pct", "3. share of those flows the backup holds in the end (%)"),
        ("ceiling_create_rate", f"3. without the packet path: {a.inserts} flows created at once on the master (flows/s)"),
        ("ceiling_rate", "3. without the packet path: inserts/s until the backup holds all of them"),
        ("ceiling_held_pct", "3. without the packet path: share the backup holds in the end (%)"),
        ("ceiling_cpu_us_per_flow", "3. without the packet path: CPU µs per replicated flow (both daemons; conntrack: + the injector's kernel inserts)"),
        ("sync_bytes_per_flow", "3. bytes on the sync link per new flow (both directions)"),
        ("bulk_flows", "3. full table for the bulk test (flows)"),
        ("bulk_ms", "3. restarted backup holds the full table (ms)"),
        ("bulk_rate", "3. bulk update rate (flows/s)"),
        ("pps_small", "4. 64-byte UDP pps through the master, small ruleset"),
        ("pps_1000rules", "4. 64-byte UDP pps, 1 000 rules ahead of the matching one"),
        ("tcp_setups", "4. TCP connection setups/s through the master"),
        ("mem_master_per_flow", "5. memory per flow on the master (bytes; hapfd RSS / nf_conntrack slab)"),
        ("mem_backup_per_flow", "5. memory per flow on the backup (bytes; hapfd RSS / conntrackd RSS)"),
    ]
    return out


def fmt(v):
    if abs(v) >= 1000:
        return f"{v:,.0f}".replace(",", " ")
    return f"{v:.1f}" if abs(v) < 100 and v != round(v) else f"{v:.0f}"


def summarize(a):
    values = {}
    for line in open(a.results):
        parts = line.strip().split("|")
        if len(parts) != 3:
            continue
        try:
            values.setdefault((parts[0], parts[1]), []).append(float(parts[2]))
        except ValueError:
            pass
    med = {k: statistics.median(v) for k, v in values.items()}
    out = []
    out.append(f"### Measured against the peers — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, size {a.size}, "
               f"{a.runs} run(s)\n")
    out.append(f"Command: `{a.command}`  \nVersions: {a.versions}  \nLoad average (start -> end), run time: {a.load}\n")
    head = ["figure"] + [name for _, name in SYSTEMS] + ["hapf / keepalived", "hapf / ucarp", "hapf / kernel"]
    out.append("| " + " | ".join(head) + " |")
    out.append("| --- " * len(head) + "|")
    for key, label in rows(a):
        cells = [label]
        for sys_key, _ in SYSTEMS:
            v = values.get((sys_key, key))
            if not v:
                cells.append("—")
            elif len(v) == 1:
                cells.append(fmt(v[0]))
            else:
                cells.append(f"{fmt(statistics.median(v))} [{fmt(min(v))}–{fmt(max(v))}]")
            if v and key.startswith("failover_") and values.get((sys_key, key + "_unrecovered")) and max(v) > 0:
                cells[-1] += " (not recovered until the repair)"
            if v and key == "bulk_ms" and values.get((sys_key, "bulk_extrapolated")):
                cells[-1] = ("no progress within the bound" if max(v) >= 99999999
                             else cells[-1] + " (extrapolated: not complete within the bound)")
        for peer in ("keepalived", "ucarp", "kernel"):
            h, p = med.get(("hapf", key)), med.get((peer, key))
            if h is None or p is None or max(h, p) >= 99999999:  # (99999999: no progress, no time to compare)
                cells.append("—")
            elif p == 0:
                cells.append("∞" if h > 0 else "=")
            else:
                cells.append(f"{h / p:.2f}")
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def splice(readme, summary):
    text = open(readme).read()
    section = BEGIN + "\n" + open(summary).read() + END + "\n"
    if BEGIN in text and END in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) + 1:]
    else:
        text = text.rstrip("\n") + "\n\n" + section
    open(readme, "w").write(text)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--splice":
        splice(sys.argv[2], sys.argv[3])
        return
    p = argparse.ArgumentParser()
    p.add_argument("results")
    for opt in ("size", "runs", "command", "versions", "load", "sessions", "inserts", "bulk", "ct-bulk"):
        p.add_argument("--" + opt, default="")
    sys.stdout.write(summarize(p.parse_args()))


if __name__ == "__main__":
    main()
