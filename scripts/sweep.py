#!/usr/bin/env python3
"""Queues training runs (configs x folds x seeds, any app) over a workstation's GPUs, one run per
GPU at a time, and writes one comparison table of every finished run (docs/gpu.md).

  scripts/sweep.py run --app bmd --data cohort/manifest.csv --config configs/bmd_resnet18.yaml \\
      --config configs/bmd_simplecnn.yaml --folds 0,1,2 --seeds 1,2 --out sweeps/bmd [--gpus auto]
  scripts/sweep.py run --out sweeps/bmd        # resume: finished runs are skipped
  scripts/sweep.py table sweeps/bmd            # the table again (sweeps/bmd/summary.{csv,md})
  scripts/sweep.py status sweeps/bmd

Slots: --gpus auto takes CUDA_VISIBLE_DEVICES, else nvidia-smi's GPUs, else --cpu-slots CPU slots.
Each run gets CUDA_VISIBLE_DEVICES=<its GPU> (so it sees one GPU, as cuda) or, on a CPU slot, no GPU
and OMP_NUM_THREADS = cores / slots. Per run: OUT/runs/NAME (the app's run directory),
OUT/logs/NAME.log (every attempt's output), OUT/state/NAME.json. Interrupted (Ctrl-C, SIGTERM, a
killed sweep): the next `run` skips finished runs, evaluates trained ones, resumes half-trained ones
from checkpoints/last.pt where the app can (bmd, metastasis) and restarts the others.
A config may carry overrides: --config 'configs/bmd_resnet18.yaml@optim.lr=1e-3,train.epochs=5'.
"""
import argparse
import csv
import fcntl
import io
import json
import os
import queue
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

# Per app: train and evaluate commands ({app_bin} {config} {data} {run} {fold} {seed} {device} are
# replaced), the metrics JSON evaluate writes, and the flag that resumes a half-trained run.
# bmd and metastasis train on one patient split: "fold" k there is the split drawn with seed k
# (repeated hold-out); lumbar trains fold k of its stratified group K-fold.
PRESETS = {
    "bmd": {
        "train": "{app_bin} train --config {config} --manifest {data} --out {run} --set data.split.seed={fold} "
                 "--set train.seed={seed} --set train.device={device}",
        "eval": "{app_bin} evaluate {run} --force",
        "metrics": "{run}/eval/test/metrics.json",
        "resume": "--resume",
    },
    "metastasis": {
        "train": "{app_bin} train --config {config} --data {data} --out {run} --set data.split_seed={fold} "
                 "--set train.seed={seed} --set train.device={device}",
        "eval": "{app_bin} evaluate {run} --force",
        "metrics": "{run}/eval/test/metrics.json",
        "resume": "--resume",
    },
    "lumbar": {
        "train": "{app_bin} train --config {config} --data {data} --out {run} --fold {fold} "
                 "--set train.seed={seed} --set train.device={device}",
        "eval": "{app_bin} evaluate {run} --force",
        "metrics": "{run}/eval/metrics.json",
        "resume": "",
    },
}
# A run gets SIGTERM when the sweep's thread that started it dies, also when the sweep is killed
# with SIGKILL (util-linux setpriv sets PR_SET_PDEATHSIG; without it such runs are left running).
PDEATHSIG = ["setpriv", "--pdeathsig", "TERM", "--"] if shutil.which("setpriv") else []
PLAN_KEYS = ["app", "app_bin", "data", "configs", "folds", "seeds", "sets", "train", "eval", "metrics", "resume"]


class SweepError(Exception):
    pass


def write_atomic(path, text):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def read_json(path, default=None):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return default
    except (OSError, ValueError) as e:
        raise SweepError(f"{path}: not readable JSON ({e})") from e


def int_list(text, what):
    try:
        return [int(v) for v in text.split(",") if v.strip() != ""]
    except ValueError:
        raise SweepError(f"--{what} {text!r}: expected comma-separated integers, e.g. 0,1,2") from None


# ---------------------------------------------------------------- plan

def parse_config(spec):
    """'path[@k=v,k=v]' -> (path, [k=v...])."""
    path, _, rest = spec.partition("@")
    sets = [s for s in rest.split(",") if s] if rest else []
    for s in sets:
        if "=" not in s:
            raise SweepError(f"--config {spec!r}: override {s!r} is not key=value")
    if not os.path.isfile(path):
        raise SweepError(f"--config {spec!r}: {path} does not exist")
    return os.path.abspath(path), sets


