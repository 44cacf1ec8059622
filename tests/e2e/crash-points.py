#!/usr/bin/python3
"""The crash-point test's driver (run by tests/e2e/crash-points.sh, which
starts the local EC2 and builds the shim and the runner).

For each scenario, an uncrashed run in count mode lists the points kiln
reaches (tests/e2e/crash-shim.c). Then, for every point N: the state before
the scenario is put back, kiln runs and is killed with SIGKILL at point N
(with whatever it started: tests/e2e/crash-run.c), kiln runs again as after
a restart, and what it left is checked. TAP on stdout, one line per point.

A crash point is inconsistent when, once kiln ran again, any check fails:
the files under the root differ from those of an uncrashed run (a temp file
left behind, a file or key missing, with other content, mode or owner),
nginx fails `nginx -t` or does not serve what the config says, a
certificate that worked is gone or not served, a datum is lost or arrives
twice.

Scenarios that need nginx run on several workers side by side, each with a
root and an nginx of its own (tests/local-ec2 ... nginx); the renewal runs
on the first only, the one Pebble validates against.
"""
import hashlib
import http.client
import json
import os
import queue
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

E = os.environ
KILN = E["KILN"]
T = E["T"]
RUNNER = E["CRASH_RUN"]
PRELOAD = E["CRASH_PRELOAD"]
NGINX = E.get("LOCAL_EC2_NGINX", "/usr/sbin/nginx")
CW = E["LOCAL_EC2_CLOUDWATCH"]
USER_DATA = os.path.join(E["EC2"], "user-data")
ONLY = E.get("CRASH_SCENARIOS", "boot nginx-apply renew metrics").split()
WORKERS = int(E.get("CRASH_WORKERS", "3"))
METRICS_JOBS = int(E.get("CRASH_METRICS_JOBS", "12"))
GEN_RE = re.compile(rb"GEN\d{6}")
KILLED = 128 + signal.SIGKILL

tap_n = 0
tap_failed = 0


def ok(good, desc):
    global tap_n, tap_failed
    tap_n += 1
    print("%s %d - %s" % ("ok" if good else "not ok", tap_n, desc), flush=True)
    if not good:
        tap_failed += 1


def diag(text):
    for line in str(text).splitlines():
        print("# " + line, flush=True)


class HarnessError(Exception):
    """The test's own machinery failed (not kiln): reported as a failure."""


def bail(text):
    print("Bail out! " + text.splitlines()[0] if text else "Bail out!", flush=True)
    diag(text)
    sys.exit(1)


