"""What a running stack costs this machine, part by part: memory as the proportional set size
(PSS) summed over each part's process tree, and CPU seconds (user + system).

PSS counts a page shared by k processes 1/k in each, so the sum over gunicorn's master and its
workers, or Celery's worker and its prefork children, is what the family costs; resident sets
would count every shared page once per process. Linux only (/proc/<pid>/smaps_rollup); where it
is missing, the resident set stands in and `memory_measure()` says so.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import psutil

from lab_stack.stack import Stack

# The stand-ins for outside services: what the site costs leaves them out.
THIRD_PARTIES = ("provider", "rates_api")


def memory_measure() -> str:
    return "PSS" if Path("/proc/self/smaps_rollup").exists() else "RSS"


def pss_kb(pid: int) -> int:
    """One process's proportional set size in kB, from /proc/<pid>/smaps_rollup (its resident
    set where the system has no such file)."""
    rollup = Path(f"/proc/{pid}/smaps_rollup")
    if not rollup.exists():
        return psutil.Process(pid).memory_info().rss // 1024
    for line in rollup.read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    raise ValueError(f"no Pss line in {rollup}")


def process_tree(pid: int) -> list[psutil.Process]:
    """The process and every descendant (gunicorn's workers, a prefork pool's children)."""
    leader = psutil.Process(pid)
    return [leader, *leader.children(recursive=True)]


@dataclass(frozen=True)
class TreeMemory:
    processes: int
    pss_mb: float  # the whole tree's
    leader_pss_mb: float  # the first process's alone (gunicorn's master, Celery's main)

    @property
    def per_child_mb(self) -> float:
        children = self.processes - 1
        return (self.pss_mb - self.leader_pss_mb) / children if children else float("nan")


def tree_memory(pid: int) -> TreeMemory:
    """PSS summed over `pid`'s process tree; a process that exits meanwhile counts nothing."""
    sizes = []
    for process in process_tree(pid):
        try:
            sizes.append(pss_kb(process.pid) / 1024)
        except (OSError, psutil.Error):
            continue
    return TreeMemory(len(sizes), sum(sizes), sizes[0] if sizes else float("nan"))


def site_pids(stack: Stack) -> dict[str, int]:
    """Each running part of the site by its stack name (web, redis, worker, push): the leader
    of its process tree. The outside services' stand-ins are left out."""
    return {
        name: process.pid
        for name, process in stack.processes.items()
        if name not in THIRD_PARTIES and process.pid is not None
    }


def site_memory(stack: Stack) -> dict[str, TreeMemory]:
    return {name: tree_memory(pid) for name, pid in site_pids(stack).items()}


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) the tree's live processes have used so far."""
    total = 0.0
    for process in process_tree(pid):
        try:
            times = process.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def cpu_s(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each part: read before and after a run, the difference is the
    run's (a process that exits in between takes its time with it)."""
    return {name: tree_cpu_s(pid) for name, pid in pids.items()}


def finished_children_cpu_s() -> float:
    """CPU seconds of this process's children that have exited and been waited for: around
    a load generator run as a subprocess, the generator's own cost."""
    times = os.times()
    return times.children_user + times.children_system
