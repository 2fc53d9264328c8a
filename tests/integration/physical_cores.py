"""Physical cores among the CPUs this process may run on, counted independently of tomograd's
C++ (core/parallel.cpp) for test_cli_bench.cpp: distinct (package, core) ids in sysfs; a CPU
whose topology cannot be read counts as a core of its own."""
import os


def topology(cpu):
    base = f"/sys/devices/system/cpu/cpu{cpu}/topology/"
    try:
        with open(base + "physical_package_id") as p, open(base + "core_id") as c:
            return int(p.read()), int(c.read())
    except (OSError, ValueError):
        return ("cpu", cpu)


print(max(1, len({topology(cpu) for cpu in os.sched_getaffinity(0)})))