def run_name(config_spec, fold, seed):
    path, sets = parse_config(config_spec)
    stem = os.path.splitext(os.path.basename(path))[0]
    if sets:
        stem += "@" + ",".join(sets)
    return re.sub(r"[^A-Za-z0-9@=,._+-]", "_", stem) + f"-f{fold}-s{seed}"


def plan_from_args(a):
    if a.app not in PRESETS and not (a.train_cmd and a.metrics):
        raise SweepError(f"--app {a.app}: no preset (bmd, metastasis, lumbar); give --train-cmd and --metrics")
    preset = PRESETS.get(a.app, {"train": "", "eval": "", "metrics": "", "resume": ""})
    if not a.config:
        raise SweepError("give at least one --config")
    configs = []
    for spec in a.config:
        path, sets = parse_config(spec)
        configs.append(path + ("@" + ",".join(sets) if sets else ""))
    app_bin = a.app_bin or os.path.join(os.path.abspath(a.build), "apps", a.app, a.app)
    if not (os.path.isfile(app_bin) and os.access(app_bin, os.X_OK)):
        raise SweepError(f"{app_bin}: no such program (build it, or give --build / --app-bin)")
    data = os.path.abspath(a.data) if a.data else ""
    if "{data}" in (a.train_cmd or preset["train"]) and not (data and os.path.exists(data)):
        raise SweepError(f"--data {a.data or '(missing)'}: does not exist")
    return {
        "app": a.app, "app_bin": app_bin, "data": data, "configs": configs,
        "folds": int_list(a.folds, "folds"), "seeds": int_list(a.seeds, "seeds"), "sets": a.set or [],
        "train": a.train_cmd or preset["train"], "eval": a.eval_cmd if a.eval_cmd is not None else preset["eval"],
        "metrics": a.metrics or preset["metrics"],
        "resume": a.resume_flag if a.resume_flag is not None else preset["resume"],
    }


def runs_of(plan):
    return [{"name": run_name(c, f, s), "config": c, "fold": f, "seed": s}
            for c in plan["configs"] for f in plan["folds"] for s in plan["seeds"]]


def command(template, plan, run, run_dir, device, train=False):
    """The command of @p template for @p run; a train command gets the config's and the sweep's --set."""
    path, sets = parse_config(run["config"])
    values = {"app_bin": plan["app_bin"], "config": path, "data": plan["data"], "run": run_dir,
              "fold": str(run["fold"]), "seed": str(run["seed"]), "device": device, "name": run["name"]}
    args = [re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), t) for t in shlex.split(template)]
    for s in (plan["sets"] + sets) if train else []:
        args += ["--set", s]
    return args


# ---------------------------------------------------------------- slots

