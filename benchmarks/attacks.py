"""The attack table of the "never destroy data, never hang" issue: every reproduction, rerun.

    python benchmarks/attacks.py [--python PY] [--pythonpath DIR] [--only 8,10] [--markdown]

Each row reruns one numbered reproduction (1-11) or one item of the "tracebacks instead of one
line" list in a fresh temporary folder and prints: the attack, the exit code, the first line
of the message, whether the data the attack aimed at is intact, and the seconds it took.
Every row should end in a one-line error or a clean completion within seconds. ``--python``
and ``--pythonpath`` select the snnsim under test (e.g. another checkout, for a before/after
table). Not a test: it starts ~60 processes, sends signals and (as root) mounts read-only
binds in private mount namespaces (``unshare -m``); nothing outside the temporary folder is
changed. Rows that need root (device nodes, read-only binds) are skipped otherwise.
"""
import argparse
import hashlib
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SMALL = """\
[network]
n_in = 10
seed = 1
[[layer]]
name = "hid"
w_in_scale = 2.0
  [[layer.population]]
  type = "lif"
  n = 20
[readout]
n = 1
[input]
type = "poisson"
rate = 20.0
steps = 400
batch = 2
[record]
variables = ["v"]
block = 100
"""

TRAIN = """\
[network]
n_in = 40
seed = 1
[[layer]]
name = "hid"
w_in_scale = 4.0
  [[layer.population]]
  type = "lif"
  n = 12
  v_th = 0.6
[readout]
n = 2
[task]
name = "evidence_accumulation"
n_cues = 3
delay_ms = 200.0
[train]
rule = "eprop"
iterations = 6
batch = 4
checkpoint_every = 2
test_batch = 4
"""

LONG_TRAIN = TRAIN.replace("iterations = 6", "iterations = 100000").replace(
    "test_batch = 4", "test_batch = 4\nval_every = 5\nval_batch = 8")


def digest(path):
    p = Path(path)
    if not os.path.lexists(p):
        return None
    st = os.lstat(p)
    if not stat.S_ISREG(st.st_mode):
        return ("special", stat.S_IFMT(st.st_mode), st.st_rdev)
    return hashlib.sha256(p.read_bytes()).hexdigest()


