#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""What redis-py loses across a Sentinel failover, as a baseline for respio's
own failover tests.

THREADS threads INCR one counter each through
redis.sentinel.Sentinel(...).master_for('mymaster') for DURATION seconds; at
FAULT_AT seconds the master is failed over (SENTINEL FAILOVER), killed
(SIGKILL, then restarted from its config file once the Sentinels name
another master) or stopped (SIGSTOP for STOP_SECS, then SIGCONT). Once the
load has run DURATION seconds, the old master is a replica in sync again and
every Sentinel has seen it so (~21 s after the fault), the counters are read
from the final master and one line is printed:

    redis-py SCENARIO: acked N final M lost L backwards B rollbacks R errors E

acked: INCRs that got a reply; final: the counters' final values; lost:
acked - final when positive; backwards: replies smaller than an earlier
reply on the same counter; rollbacks: replies smaller than the one just
before on the same counter (each a jump back, which the backwards replies
after it climb out of); errors: INCRs that raised (not acknowledged, but
perhaps applied). Timings go to stderr.

Against tools/lab:
    tools/lab start sentinel > /tmp/lab.txt
    tests/sentinel/redispy_failover.py --lab /tmp/lab.txt --scenario kill

Debian's python3-redis is installed for /usr/bin/python3, hence the path
above. The master's pid and config file come from its INFO (it is local).
"""
import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import uuid

import redis
from redis.sentinel import Sentinel

SERVICE = "mymaster"


def log(t0, msg):
    print(f"[{time.monotonic() - t0:6.2f}s] {msg}", file=sys.stderr, flush=True)


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sentinel", action="append", default=[], metavar="HOST:PORT",
                    help="a Sentinel (repeat); or --lab")
    ap.add_argument("--lab", metavar="FILE",
                    help="tools/lab start sentinel's output ('-': stdin)")
    ap.add_argument("--scenario", choices=["failover", "kill", "stop"], required=True)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of load")
    ap.add_argument("--fault-at", type=float, default=5.0, help="second of the fault")
    ap.add_argument("--stop-secs", type=float, default=6.0, help="SIGSTOP length")
    ap.add_argument("--pass", dest="password", help="the data nodes' password")
    ap.add_argument("--sentinel-pass", help="the Sentinels' password")
    ap.add_argument("--master-pid", type=int, help="default: the master's INFO process_id")
    ap.add_argument("--timeout", type=float, default=60.0,
                    help="bound on each wait for the Sentinels and the demotion")
    a = ap.parse_args()
    if a.lab:
        lines = (sys.stdin if a.lab == "-" else open(a.lab)).read().splitlines()
        a.sentinel += [ln.split()[1] for ln in lines if ln.startswith("sentinel ")]
    if not a.sentinel:
        ap.error("no Sentinel given (--sentinel or --lab)")
    a.sentinels = [(hp.rsplit(":", 1)[0], int(hp.rsplit(":", 1)[1])) for hp in a.sentinel]
    return a


def sentinel_client(a, host, port):
    return redis.Redis(host, port, password=a.sentinel_pass, socket_timeout=1.0,
                       socket_connect_timeout=1.0, decode_responses=True)


def named_masters(a):
    """What each answering Sentinel names as the master: a set of (host, port)."""
    names = set()
    for host, port in a.sentinels:
        try:
            addr = sentinel_client(a, host, port).execute_command(
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE)
            if addr:
                names.add((addr[0], int(addr[1])))
        except redis.RedisError:
            pass
    return names


def sentinels_saw_demotion(a, old, new):
    """Every answering Sentinel's last INFO of old shows new's replica, link up.

    Sentinel asks replicas for INFO every 10 s; one that last saw old still
    a master for over 8 s would demote it again right after the next
    failover promotes it, and that failover would abort. Waiting for this
    lets the next run on the same lab start clean."""
    for host, port in a.sentinels:
        try:
            reps = sentinel_client(a, host, port).execute_command(
                "SENTINEL", "REPLICAS", SERVICE)
        except redis.ConnectionError:
            continue
        views = [dict(zip(r[::2], r[1::2])) for r in reps]
        if not any(int(v.get("port", 0)) == old[1] and v.get("role-reported") == "slave"
                   and int(v.get("master-port", 0)) == new[1]
                   and v.get("master-link-status") == "ok" for v in views):
            return False
    return True


def node(a, addr):
    return redis.Redis(addr[0], addr[1], password=a.password, socket_timeout=1.0,
                       socket_connect_timeout=1.0, decode_responses=True)


def wait_until(what, cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if cond():
                return True
        except redis.RedisError:
            pass
        time.sleep(0.1)
    sys.exit(f"redispy_failover: timed out waiting for {what}")


class Worker(threading.Thread):
    def __init__(self, client, key, stop):
        super().__init__(daemon=True)
        self.client, self.key, self.stop = client, key, stop
        self.acked = self.backwards = self.rollbacks = self.errors = 0
        self.highest = self.last = 0

    def run(self):
        while not self.stop.is_set():
            try:
                v = self.client.incr(self.key)
            except redis.RedisError:
                self.errors += 1
                time.sleep(0.01)
                continue
            self.acked += 1
            if v < self.highest:
                self.backwards += 1
            if v < self.last:
                self.rollbacks += 1
            self.highest = max(self.highest, v)
            self.last = v


def trigger(a, t0, old, info):
    if a.scenario == "failover":
        def asked():
            for host, port in a.sentinels:
                try:
                    sentinel_client(a, host, port).execute_command(
                        "SENTINEL", "FAILOVER", SERVICE)
                    return True
                except redis.ResponseError as e:  # NOGOODSLAVE, INPROG
                    log(t0, f"SENTINEL FAILOVER on {port}: {e}")
            return False
        wait_until("SENTINEL FAILOVER to be accepted", asked, a.timeout)
        log(t0, "SENTINEL FAILOVER accepted")
        return
    pid = a.master_pid or int(info["process_id"])
    if a.scenario == "stop":
        os.kill(pid, signal.SIGSTOP)
        log(t0, f"SIGSTOP master pid {pid}")
        time.sleep(a.stop_secs)
        os.kill(pid, signal.SIGCONT)
        log(t0, "SIGCONT")
        return
    os.kill(pid, signal.SIGKILL)
    log(t0, f"SIGKILL master pid {pid}")
    wait_until("the Sentinels to name a new master",
               lambda: (names := named_masters(a)) and old not in names, a.timeout)
    log(t0, f"Sentinels name {named_masters(a)}")
    conf = info.get("config_file")
    if not conf:
        sys.exit("redispy_failover: the master has no config file to restart it from")
    # The lab's config daemonizes; one that does not runs in its own session.
    subprocess.Popen(["redis-server", conf], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
    log(t0, f"restarted the old master from {conf}")


def main():
    a = parse_args()
    sentinel = Sentinel(a.sentinels, socket_timeout=0.5,
                        sentinel_kwargs={"password": a.sentinel_pass, "socket_timeout": 0.5,
                                         "socket_connect_timeout": 0.5})
    master = sentinel.master_for(SERVICE, password=a.password, socket_timeout=0.5,
                                 socket_connect_timeout=0.5, decode_responses=True)
    names = named_masters(a)
    if len(names) != 1:
        sys.exit(f"redispy_failover: the Sentinels name {names or 'no master'}")
    old = names.pop()
    info = node(a, old).info("server")

    run = uuid.uuid4().hex[:8]
    keys = [f"redispy-failover:{run}:{i}" for i in range(a.threads)]
    stop = threading.Event()
    workers = [Worker(master, k, stop) for k in keys]
    t0 = time.monotonic()
    log(t0, f"{a.threads} threads on master {old[0]}:{old[1]}, {a.scenario} at {a.fault_at}s")
    for w in workers:
        w.start()

    time.sleep(a.fault_at)
    trigger(a, t0, old, info)
    wait_until("the Sentinels to agree on a new master",
               lambda: len(names := named_masters(a)) == 1 and old not in names, a.timeout)
    new = named_masters(a).pop()
    log(t0, f"Sentinels agree on {new[0]}:{new[1]}")

    def demoted():
        r = node(a, old).info("replication")
        return (r.get("role") == "slave" and r.get("master_link_status") == "up"
                and int(r.get("master_port", 0)) == new[1])
    wait_until("the old master's demotion", demoted, a.timeout)
    log(t0, "old master demoted and in sync")
    wait_until("the Sentinels to see the demotion",
               lambda: sentinels_saw_demotion(a, old, new), a.timeout)
    log(t0, "every Sentinel has seen it")

    time.sleep(max(0.0, t0 + a.duration - time.monotonic()))
    stop.set()
    for w in workers:
        w.join(timeout=10)
    if any(w.is_alive() for w in workers):
        sys.exit("redispy_failover: a worker did not finish")
    log(t0, "load stopped")

    final_node = node(a, new)
    final = sum(int(final_node.get(k) or 0) for k in keys)
    final_node.delete(*keys)
    acked = sum(w.acked for w in workers)
    backwards = sum(w.backwards for w in workers)
    rollbacks = sum(w.rollbacks for w in workers)
    errors = sum(w.errors for w in workers)
    lost = max(0, acked - final)
    print(f"redis-py {a.scenario}: acked {acked} final {final} lost {lost} "
          f"backwards {backwards} rollbacks {rollbacks} errors {errors}", flush=True)


if __name__ == "__main__":
    main()