def run(argv, env=None, timeout=120):
    p = subprocess.run(argv, env=env, timeout=timeout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    return p.returncode, p.stdout.decode(errors="replace")


def read_trace(path):
    try:
        with open(path) as f:
            return [line.rstrip("\n") for line in f]
    except FileNotFoundError:
        return []


def gen_name(n):
    return "GEN%06d" % n


def copy_tree(src, dst):
    shutil.rmtree(dst, ignore_errors=True)
    subprocess.run(["cp", "-a", src, dst], check=True)


# Contents that differ between any two good runs, whatever happened: logs.
ALWAYS_VOLATILE = re.compile(r"^/var/log/")


def tree(root):
    """path -> (kind, mode, uid, gid, content digest or link target)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            full = os.path.join(dirpath, name)
            rel = full[len(root):]
            st = os.lstat(full)
            if os.path.islink(full):
                out[rel] = ("link", 0, st.st_uid, st.st_gid, os.readlink(full))
            elif os.path.isdir(full):
                out[rel] = ("dir", st.st_mode & 0o7777, st.st_uid, st.st_gid, "")
            else:
                with open(full, "rb") as f:
                    digest = hashlib.sha256(GEN_RE.sub(b"GEN", f.read())).hexdigest()[:16]
                out[rel] = ("file", st.st_mode & 0o7777, st.st_uid, st.st_gid, digest)
    return out


def volatile_paths(a, b):
    return {p for p in set(a) & set(b) if a[p][4] != b[p][4]} | {p for p in a if ALWAYS_VOLATILE.match(p)}


def compare_trees(want, got, volatile, skip=(), old=None):
    """Differences between an uncrashed run's tree and this one's. With old
    (the tree before the run), a path as it was before is fine too: where
    the run after the crash need not finish what the crashed one began."""
    problems = []
    for p in sorted(set(got) - set(want)):
        if not any(s.match(p) for s in skip) and not (old and p in old and old[p][0] == got[p][0]):
            problems.append("left behind: %s" % p)
    for p in sorted(set(want) - set(got)):
        if not any(s.match(p) for s in skip) and (not old or p in old):
            problems.append("missing: %s" % p)
    for p in sorted(set(want) & set(got)):
        if any(s.match(p) for s in skip):
            continue
        w, g = want[p], got[p]
        if old and p in old and old[p] == g:
            continue
        if w[:4] != g[:4]:
            problems.append("%s: %s %o %d:%d, expected %s %o %d:%d" % ((p,) + g[:4] + w[:4]))
        elif p not in volatile and w[4] != g[4]:
            problems.append("%s: other content than after an uncrashed run" % p)
    return problems


def pids_with_parent(pid):
    out = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.add(int(d))
            except (OSError, IndexError, ValueError):
                pass
    return out


class Worker:
    """A root and the nginx that serves from it."""

    def __init__(self, i, root, ec2, env):
        self.i = i
        self.root = root
        self.ec2 = ec2
        self.http_port = int(env["LOCAL_EC2_HTTP_PORT"])
        self.https_port = int(env["LOCAL_EC2_HTTPS_PORT"])
        self.nginx_config = env["LOCAL_EC2_NGINX_CONFIG"]
        self.pristine = os.path.join(T, "pristine-%d" % i)
        copy_tree(root, self.pristine)

    def argv(self, *args):
        return [KILN, "--root", self.root] + list(args)

    def kiln(self, *args):
        return run(self.argv(*args))

    def crash_run(self, args, trace, at):
        env = dict(E)
        env.update(CRASH_RUN_PRELOAD=PRELOAD, KILN_CRASH_TRACE=trace, KILN_CRASH_STRIP=self.root,
                   KILN_CRASH_AT=str(at))
        return run([RUNNER] + self.argv(*args), env=env)

    def restore(self, src):
        copy_tree(src, self.root)

    def path(self, p):
        return self.root + p

    def nginx_test(self):
        rc, out = run([NGINX, "-t", "-q", "-p", os.path.join(self.ec2, "nginx"), "-c",
                       self.path("/etc/nginx/nginx.conf")])
        return [] if rc == 0 else ["nginx -t fails: %s" % out.strip()[:300]]

    def http_get(self, host):
        c = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=5)
        try:
            c.request("GET", "/", headers={"Host": host, "Connection": "close"})
            r = c.getresponse()
            return r.status, r.read().decode(errors="replace").strip()
        except OSError as e:
            return 0, str(e)
        finally:
            c.close()

    def serves(self, host, body):
        status, got = self.http_get(host)
        if status == 200 and got == body:
            return []
        return ["nginx answers %s with %d %r, the config says 200 %r" % (host, status, got[:80], body)]

    def served_cert_der(self, host):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with socket.create_connection(("127.0.0.1", self.https_port), timeout=5) as s:
                with ctx.wrap_socket(s, server_hostname=host) as t:
                    return t.getpeercert(binary_form=True)
        except OSError:
            return None

    def nginx_reload(self):
        """nginx loads the config under the root; waits until only new workers serve."""
        with open(self.path("/run/nginx.pid")) as f:
            master = int(f.read().strip())
        before = pids_with_parent(master)
        os.kill(master, signal.SIGHUP)
        for _ in range(1000):
            now = pids_with_parent(master)
            if now and not (now & before):
                return
            time.sleep(0.01)
        try:
            with open(os.path.join(self.ec2, "nginx/logs/error.log")) as f:
                tail = f.read()[-600:]
        except OSError as e:
            tail = str(e)
        raise HarnessError("nginx did not reload within 10 s; its error log ends: " + tail)

    def status(self):
        try:
            with open(self.path("/run/kiln/status.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return {}

    def write(self, p, text):
        os.makedirs(os.path.dirname(self.path(p)), exist_ok=True)
        with open(self.path(p), "w") as f:
            f.write(text)


def env_file(path):
    out = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"export (\w+)=(.*)$", line.strip())
            if m:
                out[m.group(1)] = subprocess.run(["bash", "-c", "printf %s " + m.group(2)],
                                                 stdout=subprocess.PIPE).stdout.decode()
    return out


def start_workers(n):
    """Worker 0 is the local EC2's own nginx; the others get one each."""
    workers = [Worker(0, E["ROOT"], E["EC2"], E)]
    for i in range(1, n):
        root = os.path.join(T, "w%d" % i, "root")
        ec2 = os.path.join(T, "w%d" % i, "ec2")
        os.makedirs(ec2, exist_ok=True)
        copy_tree(E["CRASH_ROOT0"], root)  # the root as lib.sh made it, before nginx
        env = dict(E, LOCAL_EC2_ROOT=root)
        rc, out = run([os.path.join(E["top_srcdir"], "tests/local-ec2"), "start", ec2, "nginx"], env=env)
        if rc != 0:
            bail("worker %d's nginx did not start: %s" % (i, out))
        workers.append(Worker(i, root, ec2, env_file(os.path.join(ec2, "env"))))
    return workers


def stop_workers(workers):
    for w in workers[1:]:
        run([os.path.join(E["top_srcdir"], "tests/local-ec2"), "stop", w.ec2])


# --- a scenario, on one or more workers ---

class Scenario:
    name = "?"
    command = ()           # kiln's arguments
    recovery = None        # the arguments of the run after the crash (default: command)
    skip = ()              # path patterns the tree comparison leaves to check()
    old_is_fine = False    # the state before the run is a good outcome too
    parallel = True        # runs on every worker

    def setup(self, w):
        """Brings w's root to the state before the scenario."""

    def reset_peers(self, w):
        """After the root was put back: the peers' state (nginx) to match."""

    def prepare(self, w, gen):
        """Per run, after the root was put back: what changes with each run."""

    def recover(self, w):
        return w.kiln(*(self.recovery or self.command))

    def check(self, w, gen, rc):
        """Problems after the run after the crash (a list of strings)."""
        return []


def reference(s, w, gen, trace):
    """An uncrashed run then the run after it, from the state before."""
    w.restore(w.base)
    s.reset_peers(w)
    s.prepare(w, gen)
    rc, out = w.crash_run(s.command, trace, 0)
    rc2, out2 = s.recover(w)
    return rc, out + out2, s.check(w, gen, rc2), tree(w.root)


def prepare_worker(s, w):
    s.setup(w)
    w.base = os.path.join(T, "s0-%s-%d" % (s.name, w.i))
    copy_tree(w.root, w.base)
    w.old = tree(w.base) if s.old_is_fine else None
    trace = os.path.join(T, "%s-%d.trace" % (s.name, w.i))
    rc, out, problems, w.ref = reference(s, w, gen_name(0), trace)
    w.points = read_trace(trace)
    return rc, out, problems


def second_reference(s, w):
    # Markers and state hold times in seconds: a second later, they differ.
    time.sleep(1.1)
    rc, out, problems, ref2 = reference(s, w, gen_name(999999), os.path.join(T, "%s-%d.trace2" % (s.name, w.i)))
    w.volatile = volatile_paths(w.ref, ref2)


def crash_point(s, w, n):
    """(point, problems); problems None when point n was not reached."""
    w.restore(w.base)
    s.reset_peers(w)
    gen = gen_name(n)
    s.prepare(w, gen)
    t = os.path.join(T, "%s-%d.%d.trace" % (s.name, w.i, n))
    rc, out = w.crash_run(s.command, t, n)
    where = read_trace(t)
    os.unlink(t)
    if rc != KILLED:
        return "%d (exit %d)" % (n, rc), None
    rc, out = s.recover(w)
    problems = s.check(w, gen, rc)
    problems += compare_trees(w.ref, tree(w.root), w.volatile, s.skip, w.old)
    return where[-1] if where else "%d ?" % n, problems


def run_scenario(s, workers):
    ws = workers if s.parallel else workers[:1]
    with ThreadPoolExecutor(max_workers=len(ws)) as pool:
        results = list(pool.map(lambda w: prepare_worker(s, w), ws))
    good = all(not p for rc, out, p in results) and len(ws[0].points) > 0
    if any(len(w.points) != len(ws[0].points) for w in ws):
        diag("%s: the workers' uncrashed runs reach %s points: points past a worker's are skipped there"
             % (s.name, ", ".join(str(len(w.points)) for w in ws)))
    ok(good, "%s: the uncrashed run (exit %d) reaches %d crash points and is consistent"
       % (s.name, results[0][0], len(ws[0].points)))
    if not good:
        for w, (rc, out, problems) in zip(ws, results):
            diag("worker %d: %d points, exit %d" % (w.i, len(w.points), rc))
            diag("\n".join(problems))
            diag(out[-2000:])
        return 0, 0, 0
    with ThreadPoolExecutor(max_workers=len(ws)) as pool:
        list(pool.map(lambda w: second_reference(s, w), ws))

    total = len(ws[0].points)
    todo = queue.Queue()
    for n in range(1, total + 1):
        todo.put(n)
    results = {}

    def work(w):
        while True:
            try:
                n = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results[n] = crash_point(s, w, n)
            except Exception as e:  # the harness's, reported as this point's failure
                results[n] = ("%d (harness error)" % n, ["harness: %s: %s" % (type(e).__name__, e)])

    started = time.time()
    threads = [threading.Thread(target=work, args=(w,)) for w in ws]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return report(s.name, total, results, started)


def report(name, total, results, started):
    exercised = inconsistent = 0
    for n in range(1, total + 1):
        point, problems = results[n]
        if problems is None:
            ok(True, "%s: point %s not reached this time # SKIP the run went another way" % (name, point))
            continue
        exercised += 1
        ok(not problems, "%s: killed at %s" % (name, point))
        if problems:
            inconsistent += 1
            diag("\n".join(problems[:12]))
            if len(problems) > 12:
                diag("... and %d more" % (len(problems) - 12))
    diag("%s: %d crash points exercised, %d inconsistent (%.1f s)" %
         (name, exercised, inconsistent, time.time() - started))
    return total, exercised, inconsistent


def nginx_settings(w):
    w.write("/etc/kiln/kiln.d/00-local-ec2.yaml", w.nginx_config + "\n")


# --- boot: a first boot with users and keys, write_files, runcmd, sites ---

BOOT_USER_DATA = """#cloud-config
users:
  - default
  - name: deploy
    ssh_authorized_keys:
      - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDeployKey0000000000000000000000000000000 deploy@laptop
ssh_authorized_keys:
  - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExtraKeyForTheDefaultUser00000000000000 extra
write_files:
  - path: /etc/app/app.conf
    content: |
      listen = 8000
    owner: deploy:deploy
    permissions: '0640'
  - path: /etc/app/blob.txt
    content: second file
  - path: /srv/www/index.html
    content: <p>deferred</p>
    defer: true
runcmd:
  - [sh, -c, 'echo ran > "$KILN_ROOT/var/tmp/runcmd.out"']
"""

BOOT_FILES = (("/etc/app/app.conf", "listen = 8000\n", 0o640, "deploy"),
              ("/etc/app/blob.txt", "second file", 0o644, "root"),
              ("/srv/www/index.html", "<p>deferred</p>", 0o644, "root"))
# What runcmd leaves. Scripts and commands are claimed (their marker
# written) before they run, as cloud-init does, so that one that reboots the
# machine does not run again: killed between the claim and the run, kiln
# does not run it again. Its output is checked after the uncrashed runs
# only.
RUNCMD_FILES = re.compile(r"^/var/tmp/runcmd\.out$|^/var/log(/kiln(/runcmd\.log)?)?$")
BOOT_KEYS = (("deploy", "deploy@laptop"), ("admin", "extra"), ("admin", "launch-key"))


def uid_of(w, user):
    with open(w.path("/etc/passwd")) as f:
        for line in f:
            fields = line.split(":")
            if fields[0] == user:
                return int(fields[2])
    return -1


class Boot(Scenario):
    """The user-data is the same for every run (one fake IMDS serves all
    workers); the sites' bodies name the run, so that nginx, which keeps
    the config of the run before, must load this one's."""
    name = "boot"
    command = ("boot",)
    skip = (RUNCMD_FILES,)

    def setup(self, w):
        w.restore(w.pristine)
        nginx_settings(w)
        os.makedirs(w.path("/var/tmp"), exist_ok=True)
        with open(USER_DATA, "w") as f:
            f.write(BOOT_USER_DATA)

    def prepare(self, w, gen):
        w.write("/etc/kiln/kiln.yaml",
                "sites:\n"
                "  - name: one\n    domains: [one.test]\n    locations: {/: {return: 200, body: 'one %s'}}\n"
                "  - name: two\n    domains: [two.test]\n    locations: {/: {return: 200, body: 'two %s'}}\n"
                % (gen, gen))

    def check(self, w, gen, rc):
        problems = [] if rc == 0 else ["kiln boot after the crash exits %d" % rc]
        problems += w.nginx_test()
        problems += w.serves("one.test", "one " + gen)
        problems += w.serves("two.test", "two " + gen)
        for path, want, mode, owner in BOOT_FILES:
            try:
                with open(w.path(path)) as f:
                    got = f.read()
                st = os.stat(w.path(path))
            except OSError as e:
                problems.append("%s: %s" % (path, e.strerror))
                continue
            if got != want:
                problems.append("%s holds %r, expected %r" % (path, got[:80], want))
            if mode is not None and (st.st_mode & 0o7777 != mode or st.st_uid != uid_of(w, owner)):
                problems.append("%s is %o %d, expected %o %s" % (path, st.st_mode & 0o7777, st.st_uid, mode, owner))
        if gen in (gen_name(0), gen_name(999999)):
            try:
                with open(w.path("/var/tmp/runcmd.out")) as f:
                    if f.read() != "ran\n":
                        problems.append("runcmd's output is not 'ran'")
            except OSError:
                problems.append("runcmd did not run")
        for user, key in BOOT_KEYS:
            try:
                with open(w.path("/home/%s/.ssh/authorized_keys" % user)) as f:
                    keys = f.read().splitlines()
            except OSError:
                keys = []
            if sum(1 for k in keys if k.endswith(" " + key)) != 1:
                problems.append("%s's authorized_keys does not hold key %r once" % (user, key))
        if w.status().get("result") != "done":
            problems.append("status.json says %r, not done" % w.status().get("result"))
        return problems


# --- nginx apply: one site changed, one kept, one removed, one added ---

class NginxApply(Scenario):
    name = "nginx-apply"
    command = ("nginx", "apply")

    def sites(self, w, a, d):
        text = "sites:\n"
        for name, body in (("a", a), ("b", "b v1"), ("c", None if d else "c v1"), ("d", d)):
            if body:
                text += ("  - name: %s\n    domains: [%s.test]\n"
                         "    locations: {/: {return: 200, body: '%s'}}\n" % (name, name, body))
        w.write("/etc/kiln/kiln.yaml", text)

    def setup(self, w):
        w.restore(w.pristine)
        nginx_settings(w)
        self.sites(w, "a v1", None)
        rc, out = w.kiln("nginx", "apply")
        if rc != 0:
            bail("kiln nginx apply of the first sites failed: " + out)

    def prepare(self, w, gen):
        self.sites(w, "a " + gen, "d " + gen)

    def check(self, w, gen, rc):
        problems = [] if rc == 0 else ["kiln nginx apply after the crash exits %d" % rc]
        problems += w.nginx_test()
        problems += w.serves("a.test", "a " + gen)
        problems += w.serves("b.test", "b v1")
        problems += w.serves("d.test", "d " + gen)
        if w.http_get("c.test")[1] == "c v1":
            problems.append("nginx still serves the removed site c")
        return problems


# --- renewal: kiln renew --force of a certificate from Pebble ---

def pem_certs(path):
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return []
    return re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", text, re.S)


def key_matches(key, cert):
    a = run(["openssl", "pkey", "-in", key, "-pubout"])
    b = run(["openssl", "x509", "-in", cert, "-noout", "-pubkey"])
    return a[0] == 0 and b[0] == 0 and a[1] == b[1]


class Renew(Scenario):
    """The renewal asks for a key of another type, so that it writes a new
    privkey.pem too: its points are those of a renewal that keeps the key
    and more. After the crash, kiln boot runs, as a restart of kiln's service
    does; it need not renew again (the certificate is not due), so the
    certificate before is a good outcome too, but whichever is in place
    must be whole, verify, and be what nginx serves. nginx is put back to
    the certificate before for each run. The *.bak copies are read only by
    the run that made them (to put them back when nginx refuses the new
    files), so one that a crash left out is not compared."""
    name = "renew"
    command = ("renew", "--force")
    recovery = ("boot",)
    old_is_fine = True
    parallel = False
    site = "/var/lib/kiln/acme/sites/demo/"
    skip = (re.compile(r"^/var/lib/kiln/acme/sites/demo/[a-z]+\.pem\.bak$"),)

    def config(self, w, key_type):
        w.write("/etc/kiln/kiln.yaml",
                "acme:\n  email: admin@example.com\n  directory: %s\n  ca_file: %s\n  key_type: %s\n"
                "sites:\n  - name: demo\n    domains: [demo.test]\n    tls: acme\n"
                "    locations: {/: {return: 200, body: 'demo'}}\n"
                % (E["LOCAL_EC2_ACME_DIRECTORY"], E["LOCAL_EC2_ACME_CA"], key_type))

    def setup(self, w):
        w.restore(w.pristine)
        nginx_settings(w)
        open(USER_DATA, "w").close()
        self.config(w, "ecdsa-p256")
        rc, out = w.kiln("boot")
        if rc != 0 or os.path.exists(w.path(self.site + "placeholder")):
            bail("the first certificate was not issued: " + out)
        ctx = ssl.create_default_context(cafile=E["LOCAL_EC2_ACME_CA"])
        with urllib.request.urlopen(E["LOCAL_EC2_PEBBLE_MGMT"] + "/roots/0", context=ctx) as r:
            with open(os.path.join(T, "pebble-root.pem"), "wb") as f:
                f.write(r.read())
        self.first = ssl.PEM_cert_to_DER_cert(pem_certs(w.path(self.site + "fullchain.pem"))[0])

    def reset_peers(self, w):
        w.nginx_reload()

    def prepare(self, w, gen):
        # A new key type: the renewal writes a new key as well, the points
        # of a renewal that keeps its key and more.
        self.config(w, "ecdsa-p384")

    def check(self, w, gen, rc):
        problems = [] if rc == 0 else ["kiln boot after the crash exits %d" % rc]
        problems += w.nginx_test()
        d = w.path(self.site)
        full = pem_certs(d + "fullchain.pem")
        if not full:
            return problems + ["fullchain.pem is gone"]
        if pem_certs(d + "cert.pem") != full[:1] or pem_certs(d + "chain.pem") != full[1:]:
            problems.append("cert.pem and chain.pem are not fullchain.pem's parts")
        rc, out = run(["openssl", "verify", "-CAfile", os.path.join(T, "pebble-root.pem"),
                       "-untrusted", d + "chain.pem", d + "fullchain.pem"])
        if rc != 0:
            problems.append("fullchain.pem does not verify to Pebble's root: " + out.strip()[:200])
        if not key_matches(d + "privkey.pem", d + "fullchain.pem"):
            problems.append("privkey.pem is not the key of fullchain.pem")
        served = w.served_cert_der("demo.test")
        if served is None:
            problems.append("nginx serves no certificate for demo.test")
        elif served != ssl.PEM_cert_to_DER_cert(full[0]):
            problems.append("nginx serves %s, not fullchain.pem's" %
                            ("the certificate before" if served == self.first else "another certificate"))
        return problems


# --- metrics: put-metric, then the daemon pushing the spool ---

class Metrics:
    """Three datums wait in the spool; `kiln put-metric` adds a fourth, then
    `kiln daemon` pushes them to the fake CloudWatch. Points 1..k are
    put-metric's, the rest the daemon's. After the crash, a daemon runs
    until the spool is empty. Every datum must arrive once; the put-metric
    that was killed may have queued its datum or not (its caller saw it
    fail); a datum that arrives twice is fine only when the crash came
    after CloudWatch had it and while it was still spooled: no client of a
    service without idempotency tokens can know. Each run has a root and a
    namespace of its own, so runs go side by side: the daemon sleeps a
    second before its first push."""
    name = "metrics"
    queued = (("CrashA", 1), ("CrashB", 2), ("CrashC", 3))
    put = ("CrashD", 4)

    def setup(self, w):
        w.restore(w.pristine)
        self.write_config(w.root, "Setup")
        open(USER_DATA, "w").close()
        rc, out = w.kiln("boot")
        if rc != 0:
            bail("boot before the metrics scenario failed: " + out)
        for name, value in self.queued:
            rc, out = w.kiln("put-metric", name, str(value), "--unit", "Count")
            if rc != 0:
                bail("put-metric failed: " + out)
        self.base = os.path.join(T, "s0-metrics")
        copy_tree(w.root, self.base)

    def write_config(self, root, ns):
        os.makedirs(os.path.join(root, "etc/kiln"), exist_ok=True)
        with open(os.path.join(root, "etc/kiln/kiln.yaml"), "w") as f:
            f.write("metrics:\n  namespace: %s\n  interval: 1\n  timeout: 2\n  endpoint: %s\n  collect: []\n"
                    % (ns, CW))

    def samples(self, ns):
        with urllib.request.urlopen("%s/_fake/datapoints?namespace=%s" % (CW, ns), timeout=5) as r:
            points = json.load(r)
        out = {}
        for p in points:
            values = [p["value"]] if p["value"] is not None else p["values"]
            counts = p.get("counts") or [1] * len(values)
            for v, c in zip(values, counts):
                out.setdefault(p["metric_name"], []).extend([v] * int(c))
        return out

    def spool_files(self, root):
        out = []
        for dirpath, dirs, files in os.walk(os.path.join(root, "var/lib/kiln/metrics")):
            out += [os.path.join(dirpath, f) for f in files]
        return out

    def spooled(self, root, name):
        for path in self.spool_files(root):
            try:
                with open(path, "rb") as f:
                    if name.encode() in f.read():
                        return True
            except OSError:
                pass
        return False

    def daemon(self, root, ns, want, env=None, crash=False):
        """Runs the daemon until it dies, or until the fake has want and the
        spool is empty; returns its exit status (None: stopped by us)."""
        argv = [KILN, "--root", root, "daemon"]
        with open(os.path.join(root, "..", "daemon.log"), "ab") as log:
            p = subprocess.Popen([RUNNER] + argv if crash else argv, env=env, stdout=log, stderr=log)
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                return p.wait(timeout=0.1)
            except subprocess.TimeoutExpired:
                pass
            got = self.samples(ns)
            if all(len(got.get(n, [])) >= 1 for n in want) and not self.spool_files(root):
                time.sleep(0.3)  # what comes after the last push: counters in status.json
                break
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        return None

    def one(self, n, trace):
        """Point n (0: none) of a run from the state before: (point, problems),
        problems None when n was not reached."""
        root = os.path.join(T, "m%d" % n, "root")
        shutil.rmtree(os.path.dirname(root), ignore_errors=True)
        os.makedirs(os.path.dirname(root))
        copy_tree(self.base, root)
        ns = "Crash" + gen_name(n)
        self.write_config(root, ns)
        names = [q[0] for q in self.queued] + [self.put[0]]
        k = self.put_count if n > 0 else 0
        env = dict(E)
        env.update(CRASH_RUN_PRELOAD=PRELOAD, KILN_CRASH_TRACE=trace, KILN_CRASH_STRIP=root,
                   KILN_CRASH_AT=str(n if n <= k else 0))
        put_argv = [KILN, "--root", root, "put-metric", self.put[0], str(self.put[1]), "--unit", "Count"]
        if n == 0 or n <= k:
            rc = subprocess.run([RUNNER] + put_argv, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL).returncode
        else:
            rc = subprocess.run(put_argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        put_killed = rc == KILLED
        if n == 0:
            self.put_count = len(read_trace(trace))
        elif n <= k and not put_killed:
            return "%d (exit %d)" % (n, rc), None
        if n == 0 or n > k:
            env["KILN_CRASH_AT"] = str(n - k if n > k else 0)
            rc = self.daemon(root, ns, names, env=env, crash=True)
            if n > k and rc != KILLED:
                return "%d (not killed)" % n, None
        where = read_trace(trace)
        point = where[-1] if where else "%d ?" % n
        if n > k:
            point = "%d, the daemon's %s" % (n, point)
        if n == 0:
            return point, self.verdict(root, ns, {}, False)
        before = self.samples(ns)
        in_spool = {name: self.spooled(root, name) for name in names}
        self.daemon(root, ns, [q[0] for q in self.queued] + ([] if put_killed else [self.put[0]]))
        problems = self.verdict(root, ns, before, put_killed, in_spool)
        if not problems:
            shutil.rmtree(os.path.dirname(root), ignore_errors=True)
        return point, problems

    def verdict(self, root, ns, before, put_killed, in_spool=None):
        problems = []
        got = self.samples(ns)
        for name, value in self.queued + (self.put,):
            have = got.get(name, [])
            if any(v != value for v in have):
                problems.append("%s arrived with values %r" % (name, have))
            if len(have) == 1 or (len(have) == 0 and put_killed and name == self.put[0]):
                continue
            if len(have) == 2 and before.get(name) and in_spool and in_spool.get(name):
                self.resent.append(name)
                continue
            problems.append("%s arrived %d times" % (name, len(have)))
        for path in self.spool_files(root):
            problems.append("left in the spool: %s" % path[len(root):])
        for dirpath, dirs, files in os.walk(root):
            problems += ["left behind: %s" % os.path.join(dirpath, f)[len(root):] for f in files
                         if ".kiln-" in f and "/var/lib/kiln/metrics" not in dirpath]
        return problems

    def run(self, workers):
        self.resent = []
        self.setup(workers[0])
        trace = os.path.join(T, "metrics.trace")
        point, problems = self.one(0, trace)
        total = len(read_trace(trace))
        ok(not problems and total > 0,
           "%s: the uncrashed run reaches %d crash points (%d in put-metric) and is consistent"
           % (self.name, total, self.put_count))
        if problems or not total:
            diag("\n".join(problems))
            return 0, 0, 0
        started = time.time()
        with ThreadPoolExecutor(max_workers=METRICS_JOBS) as pool:
            futures = {n: pool.submit(self.one, n, os.path.join(T, "metrics.%d.trace" % n))
                       for n in range(1, total + 1)}
            results = {}
            for n, f in futures.items():
                try:
                    results[n] = f.result()
                except Exception as e:  # the harness's, reported as this point's failure
                    results[n] = ("%d (harness error)" % n, ["harness: %s: %s" % (type(e).__name__, e)])
        diag("%s: %d datum(s) sent again after a crash between CloudWatch's answer and their removal from the "
             "spool (allowed: at least once)" % (self.name, len(self.resent)))
        return report(self.name, total, results, started)


def main():
    diag("crash points: writes to regular files (write, pwrite, writev), rename*, link*, symlink*, unlink*, "
         "rmdir, fsync, fdatasync, syncfs, ftruncate, truncate, chmod/chown and their f*/at forms, kill and "
         "pidfd_send_signal (not signal 0): kiln is killed just before the call")
    scenarios = [s for s in (Boot(), NginxApply(), Renew(), Metrics()) if s.name in ONLY]
    workers = start_workers(WORKERS)
    totals = [0, 0, 0]
    try:
        for s in scenarios:
            r = s.run(workers) if hasattr(s, "run") else run_scenario(s, workers)
            totals = [a + b for a, b in zip(totals, r)]
    finally:
        stop_workers(workers)
    diag("crash points: %d reached, %d exercised; inconsistencies: %d" % tuple(totals))
    print("1..%d" % tap_n)
    return 1 if tap_failed else 0


if __name__ == "__main__":
    sys.exit(main())