class Ctx:
    """The snnsim under test and a fresh folder per attack."""

    def __init__(self, python, pythonpath):
        self.python = python
        self.env = dict(os.environ)
        if pythonpath:
            self.env["PYTHONPATH"] = os.pathsep.join([pythonpath, self.env.get("PYTHONPATH", "")])
        self.env.pop("NUMBA_NUM_THREADS", None)
        self.root = Path(tempfile.mkdtemp(prefix="snnsim-attacks-"))
        self.base = self.root / "base"
        self.base.mkdir()
        (self.base / "small.toml").write_text(SMALL)
        (self.base / "train.toml").write_text(TRAIN)
        helptext = subprocess.run(self.cmd("run", "--help"), env=self.env, capture_output=True,
                                  text=True).stdout
        #: ("--max-output", "0") where the version has it (turns the estimate off)
        self.no_estimate = ("--max-output", "0") if "--max-output" in helptext else ()
        for args in (("run", "small.toml", "-o", "base.h5", "-q"),
                     ("train", "train.toml", "-o", "train.h5", "-q")):
            res = self.run(*args, cwd=self.base)
            if res[0] != 0:
                raise SystemExit(f"setup failed: snnsim {' '.join(args)}: {res[1]}")

    def folder(self, name):
        d = self.root / name
        shutil.copytree(self.base, d)
        return d

    def cmd(self, *args):
        return [self.python, "-m", "snnsim.cli.main", *map(str, args)]

    def run(self, *args, cwd, timeout=120, prefix=(), stdin=None):
        """(exit code, first message line, seconds) of ``snnsim *args``."""
        t0 = time.perf_counter()
        try:
            res = subprocess.run([*prefix, *self.cmd(*args)], cwd=cwd, env=self.env,
                                 capture_output=True, text=True, timeout=timeout, stdin=stdin)
        except subprocess.TimeoutExpired:
            return "TIMEOUT", f"still running after {timeout} s (killed)", time.perf_counter() - t0
        return res.returncode, first_line(res.stderr, res.stdout), time.perf_counter() - t0

    def python_code(self, code, *, cwd, timeout=60):
        t0 = time.perf_counter()
        try:
            res = subprocess.run([self.python, "-c", textwrap.dedent(code)], cwd=cwd, env=self.env,
                                 capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return "TIMEOUT", f"still running after {timeout} s", time.perf_counter() - t0
        last = [ln for ln in res.stderr.splitlines() if ln.strip()][-1:] or [""]
        return res.returncode, "raises " + last[0], time.perf_counter() - t0   # API: an exception

    def popen(self, *args, cwd, prefix=()):
        return subprocess.Popen([*prefix, *self.cmd(*args)], cwd=cwd, env=self.env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def first_line(stderr, stdout=""):
    lines = [ln for ln in stderr.splitlines() if ln.strip() and "compiling kernels" not in ln]
    if any(ln.startswith("Traceback") for ln in lines):
        return "TRACEBACK: " + lines[-1]
    lines = lines or [ln for ln in stdout.splitlines() if ln.strip()]
    for start in ("Error:", "interrupted"):   # click's usage lines and banners come first
        chosen = [ln for ln in lines if ln.startswith(start)]
        if chosen:
            return chosen[0]
    return lines[0] if lines else ""


def is_root():
    return hasattr(os, "geteuid") and os.geteuid() == 0


def ro_prefix(folder):
    """Command prefix making ``folder`` a read-only bind for the command (root, unshare)."""
    return ["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$1" "$1" && shift && exec "$@"',
            "sh", str(folder)]


def ro_possible(ctx):
    if not is_root() or shutil.which("unshare") is None:
        return False
    d = ctx.root / "ro-probe"
    d.mkdir(exist_ok=True)
    r = subprocess.run([*ro_prefix(d), "touch", str(d / "x")], capture_output=True, text=True)
    return "Read-only" in r.stderr


def wait_for(predicate, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def signal_after(ctx, d, args, signum, delay, *, ready=None, timeout=300):
    """Start ``snnsim *args``, send ``signum`` once ``ready()`` (or after ``delay`` s), return
    (exit code, first line, seconds from the signal to the exit)."""
    proc = ctx.popen(*args, cwd=d)
    if ready is not None:
        wait_for(ready, 120)
    time.sleep(delay)
    t0 = time.perf_counter()
    proc.send_signal(signum)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return "TIMEOUT", "", time.perf_counter() - t0
    return proc.returncode, first_line(err, out), time.perf_counter() - t0


def h5_status(path):
    import h5py
    try:
        with h5py.File(path, "r") as f:
            return str(f.attrs.get("status", ""))
    except OSError:
        return "unreadable"


# ------------------------------------------------------------------------------ attacks
ATTACKS = []


def attack(key, title, needs_root=False):
    def register(fn):
        ATTACKS.append((key, title, needs_root, fn))
        return fn
    return register


@attack("1", "--overwrite onto a device node (mknod c 1 3)", needs_root=True)
def a1(ctx, d):
    os.mknod(d / "n", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    before = digest(d / "n")
    r = ctx.run("run", "small.toml", "--out", "n", "--overwrite", "-q", cwd=d)
    return r, digest(d / "n") == before


@attack("1b", "--overwrite onto a FIFO")
def a1b(ctx, d):
    os.mkfifo(d / "f")
    r = ctx.run("run", "small.toml", "--out", "f", "--overwrite", "-q", cwd=d)
    return r, stat.S_ISFIFO(os.lstat(d / "f").st_mode)


@attack("2", "--overwrite onto a file open in an h5py reader")
def a2(ctx, d):
    before = digest(d / "base.h5")
    reader = subprocess.Popen([ctx.python, "-c", "import h5py, time, sys; f = h5py.File(sys.argv[1], 'r');"
                               " print('open', flush=True); time.sleep(120)", str(d / "base.h5")],
                              env=ctx.env, stdout=subprocess.PIPE, text=True)
    reader.stdout.readline()
    try:
        r = ctx.run("run", "small.toml", "--out", "base.h5", "--overwrite", "-q", cwd=d)
    finally:
        reader.kill()
        reader.wait()
    return r, digest(d / "base.h5") == before


@attack("2b", "--overwrite onto the file of a running train")
def a2b(ctx, d):
    (d / "long.toml").write_text(LONG_TRAIN)
    proc = ctx.popen("train", "long.toml", "-o", "t.h5", "-q", cwd=d)
    try:
        wait_for(lambda: h5_status(d / "t.h5") == "running", 60)
        time.sleep(2)
        r = ctx.run("run", "small.toml", "--out", "t.h5", "--overwrite", "-q", cwd=d)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    return r, h5_status(d / "t.h5") == "interrupted (SIGTERM)" and proc.returncode == 143


@attack("3", "hard link of the config as --out (ln cfg.toml o.h5)")
def a3(ctx, d):
    os.link(d / "small.toml", d / "o.h5")
    before = digest(d / "small.toml")
    r = ctx.run("run", "small.toml", "--out", "o.h5", "--overwrite", "-q", cwd=d)
    return r, digest(d / "small.toml") == before


@attack("4", "--overwrite a good .h5, new run fails (file size limit)")
def a4(ctx, d):
    before = digest(d / "base.h5")
    r = ctx.run("run", "small.toml", "--out", "base.h5", "--overwrite", "-q", "--steps", "200000",
                *ctx.no_estimate, cwd=d, prefix=["prlimit", "--fsize=150000"])
    return r, digest(d / "base.h5") == before


@attack("4b", "--overwrite a non-snnsim notes.txt (replaced only on success)")
def a4b(ctx, d):
    (d / "notes.txt").write_text("my notes\n")
    r = ctx.run("run", "small.toml", "--out", "notes.txt", "--overwrite", "-q", "--steps", "200000",
                *ctx.no_estimate, cwd=d, prefix=["prlimit", "--fsize=150000"])
    return r, (d / "notes.txt").read_text() == "my notes\n"


@attack("5", "disk full during run (real tmpfs of 256 KiB, estimate off)", needs_root=True)
def a5(ctx, d):
    mnt = d / "mnt"
    mnt.mkdir()
    if subprocess.run(["unshare", "-m", "true"]).returncode != 0:
        return ("skip", "no mount namespace", 0.0), None
    script = (f'mount -t tmpfs -o size=256k tmpfs "{mnt}" && exec "$@"')
    r = ctx.run("run", "small.toml", "--out", mnt / "o.h5", "-q", "--steps", "200000",
                *ctx.no_estimate, cwd=d, prefix=["unshare", "-m", "sh", "-c", script, "sh"])
    return r, None


@attack("5b", "disk full during run (default: refused by the estimate)", needs_root=True)
def a5b(ctx, d):
    mnt = d / "mnt"
    mnt.mkdir()
    script = (f'mount -t tmpfs -o size=256k tmpfs "{mnt}" && exec "$@"')
    r = ctx.run("run", "small.toml", "--out", mnt / "o.h5", "-q", "--steps", "200000",
                cwd=d, prefix=["unshare", "-m", "sh", "-c", script, "sh"])
    return r, None


@attack("5c", "disk full during train (file size limit)")
def a5c(ctx, d):
    r = ctx.run("train", "train.toml", "--out", "t2.h5", "-q", *ctx.no_estimate, cwd=d,
                prefix=["prlimit", "--fsize=60000"])
    return r, not (d / "t2.h5").exists() or h5_status(d / "t2.h5") != "complete"


def _truncated(d):
    shutil.copyfile(d / "base.h5", d / "t.h5")
    os.truncate(d / "t.h5", 60000)


@attack("6", "truncated HDF5: info")
def a6(ctx, d):
    _truncated(d)
    return ctx.run("info", "t.h5", cwd=d, timeout=60), None


@attack("6b", "truncated HDF5: plot")
def a6b(ctx, d):
    _truncated(d)
    return ctx.run("plot", "t.h5", "--out", "p.png", cwd=d, timeout=60), None


@attack("6c", "truncated HDF5: train --resume")
def a6c(ctx, d):
    shutil.copyfile(d / "train.h5", d / "t.h5")
    os.truncate(d / "t.h5", os.path.getsize(d / "t.h5") // 2)
    before = digest(d / "t.h5")
    r = ctx.run("train", "train.toml", "--resume", "t.h5", "-q", cwd=d, timeout=60)
    return r, digest(d / "t.h5") == before


@attack("7", "snnsim run /dev/zero")
def a7(ctx, d):
    return ctx.run("run", "/dev/zero", "--out", "o.h5", cwd=d, timeout=60), None


@attack("7b", "FIFO as config (nobody writes)")
def a7b(ctx, d):
    os.mkfifo(d / "c.toml")
    return ctx.run("run", "c.toml", "--out", "o.h5", cwd=d, timeout=60), None


@attack("8", "[task] steps = 1000000000 (sine_wave)")
def a8(ctx, d):
    (d / "s.toml").write_text('[network]\nn_in = 100\n[[layer]]\n  [[layer.population]]\n'
                              '  type = "lif"\n  n = 10\n[task]\nname = "sine_wave"\n'
                              'steps = 1000000000\n[train]\niterations = 1\nbatch = 1\n')
    return ctx.run("train", "s.toml", "--out", "o.h5", cwd=d, timeout=120), None


@attack("8b", "[input] steps = 2**63-1")
def a8b(ctx, d):
    (d / "s.toml").write_text(SMALL.replace("steps = 400", "steps = 9223372036854775807"))
    r = ctx.run("run", "s.toml", "--out", "o.h5", cwd=d, timeout=60)
    return r, not (d / "o.h5").exists()


def _crafted(d, rows=10**12):
    import h5py
    shutil.copyfile(d / "base.h5", d / "c.h5")
    with h5py.File(d / "c.h5", "a") as f:
        g = f["spikes/hid"]
        for name, dtype in (("timestamps", "f8"), ("node_ids", "u4"), ("batch_ids", "u4")):
            del g[name]
            g.create_dataset(name, shape=(rows,), dtype=dtype, chunks=(1 << 16,))


@attack("9", "crafted file declaring 1e12 spike rows: export")
def a9(ctx, d):
    _crafted(d)
    r = ctx.run("export", "c.h5", "--out", "x.csv", cwd=d, timeout=60)
    return r, not list(d.glob(".*tmp")) and not (d / "x.csv").exists()


@attack("9b", "crafted file declaring 1e12 spike rows: plot")
def a9b(ctx, d):
    _crafted(d)
    return ctx.run("plot", "c.h5", "--out", "p.png", cwd=d, timeout=60), None


@attack("10", "SIGTERM to train, eprop (latency s)")
def a10(ctx, d):
    (d / "long.toml").write_text(LONG_TRAIN)
    r = signal_after(ctx, d, ("train", "long.toml", "-o", "t.h5", "-q"), signal.SIGTERM, 3,
                     ready=lambda: h5_status(d / "t.h5") == "running")
    return r, h5_status(d / "t.h5") == "interrupted (SIGTERM)"


@attack("10b", "SIGTERM during the final test evaluation of train")
def a10b(ctx, d):
    (d / "tb.toml").write_text(TRAIN.replace("iterations = 6", "iterations = 1")
                               .replace("test_batch = 4", "test_batch = 20000"))
    r = signal_after(ctx, d, ("train", "tb.toml", "-o", "t.h5", "-q"), signal.SIGTERM, 4,
                     ready=lambda: h5_status(d / "t.h5") == "running")
    return r, h5_status(d / "t.h5") in ("interrupted (SIGTERM)",)


def _sweep(d):
    (d / "long.toml").write_text(LONG_TRAIN)
    (d / "sw.toml").write_text('base = "long.toml"\nout_dir = "out"\n[grid]\n'
                               '"train.lr" = [0.001, 0.002, 0.003]\n')


def _sweep_row(ctx, d, signum):
    _sweep(d)
    r = signal_after(ctx, d, ("sweep", "sw.toml"), signum, 4,
                     ready=lambda: (d / "out" / "point_0.toml").exists())
    time.sleep(0.5)
    left = subprocess.run(["pgrep", "-f", str(d / "out" / "point_")], capture_output=True,
                          text=True).stdout.split()
    for pid in left:   # clean up after an old version
        os.kill(int(pid), signal.SIGKILL)
    return r, (d / "out" / "summary.csv").exists() and not left


@attack("10c", "Ctrl-C (SIGINT) on sweep")
def a10c(ctx, d):
    return _sweep_row(ctx, d, signal.SIGINT)


@attack("10d", "SIGTERM to sweep (its point processes?)")
def a10d(ctx, d):
    return _sweep_row(ctx, d, signal.SIGTERM)


def _gradcheck_row(ctx, d, signum):
    r = signal_after(ctx, d, ("gradcheck", "train.toml", "--rules", "rtrl,eprop-m1,eprop-m2",
                              "--batch", "32", "--out", "g.h5"), signum, 3)
    if r[0] == 0:   # finished before the signal: its file must be complete
        return r, h5_status(d / "g.h5") == "complete"
    again = ctx.run("gradcheck", "train.toml", "--rules", "eprop", "--out", "g.h5", cwd=d)
    return r, again[0] == 0


@attack("10e", "SIGINT to gradcheck --out (then rerun)")
def a10e(ctx, d):
    return _gradcheck_row(ctx, d, signal.SIGINT)


@attack("10f", "SIGTERM to gradcheck --out (then rerun)")
def a10f(ctx, d):
    return _gradcheck_row(ctx, d, signal.SIGTERM)


@attack("11", "SIGKILL early in --resume, then info/plot/export-nir on read-only media",
        needs_root=True)
def a11(ctx, d):
    flagged = False
    for delay in (0.1, 0.2, 0.3, 0.15, 0.25, 0.35, 0.4, 0.5):
        shutil.copyfile(d / "train.h5", d / "t.h5")
        proc = ctx.popen("train", "train.toml", "--resume", "t.h5", "--iterations", "100000", "-q",
                         cwd=d)
        time.sleep(delay + 1.0)   # interpreter start-up ~1 s
        proc.kill()
        proc.wait()
        with open(d / "t.h5", "rb") as fh:
            head = fh.read(48)
        flagged = len(head) > 11 and head[8] >= 2 and head[11] != 0   # superblock v2/3 flags
        if flagged:
            break
    ro = d / "ro"
    ro.mkdir()
    shutil.move(d / "t.h5", ro / "t.h5")
    before = digest(ro / "t.h5")
    rows = [ctx.run(*args, cwd=d, prefix=ro_prefix(ro), timeout=60) for args in
            (("info", "ro/t.h5"), ("plot", "ro/t.h5", "--out", "p.png"),
             ("export-nir", "ro/t.h5", "--out", "x.nir"))]
    worst = max(rows, key=lambda r: (r[0] not in (0,), r[2]))
    code = "/".join(str(r[0]) for r in rows)
    text = ("write flag set; " if flagged else "flag not caught; ") + worst[1]
    return (code, text, sum(r[2] for r in rows)), digest(ro / "t.h5") == before


# ------------------------------------------------------------------ one-line list
@attack("T1", "--seed 2**63")
def t1(ctx, d):
    return ctx.run("run", "small.toml", "--out", "o.h5", "--seed", str(2**63), cwd=d), \
        not (d / "o.h5").exists()


@attack("T2", "network.seed = 2**63")
def t2(ctx, d):
    (d / "s.toml").write_text(SMALL.replace("seed = 1", f"seed = {2**63}"))
    return ctx.run("run", "s.toml", "--out", "o.h5", cwd=d), not (d / "o.h5").exists()


@attack("T3", "sweep over network.seed = [1, 2**63]")
def t3(ctx, d):
    (d / "sw.toml").write_text(f'base = "small.toml"\n[grid]\n"network.seed" = [1, {2**63}]\n')
    return ctx.run("sweep", "sw.toml", cwd=d), not (d / "sweep_out").exists()


@attack("T4", 'a layer named "."')
def t4(ctx, d):
    (d / "s.toml").write_text(SMALL.replace('name = "hid"', 'name = "."'))
    return ctx.run("run", "s.toml", "--out", "o.h5", cwd=d), None


@attack("T5", "TOML nested 2000 deep")
def t5(ctx, d):
    (d / "s.toml").write_text("a = " + "[" * 2000 + "]" * 2000 + "\n")
    return ctx.run("run", "s.toml", "--out", "o.h5", cwd=d), None


@attack("T6", "output name of 300 characters")
def t6(ctx, d):
    return ctx.run("run", "small.toml", "--out", "x" * 300 + ".h5", cwd=d), None


def _ro_cmd(ctx, d, *args):
    ro = d / "ro"
    ro.mkdir()
    for name in ("base.h5", "train.h5", "train.toml", "small.toml"):
        shutil.copyfile(d / name, ro / name)
    (ro / "sw.toml").write_text('base = "small.toml"\n[grid]\n"network.seed" = [1, 2]\n')
    before = {p.name: digest(p) for p in ro.iterdir()}
    r = ctx.run(*args, cwd=d, prefix=ro_prefix(ro))
    return r, {p.name: digest(p) for p in ro.iterdir()} == before


for _key, _title, _args in [
        ("T7", "read-only fs: plot", ("plot", "ro/base.h5", "--out", "ro/p.png")),
        ("T7b", "read-only fs: export", ("export", "ro/base.h5", "--out", "ro/x.csv")),
        ("T7c", "read-only fs: export-nir", ("export-nir", "ro/train.h5", "--out", "ro/x.nir")),
        ("T7d", "read-only fs: sweep", ("sweep", "ro/sw.toml")),
        ("T7e", "read-only fs: train --resume", ("train", "ro/train.toml", "--resume", "ro/train.h5",
                                                  "--iterations", "8"))]:
    attack(_key, _title, needs_root=True)(lambda ctx, d, a=_args: _ro_cmd(ctx, d, *a))


def _checkpoint_variant(ctx, d, edit):
    import h5py
    shutil.copyfile(d / "train.h5", d / "t.h5")
    if edit is not None:
        with h5py.File(d / "t.h5", "a") as f:
            edit(f)
    before = digest(d / "t.h5")
    r = ctx.run("train", "train.toml", "--resume", "t.h5", "-q", "--iterations", "8", cwd=d, timeout=60)
    return r, digest(d / "t.h5") == before


def _del(path):
    def edit(f):
        del f[path]
    return edit


def _set_attr(path, key, value):
    def edit(f):
        f[path].attrs[key] = value
    return edit


def _first_weight(f):
    return sorted(k for k in f["checkpoint"].keys() if k.startswith("weights"))


for _key, _title, _edit in [
        ("C1", "checkpoint: 0-byte file", "zero"),
        ("C2", "checkpoint: group removed", _del("checkpoint")),
        ("C3", "checkpoint: one weight matrix missing", "weight"),
        ("C4", "checkpoint: iteration = -5", "negative"),
        ("C5", "checkpoint: garbage config attribute", lambda f: f.attrs.__setitem__("config", "{not json"))]:
    def _fn(ctx, d, e=_edit):
        if e == "zero":
            (d / "z.h5").write_bytes(b"")
            r = ctx.run("train", "train.toml", "--resume", "z.h5", "-q", cwd=d, timeout=60)
            return r, (d / "z.h5").read_bytes() == b""
        if e in ("weight", "negative"):
            def edit(f, e=e):
                import json
                c = f["checkpoint"]
                if e == "weight":
                    names = []
                    c.visit(lambda n: names.append(n) if "w_in" in n else None)
                    del c[names[0]]
                else:
                    meta = json.loads(c.attrs["meta"]) if "meta" in c.attrs else None
                    if meta is None:
                        c.attrs["iteration"] = -5
                    else:
                        meta["iteration"] = -5
                        c.attrs["meta"] = json.dumps(meta)
            return _checkpoint_variant(ctx, d, edit)
        return _checkpoint_variant(ctx, d, e)
    attack(_key, _title)(_fn)


@attack("C6", "--resume --iterations 2 on a checkpoint at 6")
def c6(ctx, d):
    shutil.copyfile(d / "train.h5", d / "t.h5")
    before = digest(d / "t.h5")
    r = ctx.run("train", "train.toml", "--resume", "t.h5", "--iterations", "2", cwd=d)
    return r, digest(d / "t.h5") == before


def _crafted_attr(edit):
    def fn(ctx, d):
        import h5py
        shutil.copyfile(d / "base.h5", d / "c.h5")
        with h5py.File(d / "c.h5", "a") as f:
            edit(f)
        rows = [ctx.run(*a, cwd=d, timeout=60) for a in (("info", "c.h5"),
                                                          ("export", "c.h5", "--out", "x.csv"),
                                                          ("plot", "c.h5", "--out", "p.png"))]
        worst = max(rows, key=lambda r: ("TRACEBACK" in str(r[1]), r[0] not in (0, 2), r[2]))
        return ("/".join(str(r[0]) for r in rows), worst[1], sum(r[2] for r in rows)), None
    return fn


def _spikes_dataset(f):
    del f["spikes"]
    f["spikes"] = [1, 2, 3]


def _ext_link(f):
    del f["spikes/hid/timestamps"]
    f["spikes/hid/timestamps"] = __import__("h5py").ExternalLink("/etc/passwd", "/x")


def _ts(kind):
    def edit(f):
        import numpy as np
        del f["spikes/hid/timestamps"]
        if kind == "scalar":
            f["spikes/hid/timestamps"] = 1.0
        elif kind == "string":
            f["spikes/hid/timestamps"] = np.array([b"a", b"b"])
        else:
            f["spikes/hid/timestamps"] = np.zeros(3, dtype=[("a", "f8"), ("b", "i4")])
    return edit


for _key, _title, _edit in [
        ("F1", "crafted: external link as timestamps", _ext_link),
        ("F2", "crafted: /spikes as a dataset", _spikes_dataset),
        ("F3", "crafted: scalar timestamps", _ts("scalar")),
        ("F4", "crafted: string timestamps", _ts("string")),
        ("F5", "crafted: compound timestamps", _ts("compound")),
        ("F6", "crafted: array-valued dt attribute", lambda f: f.attrs.__setitem__("dt", [1.0, 2.0])),
        ("F7", "crafted: subgroup under /weights", lambda f: f["weights"].create_group("sub")),
        ("F8", "crafted: non-JSON config", lambda f: f.attrs.__setitem__("config", "{nope"))]:
    attack(_key, _title)(_crafted_attr(_edit))


@attack("F9", ".npz named .npy as input.path")
def f9(ctx, d):
    import numpy as np
    np.savez(d / "x.npz", a=np.zeros((1, 5, 10)))
    os.replace(d / "x.npz", d / "x.npy")
    (d / "s.toml").write_text(SMALL.split("[input]")[0] + '[input]\ntype = "spikes"\npath = "x.npy"\n')
    return ctx.run("run", "s.toml", "--out", "o.h5", cwd=d), None


@attack("P1", 'API: PoissonInput(rate="x")')
def p1(ctx, d):
    return ctx.python_code("import snnsim; snnsim.PoissonInput('x', 3)", cwd=d), None


@attack("P2", "API: fidelity(..., rules=5)")
def p2(ctx, d):
    return ctx.python_code("""
        import numpy as np, snnsim
        from snnsim.learning.fidelity import fidelity
        net = snnsim.Network(3, [snnsim.Layer(snnsim.LIF(n=4))], snnsim.Readout(n=1))
        fidelity(net, np.zeros((1, 5, 3)), np.zeros((1, 5, 1)), rules=5)""", cwd=d), None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--python", default=sys.executable, help="interpreter with snnsim")
    ap.add_argument("--pythonpath", default=None, help="prepended to PYTHONPATH (a checkout)")
    ap.add_argument("--only", default=None, help="comma-separated attack keys")
    ap.add_argument("--skip", default="", help="comma-separated attack keys not to run (e.g. 8 "
                                               "on a version that allocates 23 GB for it)")
    ap.add_argument("--markdown", action="store_true", help="a Markdown table")
    args = ap.parse_args()
    ctx = Ctx(args.python, args.pythonpath)
    ro_ok = ro_possible(ctx)
    only = None if args.only is None else set(args.only.split(","))
    if args.markdown:
        print("| attack | | exit | message (first line) | data intact | s |\n|---|---|---|---|---|---|")
    else:
        print(f"{'#':<4} {'attack':<58} {'exit':>8}  {'intact':<6} {'s':>6}  message")
    try:
        for key, title, needs_root, fn in ATTACKS:
            if only is not None and key not in only and key.rstrip("bcdef") not in only:
                continue
            if key in args.skip.split(","):
                print(f"{key:<4} {title[:58]:<58} {'skipped':>8}", flush=True)
                continue
            if needs_root and not (is_root() and ro_ok):
                code, msg, sec, intact = "skip", "needs root and unshare -m", 0.0, None
            else:
                d = ctx.folder(f"a{key}")
                try:
                    (code, msg, sec), intact = fn(ctx, d)
                except Exception as exc:   # noqa: BLE001 - a broken attack is a row, not a crash
                    code, msg, sec, intact = "script", f"{type(exc).__name__}: {exc}", 0.0, None
            ok = "-" if intact is None else ("yes" if intact else "NO")
            msg = str(msg)[:160]
            if args.markdown:
                print(f"| {key} | {title} | {code} | {msg.replace('|', '/')} | {ok} | {sec:.1f} |",
                      flush=True)
            else:
                print(f"{key:<4} {title[:58]:<58} {str(code):>8}  {ok:<6} {sec:>6.1f}  {msg}",
                      flush=True)
    finally:
        shutil.rmtree(ctx.root, ignore_errors=True)


if __name__ == "__main__":
    main()