def detect_slots(gpus, cpu_slots):
    ids = []
    if gpus == "auto":
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            ids = [v.strip() for v in visible.split(",") if v.strip() not in ("", "-1")]
        elif shutil.which("nvidia-smi"):
            r = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"],
                               capture_output=True, text=True, check=False)
            ids = [v.strip() for v in r.stdout.splitlines() if v.strip()] if r.returncode == 0 else []
    elif gpus != "cpu":
        ids = [v.strip() for v in gpus.split(",") if v.strip()]
    if ids:
        return [{"name": f"gpu{g}", "device": "cuda", "env": {"CUDA_VISIBLE_DEVICES": g}} for g in ids]
    threads = max(1, (os.cpu_count() or 1) // cpu_slots)
    return [{"name": f"cpu{i}", "device": "cpu",
             "env": {"CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": str(threads)}} for i in range(cpu_slots)]


# ---------------------------------------------------------------- running

class Sweep:
    def __init__(self, out, plan, slots, retry_failed):
        self.out, self.plan, self.slots, self.retry_failed = out, plan, slots, retry_failed
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.procs = {}
        self.finished = 0

    def path(self, *parts):
        return os.path.join(self.out, *parts)

    def state(self, name):
        return read_json(self.path("state", name + ".json"), {})

    def set_state(self, name, **fields):
        st = self.state(name)
        st.update(fields)
        write_atomic(self.path("state", name + ".json"), json.dumps(st, indent=2) + "\n")
        return st

    def pending(self):
        todo = []
        for run in runs_of(self.plan):
            st = self.state(run["name"])
            metrics = self.plan["metrics"].replace("{run}", self.path("runs", run["name"]))
            if st.get("status") == "done" and os.path.isfile(metrics):
                continue
            if st.get("status") == "failed" and not self.retry_failed:
                continue
            todo.append(run)
        return todo

    def execute(self, args, slot, log, name):
        env = dict(os.environ, **slot["env"])
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} on {slot['name']}: {shlex.join(args)}\n")
            f.flush()
            with self.lock:
                if self.stop.is_set():
                    return -signal.SIGTERM
                p = subprocess.Popen(PDEATHSIG + args, stdout=f, stderr=subprocess.STDOUT, env=env,
                                     start_new_session=True)
                self.procs[name] = p
            rc = p.wait()
            with self.lock:
                self.procs.pop(name, None)
            f.write(f"=== exit {rc}\n")
        return rc

    def train(self, run, slot, run_dir, log):
        """Trains (resuming or restarting a half-trained run); returns the exit code."""
        extra, how = [], "fresh"
        if os.path.isdir(run_dir) and os.listdir(run_dir):
            last = os.path.join(run_dir, "checkpoints", "last.pt")
            if self.plan["resume"] and os.path.isfile(last):
                extra, how = [self.plan["resume"]], "resumed from checkpoints/last.pt"
            else:
                shutil.rmtree(run_dir)
                how = "restarted (no checkpoint to resume from)"
        with open(log, "a", encoding="utf-8") as f:
            f.write(f"\n=== train: {how}\n")
        args = command(self.plan["train"], self.plan, run, run_dir, slot["device"], train=True) + extra
        return self.execute(args, slot, log, run["name"])

    def one(self, run, slot):
        name = run["name"]
        run_dir, log = self.path("runs", name), self.path("logs", name + ".log")
        st = self.set_state(name, status="running", slot=slot["name"], config=run["config"], fold=run["fold"],
                            seed=run["seed"], attempts=self.state(name).get("attempts", 0) + 1)
        t0 = time.time()
        if not st.get("trained"):
            rc = self.train(run, slot, run_dir, log)
            if rc != 0:
                return self.set_state(name, status="interrupted" if self.stop.is_set() else "failed",
                                      exit_code=rc, phase="train")
            st = self.set_state(name, trained=True, train_s=round(time.time() - t0, 1))
        t1 = time.time()
        if self.plan["eval"]:
            rc = self.execute(command(self.plan["eval"], self.plan, run, run_dir, slot["device"]), slot, log, name)
            if rc != 0:
                return self.set_state(name, status="interrupted" if self.stop.is_set() else "failed",
                                      exit_code=rc, phase="evaluate")
        metrics = self.plan["metrics"].replace("{run}", run_dir)
        if not os.path.isfile(metrics):
            return self.set_state(name, status="failed", phase="metrics", exit_code=0,
                                  error=f"{metrics} was not written")
        return self.set_state(name, status="done", phase="", eval_s=round(time.time() - t1, 1), exit_code=0,
                              finished=time.strftime("%Y-%m-%dT%H:%M:%S"))

    def worker(self, slot, todo, total):
        while not self.stop.is_set():
            try:
                run = todo.get_nowait()
            except queue.Empty:
                return
            st = self.one(run, slot)
            with self.lock:
                self.finished += 1
                n = self.finished
            print(f"sweep: [{n}/{total}] {st['status']:<11} {run['name']} on {slot['name']}"
                  + (f" (log: {self.path('logs', run['name'] + '.log')})" if st["status"] != "done" else ""),
                  flush=True)

    def interrupt(self, signum, _frame):
        first = not self.stop.is_set()
        self.stop.set()
        sig = signal.SIGTERM if first else signal.SIGKILL
        print(f"sweep: {signal.Signals(signum).name}: stopping the running runs"
              + ("" if first else " (killing)"), file=sys.stderr, flush=True)
        with self.lock:
            for p in self.procs.values():
                try:
                    os.killpg(p.pid, sig)
                except ProcessLookupError:
                    pass

    def run(self):
        todo_list = self.pending()
        todo = queue.Queue()
        for r in todo_list:
            todo.put(r)
        total = len(runs_of(self.plan))
        print(f"sweep: {total} runs, {total - len(todo_list)} finished earlier, {len(todo_list)} to run on "
              f"{', '.join(s['name'] for s in self.slots)}", flush=True)
        threads = [threading.Thread(target=self.worker, args=(s, todo, len(todo_list)), daemon=True)
                   for s in self.slots]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)
        return not self.stop.is_set()


# ---------------------------------------------------------------- table

def main_metrics(metrics):
    """The metrics with a confidence interval (key_ci_low), else every number, in file order."""
    with_ci = [k for k in metrics if f"{k}_ci_low" in metrics]
    if with_ci:
        return with_ci
    return [k for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]


def fmt(v):
    if v is None or v == "":
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_table(out, columns=None):
    """OUT/summary.csv (every scalar of every finished run) and OUT/summary.md (@p columns, default:
    the metrics with an interval); returns (finished, total)."""
    plan = read_json(os.path.join(out, "sweep.json"))
    if plan is None:
        raise SweepError(f"{out}: no sweep.json (not a sweep folder)")
    rows, keys, main = [], [], []
    for run in runs_of(plan):
        st = read_json(os.path.join(out, "state", run["name"] + ".json"), {})
        if st.get("status") != "done":
            continue
        metrics = read_json(plan["metrics"].replace("{run}", os.path.join(out, "runs", run["name"])), {})
        flat = {k: v for k, v in metrics.items() if v is None or isinstance(v, (int, float, str))}
        for k in flat:
            if k not in keys:
                keys.append(k)
        for k in main_metrics(metrics):
            if k not in main:
                main.append(k)
        rows.append((run, st, flat))
    main = columns or [k for k in main if any(flat.get(k) is not None for _, _, flat in rows)]
    head = ["run", "config", "fold", "seed", "slot", "train_s", "eval_s"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    # A metric named like a run column (e.g. "fold") keeps its value under "metrics.<name>".
    w.writerow(head + [f"metrics.{k}" if k in head else k for k in keys])
    for run, st, flat in rows:
        w.writerow([run["name"], run["config"], run["fold"], run["seed"], st.get("slot", ""), st.get("train_s", ""),
                    st.get("eval_s", "")] + ["" if flat.get(k) is None else flat.get(k) for k in keys])
    write_atomic(os.path.join(out, "summary.csv"), buf.getvalue())
    write_atomic(os.path.join(out, "summary.md"), markdown(plan, rows, main, out))
    return len(rows), len(runs_of(plan))


def markdown(plan, rows, main, out):
    lines = [f"# Sweep {os.path.basename(os.path.abspath(out))}: {plan['app']}, {len(rows)} of "
             f"{len(runs_of(plan))} runs finished", "",
             "Metrics from each run's " + plan["metrics"].replace("{run}/", "RUN/") +
             " (value [95 % interval] where the file gives one).", "",
             "| run | fold | seed | slot | train s | " + " | ".join(main) + " |",
             "|---|---:|---:|---|---:|" + "---:|" * len(main)]
    for run, st, flat in rows:
        cells = []
        for k in main:
            v = fmt(flat.get(k))
            if f"{k}_ci_low" in flat and flat.get(k) is not None:
                v += f" [{fmt(flat.get(k + '_ci_low'))}, {fmt(flat.get(k + '_ci_high'))}]"
            cells.append(v)
        lines.append(f"| {run['name']} | {run['fold']} | {run['seed']} | {st.get('slot', '')} | "
                     f"{fmt(st.get('train_s'))} | " + " | ".join(cells) + " |")
    lines += ["", "Per config, over its finished folds and seeds: mean (sd).", "",
              "| config | runs | " + " | ".join(main) + " |", "|---|---:|" + "---:|" * len(main)]
    for config in plan["configs"]:
        mine = [flat for run, _, flat in rows if run["config"] == config]
        if not mine:
            continue
        cells = []
        for k in main:
            vals = [f[k] for f in mine if isinstance(f.get(k), (int, float))]
            sd = f" ({fmt(statistics.stdev(vals))})" if len(vals) > 1 else ""
            cells.append(fmt(statistics.fmean(vals)) + sd if vals else "n/a")
        name = run_name(config, 0, 0)[: -len("-f0-s0")]
        lines.append(f"| {name} | {len(mine)} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- commands

def lock_sweep(out):
    f = open(os.path.join(out, ".sweep.lock"), "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        raise SweepError(f"{out}: another sweep (pid {f.read().strip() or '?'}) is running in this folder") from None
    f.truncate(0)
    f.write(f"{os.getpid()}\n")
    f.flush()
    return f


def cmd_run(a):
    out = os.path.abspath(a.out)
    saved = read_json(os.path.join(out, "sweep.json"))
    if a.config or a.app:
        if not a.app:
            raise SweepError("give --app with --config")
        plan = plan_from_args(a)
        if saved is not None and any(saved.get(k) != plan[k] for k in PLAN_KEYS):
            diff = next(k for k in PLAN_KEYS if saved.get(k) != plan[k])
            raise SweepError(f"{out} holds a sweep with another plan ({diff}: {saved.get(diff)!r} there, "
                             f"{plan[diff]!r} now): resume it with `sweep.py run --out {a.out}` or use another --out")
    elif saved is None:
        raise SweepError(f"{out}: no sweep to resume (sweep.json missing); give --app, --config, ...")
    else:
        plan = saved
    for d in ("runs", "logs", "state"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    lock = lock_sweep(out)
    if saved is None:
        write_atomic(os.path.join(out, "sweep.json"), json.dumps(plan, indent=2) + "\n")
    slots = detect_slots(a.gpus, a.cpu_slots)
    sweep = Sweep(out, plan, slots, a.retry_failed)
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, sweep.interrupt)
    completed = sweep.run()
    done, total = write_table(out)
    lock.close()
    print(f"sweep: {done} of {total} runs finished; table: {os.path.join(out, 'summary.md')} and summary.csv")
    if not completed:
        print(f"sweep: interrupted; `{sys.argv[0]} run --out {a.out}` resumes it", file=sys.stderr)
        return 130
    return 0 if done == total else 1


def cmd_status(a):
    plan = read_json(os.path.join(a.out, "sweep.json"))
    if plan is None:
        raise SweepError(f"{a.out}: no sweep.json (not a sweep folder)")
    for run in runs_of(plan):
        st = read_json(os.path.join(a.out, "state", run["name"] + ".json"), {})
        status = st.get("status", "queued")
        if status == "running":
            status = "running or interrupted"
        print(f"{run['name']:<50} {status:<22} {st.get('slot', '')}")
    return 0


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="start or resume a sweep")
    r.add_argument("--out", required=True, help="sweep folder (created; an existing one is resumed)")
    r.add_argument("--app", help="bmd | metastasis | lumbar, or any name with --train-cmd/--metrics")
    r.add_argument("--config", action="append", help="config YAML[@key=value,...], repeatable")
    r.add_argument("--data", help="the app's data: bmd manifest CSV, metastasis/lumbar data folder")
    r.add_argument("--folds", default="0", help="comma-separated folds (default 0)")
    r.add_argument("--seeds", default="42", help="comma-separated training seeds (default 42)")
    r.add_argument("--set", action="append", help="config override for every run, repeatable: --set train.epochs=5")
    r.add_argument("--gpus", default="auto", help="auto | cpu | comma-separated GPU ids (default auto)")
    r.add_argument("--cpu-slots", type=int, default=1, help="parallel runs where there is no GPU (default 1)")
    r.add_argument("--build", default="build", help="build folder holding apps/<app>/<app> (default build)")
    r.add_argument("--app-bin", help="the app's program, instead of BUILD/apps/APP/APP")
    r.add_argument("--train-cmd", help="train command template ({app_bin} {config} {data} {run} {fold} {seed} {device})")
    r.add_argument("--eval-cmd", help="evaluate command template ('' = none)")
    r.add_argument("--metrics", help="metrics JSON template, e.g. {run}/eval/test/metrics.json")
    r.add_argument("--resume-flag", help="flag that resumes a half-trained run ('' = restart instead)")
    r.add_argument("--retry-failed", action="store_true", help="run failed runs again")
    t = sub.add_parser("table", help="write OUT/summary.csv and summary.md from the finished runs")
    t.add_argument("out")
    t.add_argument("--columns", help="metrics of summary.md, comma-separated (default: those with an interval)")
    s = sub.add_parser("status", help="one line per run")
    s.add_argument("out")
    a = p.parse_args(argv)
    if a.command == "run" and a.cpu_slots < 1:
        p.error("--cpu-slots must be at least 1")
    return a


def main(argv):
    a = parse_args(argv)
    try:
        if a.command == "run":
            return cmd_run(a)
        if a.command == "table":
            done, total = write_table(a.out, [c for c in a.columns.split(",") if c] if a.columns else None)
            print(f"sweep: {done} of {total} runs in {os.path.join(a.out, 'summary.md')} and summary.csv")
            return 0
        return cmd_status(a)
    except SweepError as e:
        print(f"sweep: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
