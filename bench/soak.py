"""Traffic generator and bookkeeping for bench/soak (run by it with .venv/bin/python).

  soak.py traffic --dicom-port P --hl7-port H --seconds S --assocs A --mllp M --study DIR --out DIR
      A DICOM senders and M MLLP senders for S seconds, each choosing per round between valid
      traffic and one kind of hostile traffic. Every acknowledgement is appended to a file under
      --out as it arrives (acked-dicom-*.txt: SOP Instance UIDs answered Success; aa-hl7-*.txt:
      MSH-10 control ids answered MSA|AA), the counters go to stats-*.json at the end.
  soak.py summary --out DIR --data-dir DIR --status FILE [...]
      Compares what was acknowledged with what the stopped node has on disk and in its index,
      prints the summary and exits 1 when anything acknowledged is missing or the node died.

Valid DICOM rounds use pynetdicom (exact per-instance statuses; each pass over the study gets a
fresh Study/Series UID and every instance a fresh SOP Instance UID) and, now and then, dcmtk
storescu with the study's original files (`-v` output parsed per file; resends of the same
UIDs, so they are counted as unique SOP UIDs). Hostile traffic is written on raw sockets.

A few pynetdicom C-STOREs in ~10,000 get no response under this load and the SCU aborts after its
60 s DIMSE timeout; the same happens against dcmtk storescp, so it is the client's, not the node's
(the summary counts them and a watchdog notes both sockets' queues via `ss`).
"""

import argparse
import collections
import glob
import json
import logging
import multiprocessing
import os
import random
import re
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid

PET = "1.2.840.10008.5.1.4.1.1.128"
CT = "1.2.840.10008.5.1.4.1.1.2"
EXPLICIT = "1.2.840.10008.1.2.1"
CALLED = "PETGROUND"
IMPL_CLASS = "1.2.826.0.1.3680043.9.7433.1.1"
HOLD_CAP = 45.0  # a hostile connection is held at most this long (node timeouts are 30 s)


def new_uid():
    return "2.25.%d" % uuid.uuid4().int


class Recorder:
    """Per-process counters, latencies and the append-only acknowledgement files."""

    def __init__(self, out, name):
        self.lock = threading.Lock()
        self.counts = collections.Counter()
        self.lat = collections.defaultdict(list)
        self.notes = []
        self.name = name
        self.out = out
        self.files = {}

    def count(self, key, n=1):
        with self.lock:
            self.counts[key] += n

    def latency(self, key, seconds):
        with self.lock:
            self.lat[key].append(seconds)

    def note(self, text):
        with self.lock:
            if len(self.notes) < 200:
                self.notes.append(text)

    def ack(self, kind, value, origin):
        # One line per acknowledgement, flushed at once: a crash of this process loses nothing.
        with self.lock:
            f = self.files.get(kind)
            if f is None:
                f = open(os.path.join(self.out, "%s-%s.txt" % (kind, self.name)), "a", buffering=1)
                self.files[kind] = f
            f.write("%s %s\n" % (value, origin))

    def save(self):
        with self.lock:
            for f in self.files.values():
                f.close()
            with open(os.path.join(self.out, "stats-%s.json" % self.name), "w") as f:
                json.dump({"counts": self.counts, "lat": self.lat, "notes": self.notes}, f)


def pick(weights):
    r = random.uniform(0, sum(w for _, w in weights))
    for k, w in weights:
        r -= w
        if r <= 0:
            return k
    return weights[-1][0]


def connect(port, timeout=10):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def drain(sock, cap, keep=64):
    """Read until the peer closes or `cap` seconds pass. Returns (how, seconds, first bytes)."""
    t0 = time.monotonic()
    first = b""
    while True:
        left = cap - (time.monotonic() - t0)
        if left <= 0:
            return "open", time.monotonic() - t0, first
        sock.settimeout(min(left, 1.0))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return "reset", time.monotonic() - t0, first
        if not data:
            return "closed", time.monotonic() - t0, first
        if len(first) < keep:
            first += data[: keep - len(first)]


# --- DICOM upper layer, raw ------------------------------------------------------------------


def ul_item(t, data):
    return struct.pack(">BBH", t, 0, len(data)) + data


def assoc_rq(calling="SOAKRAW", sop_class=CT):
    var = ul_item(0x10, b"1.2.840.10008.3.1.1.1")
    sub = ul_item(0x30, sop_class.encode()) + ul_item(0x40, EXPLICIT.encode())
    var += struct.pack(">BBH", 0x20, 0, 4 + len(sub)) + bytes([1, 0, 0, 0]) + sub
    ui = struct.pack(">BBHI", 0x51, 0, 4, 65536) + ul_item(0x52, IMPL_CLASS.encode())
    var += ul_item(0x50, ui)
    body = (struct.pack(">HH", 1, 0) + CALLED.encode().ljust(16) + calling.encode().ljust(16)
            + bytes(32) + var)
    return struct.pack(">BBI", 1, 0, len(body)) + body


def recv_exact(sock, n, deadline):
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        sock.settimeout(left)
        data = sock.recv(n - len(buf))
        if not data:
            raise EOFError()
        buf += data
    return buf


def read_pdu(sock, timeout):
    """(type, body), or ('eof'|'timeout'|'reset', None)."""
    deadline = time.monotonic() + timeout
    try:
        head = recv_exact(sock, 6, deadline)
        t, _, n = struct.unpack(">BBI", head)
        if n > 1 << 24:
            return "huge", None
        return t, recv_exact(sock, n, deadline)
    except EOFError:
        return "eof", None
    except socket.timeout:
        return "timeout", None
    except OSError:
        return "reset", None


def pdata(pcid, payload, command, last):
    ctrl = (1 if command else 0) | (2 if last else 0)
    pdv = struct.pack(">I", 2 + len(payload)) + bytes([pcid, ctrl]) + payload
    return struct.pack(">BBI", 4, 0, len(pdv)) + pdv


def elem_implicit(g, e, v):
    if len(v) % 2:
        v += b"\0"
    return struct.pack("<HHI", g, e, len(v)) + v


def cstore_rq(msg_id, sop_class, sop_uid):
    body = (elem_implicit(0, 0x0002, sop_class.encode())
            + elem_implicit(0, 0x0100, struct.pack("<H", 1))
            + elem_implicit(0, 0x0110, struct.pack("<H", msg_id))
            + elem_implicit(0, 0x0700, struct.pack("<H", 0))
            + elem_implicit(0, 0x0800, struct.pack("<H", 0))
            + elem_implicit(0, 0x1000, sop_uid.encode()))
    return elem_implicit(0, 0, struct.pack("<I", len(body))) + body


def elem_explicit(g, e, vr, v):
    if len(v) % 2:
        v += b"\0" if vr == "UI" else b" "
    if vr in ("OB", "OW", "UT", "UN", "SQ"):
        return struct.pack("<HH", g, e) + vr.encode() + b"\0\0" + struct.pack("<I", len(v)) + v
    return struct.pack("<HH", g, e) + vr.encode() + struct.pack("<H", len(v)) + v


def dataset_head(sop_uid, study, series):
    return (elem_explicit(0x0008, 0x0016, "UI", CT.encode())
            + elem_explicit(0x0008, 0x0018, "UI", sop_uid.encode())
            + elem_explicit(0x0008, 0x0060, "CS", b"CT")
            + elem_explicit(0x0010, 0x0020, "LO", b"SOAK-HOSTILE")
            + elem_explicit(0x0020, 0x000D, "UI", study.encode())
            + elem_explicit(0x0020, 0x000E, "UI", series.encode()))


def parse_status(cmd):
    i = 0
    while i + 8 <= len(cmd):
        g, e, n = struct.unpack("<HHI", cmd[i:i + 8])
        if (g, e) == (0, 0x0900) and n == 2:
            return struct.unpack("<H", cmd[i + 8:i + 10])[0]
        i += 8 + n
    return None


def read_store_response(sock, timeout):
    """'status-XXXX', or what ended the wait: 'abort', 'eof', 'timeout', 'reset', 'pdu-N'."""
    cmd = b""
    deadline = time.monotonic() + timeout
    while True:
        t, body = read_pdu(sock, max(0.1, deadline - time.monotonic()))
        if t == 7:
            return "abort"
        if t != 4:
            return t if isinstance(t, str) else "pdu-%d" % t
        i = 0
        while i + 6 <= len(body):
            n = struct.unpack(">I", body[i:i + 4])[0]
            ctrl = body[i + 5]
            if ctrl & 1:
                cmd += body[i + 6:i + 4 + n]
                if ctrl & 2:
                    st = parse_status(cmd)
                    return "status-%04X" % st if st is not None else "status-none"
            i += 4 + n


def raw_associate(sock, rec, kind):
    sock.sendall(assoc_rq())
    t, body = read_pdu(sock, 35)
    if t != 2:
        rec.count("dicom.hostile.%s.not-associated-%s" % (kind, t))
        return False
    # The presentation context result: item 0x21, byte 2 of its body.
    i = 68
    while i + 4 <= len(body):
        it, n = body[i], struct.unpack(">H", body[i + 2:i + 4])[0]
        if it == 0x21 and body[i + 6] == 0:
            return True
        i += 4 + n
    rec.count("dicom.hostile.%s.context-refused" % kind)
    return False


def release(sock):
    try:
        sock.sendall(struct.pack(">BBI", 5, 0, 4) + bytes(4))
        read_pdu(sock, 5)
    except OSError:
        pass


class HostileDicom:
    KINDS = [("random_bytes", 5), ("rq_then_silence", 2), ("never_send", 2), ("pdata_first", 4),
             ("truncated_pdu", 4), ("huge_length", 4), ("half_closed", 4)]

    def __init__(self, port, rec, deadline):
        self.port, self.rec, self.deadline = port, rec, deadline

    def cap(self, want=HOLD_CAP):
        return max(0.5, min(want, self.deadline - time.monotonic()))

    def outcome(self, kind, how, secs, first, cap, peer_closed=False):
        reply = "-" if not first else "pdu%d" % first[0]
        if how == "open" and cap < HOLD_CAP:
            how = "cut-by-soak-end"
        self.rec.count("dicom.hostile.%s.%s.reply-%s" % (kind, how, reply))
        if how in ("closed", "reset"):
            # How long the node took to drop the connection; after our FIN it should be at once.
            self.rec.latency("%s:dicom %s" % ("peer-closed" if peer_closed else "node-closed", kind), secs)
        return how

    def run(self, kind):
        self.rec.count("dicom.hostile.%s" % kind)
        with connect(self.port) as s:
            getattr(self, kind)(s, kind)

    def random_bytes(self, s, kind):
        n = random.randint(1, 70000)
        data = os.urandom(n)
        if random.random() < 0.5:  # looks like a PDU header, claims any length
            data = bytes([random.randint(1, 7), 0]) + os.urandom(4) + data
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        cap = self.cap()
        self.outcome(kind, *drain(s, cap), cap, peer_closed=True)

    def rq_then_silence(self, s, kind):
        s.sendall(assoc_rq())
        t, _ = read_pdu(s, 35)
        cap = self.cap(random.uniform(10, 40))
        how, secs, first = drain(s, cap)
        self.rec.count("dicom.hostile.%s.answer-%s.then-%s" % (kind, t, how))

    def never_send(self, s, kind):
        cap = self.cap()
        how = self.outcome(kind, *drain(s, cap), cap)
        if how == "open":
            self.rec.note("DICOM connection that never sent a byte still open after %.0f s" % cap)

    def pdata_first(self, s, kind):
        uid = new_uid()
        s.sendall(pdata(1, cstore_rq(1, CT, uid), True, True))
        cap = self.cap()
        self.outcome(kind, *drain(s, cap), cap)

    def truncated_pdu(self, s, kind):
        variant = random.choice(["rq_cut_close", "rq_cut_hold", "header_only", "pdata_cut_close"])
        kind = "%s.%s" % (kind, variant)
        rq = assoc_rq()
        if variant == "rq_cut_close":
            s.sendall(rq[: random.randint(7, len(rq) - 1)])
            s.shutdown(socket.SHUT_WR)
        elif variant == "rq_cut_hold":
            s.sendall(rq[: random.randint(7, len(rq) - 1)])
        elif variant == "header_only":
            s.sendall(rq[: random.randint(1, 5)])
            s.shutdown(socket.SHUT_WR)
        else:
            if not raw_associate(s, self.rec, kind):
                return
            s.sendall(struct.pack(">BBI", 4, 0, 65536) + os.urandom(200))
            s.shutdown(socket.SHUT_WR)
        cap = self.cap()
        how = self.outcome(kind, *drain(s, cap), cap, peer_closed=variant != "rq_cut_hold")
        if variant == "rq_cut_hold" and how == "open":
            self.rec.note("truncated A-ASSOCIATE-RQ connection still open after %.0f s" % cap)

    def huge_length(self, s, kind):
        if not raw_associate(s, self.rec, kind):
            return
        uid = new_uid()
        ds = dataset_head(uid, new_uid(), new_uid())
        if random.random() < 0.5:
            ds += struct.pack("<HH", 0x7FE0, 0x0010) + b"OB\0\0" + struct.pack("<I", 0xFFFFFFF0)
        else:
            ds += struct.pack("<HH", 0x0040, 0xA160) + b"UT\0\0" + struct.pack("<I", 0x7FFFFFFE)
        ds += os.urandom(random.choice([0, 16, 4096]))
        s.sendall(pdata(1, cstore_rq(1, CT, uid), True, True) + pdata(1, ds, False, True))
        answer = read_store_response(s, 35)
        self.rec.count("dicom.hostile.%s.%s" % (kind, answer))
        if answer == "status-0000":
            self.rec.ack("acked-dicom", uid, "hostile-huge-length")
            self.rec.note("huge-length data set answered Success: %s" % uid)
        release(s)

    def half_closed(self, s, kind):
        if random.random() < 0.3:
            s.sendall(assoc_rq())
            s.shutdown(socket.SHUT_WR)
            cap = self.cap()
            self.outcome(kind + ".after_rq", *drain(s, cap), cap, peer_closed=True)
            return
        if not raw_associate(s, self.rec, kind):
            return
        uid = new_uid()
        ds = dataset_head(uid, new_uid(), new_uid())
        s.sendall(pdata(1, cstore_rq(1, CT, uid), True, True) + pdata(1, ds, False, False))
        s.shutdown(socket.SHUT_WR)
        t0 = time.monotonic()
        answer = read_store_response(s, self.cap())
        self.rec.count("dicom.hostile.%s.mid_dataset.%s" % (kind, answer))
        if answer in ("eof", "reset", "abort"):
            self.rec.latency("peer-closed:dicom %s.mid_dataset" % kind, time.monotonic() - t0)
        if answer == "status-0000":
            self.rec.ack("acked-dicom", uid, "hostile-half-closed")
            self.rec.note("half-closed partial data set answered Success: %s" % uid)


# --- DICOM valid senders ---------------------------------------------------------------------


class Watchdog:
    """Looks at a C-STORE still unanswered after 15 s: `ss` shows both ends' socket queues
    (Recv-Q on our side: the answer arrived and the SCU did not read it; Send-Q on the node's
    side: the node wrote it and it did not leave). Recorded as notes."""

    def __init__(self, rec):
        self.rec = rec
        self.lock = threading.Lock()
        self.pending = {}  # thread id -> [t0, local port, sop uid, probed]
        threading.Thread(target=self.loop, daemon=True).start()

    def start(self, port, uid):
        with self.lock:
            self.pending[threading.get_ident()] = [time.monotonic(), port, uid, False]

    def done(self):
        with self.lock:
            self.pending.pop(threading.get_ident(), None)

    def loop(self):
        while True:
            time.sleep(2)
            with self.lock:
                late = [p for p in self.pending.values() if not p[3] and time.monotonic() - p[0] > 15]
                for p in late:
                    p[3] = True
            for t0, port, uid, _ in late:
                try:
                    out = subprocess.run(["ss", "-tn", "( sport = :%d or dport = :%d )" % (port, port)],
                                         capture_output=True, text=True, timeout=10).stdout
                except Exception as e:
                    out = "ss failed: %s" % e
                lines = " | ".join(" ".join(l.split()) for l in out.splitlines()[1:])
                self.rec.note("C-STORE %s unanswered after %.0f s, local port %s; ss: %s"
                              % (uid, time.monotonic() - t0, port, lines or "no socket"))


class ValidDicom:
    watchdog = None

    def __init__(self, idx, port, rec, study_files):
        import pydicom  # noqa: F401 (only the DICOM processes need it)
        from pynetdicom import AE

        self.idx, self.port, self.rec = idx, port, rec
        self.files = study_files
        self.ds = [pydicom.dcmread(f) for f in study_files]
        self.pos = len(self.ds)
        self.ae = AE(ae_title="SOAK%03d" % idx)
        self.ae.add_requested_context(PET, EXPLICIT)
        self.ae.add_requested_context(CT, EXPLICIT)
        self.ae.acse_timeout = 30
        self.ae.dimse_timeout = 60
        self.ae.network_timeout = 60

    def next_chunk(self, n):
        if self.pos >= len(self.ds):  # a new pass: a new study with new series
            self.pos = 0
            study = new_uid()
            series = {}
            for ds in self.ds:
                ds.StudyInstanceUID = study
                ds.SeriesInstanceUID = series.setdefault(ds.Modality, new_uid())
        chunk = self.ds[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def pynetdicom_round(self):
        rec = self.rec
        rec.count("dicom.valid.associations")
        assoc = self.ae.associate("127.0.0.1", self.port, ae_title=CALLED)
        try:
            lport = assoc.dul.socket.socket.getsockname()[1]
        except Exception:
            lport = 0
        if not assoc.is_established:
            rec.count("dicom.valid.association-%s" % (
                "rejected" if assoc.is_rejected else "aborted" if assoc.is_aborted else "failed"))
            return
        try:
            for ds in self.next_chunk(random.randint(3, 8)):
                uid = new_uid()
                ds.SOPInstanceUID = uid
                ds.file_meta.MediaStorageSOPInstanceUID = uid
                t0 = time.monotonic()
                rec.count("dicom.valid.sent")
                self.watchdog.start(lport, uid)
                try:
                    status = assoc.send_c_store(ds)
                finally:
                    self.watchdog.done()
                if status is None or "Status" not in status:
                    rec.count("dicom.valid.no-response")
                    rec.ack("unanswered-dicom", uid, "%.1fs" % (time.monotonic() - t0))
                    break
                code = int(status.Status)
                rec.count("dicom.valid.status-%04X" % code)
                if code == 0:
                    rec.latency("c-store", time.monotonic() - t0)
                    rec.ack("acked-dicom", uid, "pynetdicom")
                if not assoc.is_established:
                    break
        finally:
            if assoc.is_established:
                assoc.release()
            else:
                rec.count("dicom.valid.association-lost")

    def storescu_round(self):
        rec = self.rec
        rec.count("dicom.storescu.runs")
        start = random.randrange(len(self.files))
        paths = self.files[start:start + random.randint(3, 8)]
        try:
            p = subprocess.run(["/usr/bin/storescu", "-v", "-aec", CALLED, "-aet", "SOAKSCU%02d" % (self.idx % 100),
                                "-ta", "30", "-td", "60", "127.0.0.1", str(self.port)] + paths,
                               capture_output=True, text=True, timeout=120)
            out = p.stdout + p.stderr
        except subprocess.TimeoutExpired:
            rec.count("dicom.storescu.timeout")
            return
        current = None
        for line in out.splitlines():
            m = re.search(r"Sending file: (.*)$", line)
            if m:
                current = m.group(1).strip()
                rec.count("dicom.storescu.sent")
                continue
            m = re.search(r"Received Store Response \((.*)\)", line)
            if m and current is not None:
                what = m.group(1)
                rec.count("dicom.storescu.response-%s" % what.split(":")[0].strip().replace(" ", "_"))
                if what == "Success":
                    rec.ack("acked-dicom", self.uid_of[current], "storescu")
                current = None
        if "Association Rejected" in out:
            rec.count("dicom.storescu.association-rejected")

    uid_of = {}


class HostileLane:
    """A sender's hostile connections: at most one at a time, in its own thread, each followed by
    a pause of 0-4 s, so that the sender's valid traffic never waits for a held connection."""

    def __init__(self, rec, prefix, deadline):
        self.rec, self.prefix, self.deadline = rec, prefix, deadline
        self.thread = None

    def maybe_start(self, share, fn, kinds):
        if self.thread is not None and self.thread.is_alive():
            return
        if random.random() >= share:
            return
        kind = pick(kinds)

        def run():
            try:
                fn(kind)
            except Exception as e:
                self.rec.count("%s.hostile.error-%s" % (self.prefix, type(e).__name__))
            time.sleep(max(0.0, min(random.uniform(0, 4), self.deadline - time.monotonic())))

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def join(self):
        if self.thread is not None:
            self.thread.join(HOLD_CAP + 60)


WATCHDOG_LOCK = threading.Lock()


def dicom_worker(idx, port, rec, study_files, deadline, hostile_share):
    from pydicom import dcmread

    with WATCHDOG_LOCK:
        if ValidDicom.watchdog is None:
            ValidDicom.watchdog = Watchdog(rec)
    if not ValidDicom.uid_of:
        ValidDicom.uid_of = {f: str(dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in study_files}
    valid = ValidDicom(idx, port, rec, study_files)
    hostile = HostileDicom(port, rec, deadline)
    lane = HostileLane(rec, "dicom", deadline)
    while time.monotonic() < deadline:
        lane.maybe_start(hostile_share, hostile.run, HostileDicom.KINDS)
        what = "storescu" if random.random() < 0.08 else "valid"
        try:
            if what == "valid":
                valid.pynetdicom_round()
            else:
                valid.storescu_round()
        except Exception as e:  # a refused connection or similar; the round is counted as an error
            rec.count("dicom.%s.error-%s" % (what, type(e).__name__))
            time.sleep(0.2)
    lane.join()


# --- HL7 -------------------------------------------------------------------------------------

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"


def oru(control_id, accession, pid, obx_lines):
    segs = [
        "MSH|^~\\&|SOAKRIS|HOSP|PETGROUND|NM|%s||ORU^R01^ORU_R01|%s|P|2.5"
        % (time.strftime("%Y%m%d%H%M%S"), control_id),
        "PID|1||%s^^^HOSP^MR||SOAK^PATIENT||19600101|F" % pid,
        "ORC|RE||%s" % accession,
        "OBR|1||%s|PETCT^PET/CT WHOLE BODY|||20260127083000|||||||||||%s|||||||F" % (accession, accession),
    ]
    for n, line in enumerate(obx_lines, 1):
        segs.append("OBX|%d|TX|59776-5^Findings^LN||%s||||||F" % (n, line))
    return ("\r".join(segs) + "\r").encode()


FINDINGS = ["Right hilar lymph node, SUVmax 7.2, image 145.",
            "Left axillary node, SUVmax 4.1, image 88.",
            "Liver segment VII lesion with SUVmax 9.3 on image 160.",
            "No other abnormal uptake."]


class Mllp:
    def __init__(self, port, timeout=35):
        self.sock = connect(port)
        self.buf = b""
        self.timeout = timeout

    def send(self, payload):
        self.sock.sendall(SB + payload + EB + CR)

    def read_ack(self):
        """The next framed answer as text, or None when the node closed or went silent."""
        deadline = time.monotonic() + self.timeout
        while True:
            end = self.buf.find(EB + CR)
            if end >= 0:
                start = self.buf.find(SB)
                frame = self.buf[start + 1 if 0 <= start < end else 0:end]
                self.buf = self.buf[end + 2:]
                return frame.decode("latin-1")
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, OSError):
                return None
            if not data:
                return None
            self.buf += data

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def msa(ack):
    for seg in re.split(r"[\r\n]+", ack or ""):
        if seg.startswith("MSA|"):
            f = seg.split("|")
            return (f[1] if len(f) > 1 else ""), (f[2] if len(f) > 2 else "")
    return None, None


class Hl7Worker:
    KINDS = [("garbage", 5), ("slowloris", 2), ("idle", 2), ("no_final_cr", 4), ("oversize", 1),
             ("obx_30000", 1)]
    OBX_30000 = "".join("\rOBX|%d|TX|59776-5^Findings^LN||%s||||||F"
                        % (n + 1, FINDINGS[0] if n == 123 else "Line %d: no abnormal uptake." % n)
                        for n in range(30000))

    def __init__(self, idx, port, rec, deadline, run_id, max_bytes):
        self.idx, self.port, self.rec, self.deadline = idx, port, rec, deadline
        self.run_id, self.max_bytes = run_id, max_bytes
        self.n = 0
        self.conn = None
        self.sent_on_conn = 0

    def control_id(self):
        self.n += 1
        return "SK%s-%d-%d" % (self.run_id, self.idx, self.n)

    def message(self, lines=None):
        cid = self.control_id()
        acc = "SKA%s%d%d" % (self.run_id, self.idx, self.n)
        return cid, oru(cid, acc, "SOAK%d" % self.idx, lines or random.sample(FINDINGS, 2))

    def cap(self, want=HOLD_CAP):
        return max(0.5, min(want, self.deadline - time.monotonic()))

    def check(self, cid, ack, origin, t0=None):
        code, echoed = msa(ack)
        rec = self.rec
        if code is None:
            rec.count("hl7.%s.no-ack" % origin)
            return None
        rec.count("hl7.%s.ack-%s" % (origin, code))
        if echoed != cid:
            rec.count("hl7.%s.ack-wrong-control-id" % origin)
            rec.note("ACK for %s names MSA-2 %r" % (cid, echoed))
            return code
        if code == "AA":
            rec.ack("aa-hl7", cid, origin)
            if t0 is not None:
                rec.latency("hl7-aa", time.monotonic() - t0)
        return code

    def valid_round(self):
        rec = self.rec
        if self.conn is None or self.sent_on_conn > random.randint(10, 40):
            if self.conn:
                self.conn.close()
            self.conn = Mllp(self.port)
            self.sent_on_conn = 0
            rec.count("hl7.valid.connections")
        k = 1 if random.random() < 0.7 else random.randint(2, 8)  # sometimes pipelined
        batch = [self.message() for _ in range(k)]
        t0 = time.monotonic()
        try:
            for _, payload in batch:
                self.conn.send(payload)
        except OSError:
            rec.count("hl7.valid.send-failed", k)
            self.conn.close()
            self.conn = None
            return
        rec.count("hl7.valid.sent", k)
        self.sent_on_conn += k
        for i, (cid, _) in enumerate(batch):
            ack = self.conn.read_ack()
            if ack is None:
                rec.count("hl7.valid.no-ack", k - i)
                self.conn.close()
                self.conn = None
                return
            self.check(cid, ack, "valid", t0)

    def hostile_round(self, kind):
        rec = self.rec
        rec.count("hl7.hostile.%s" % kind)
        c = Mllp(self.port)
        try:
            getattr(self, kind)(c, kind)
        finally:
            c.close()

    def ended(self, kind, how, secs, first, cap):
        if how == "open" and cap < HOLD_CAP:
            how = "cut-by-soak-end"
        self.rec.count("hl7.hostile.%s.%s.%s" % (kind, how, "answered" if first else "silent"))
        if how in ("closed", "reset"):
            self.rec.latency("peer-closed:hl7 %s" % kind, secs)
        return how, secs

    def garbage(self, c, kind):
        data = os.urandom(random.randint(1, 20000))
        if random.random() < 0.5:
            data = SB + data.replace(EB, b"") + EB + CR  # framed garbage
            kind += ".framed"
        try:
            c.sock.sendall(data)
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        cap = self.cap()
        self.ended(kind, *drain(c.sock, cap), cap)

    def slowloris(self, c, kind):
        _, payload = self.message()
        data = SB + payload
        t0 = time.monotonic()
        cap = self.cap()
        i = 0
        try:
            while time.monotonic() - t0 < cap and i < len(data):
                c.sock.sendall(data[i:i + 1])
                i += 1
                c.sock.settimeout(2.0)
                try:
                    if c.sock.recv(4096) == b"":
                        break
                except socket.timeout:
                    pass
        except OSError:
            pass
        secs = time.monotonic() - t0
        closed = secs < cap
        if not closed and cap >= HOLD_CAP:
            rec_note = "slowloris MLLP connection still open after %.0f s (%d bytes sent)" % (secs, i)
            self.rec.note(rec_note)
        self.rec.count("hl7.hostile.%s.%s" % (kind, "closed-by-node" if closed else
                                               ("open" if cap >= HOLD_CAP else "cut-by-soak-end")))
        if closed:
            self.rec.latency("slowloris-closed-after", secs)

    def idle(self, c, kind):
        cap = self.cap(random.uniform(10, 40))
        how, secs, first = drain(c.sock, cap)
        self.rec.count("hl7.hostile.%s.%s" % (kind, "held" if how == "open" else "closed-by-node"))

    def no_final_cr(self, c, kind):
        cid, payload = self.message()
        c.sock.sendall(SB + payload + EB)
        c.sock.shutdown(socket.SHUT_WR)
        cap = self.cap(35)
        how, secs, answer = drain(c.sock, cap, keep=1 << 16)
        if answer:
            # An answer came: read it like an ACK (an AA must then be stored like any other).
            self.check(cid, answer.decode("latin-1"), "hostile.no_final_cr")
        else:
            if how == "open" and cap < 35:
                how = "cut-by-soak-end"
            self.rec.count("hl7.hostile.no_final_cr.no-answer.%s" % how)

    def oversize(self, c, kind):
        cid, payload = self.message(["X" * (self.max_bytes + 4096)])
        try:
            c.send(payload)
        except OSError:
            self.rec.count("hl7.hostile.oversize.send-failed")
        ack = c.read_ack()
        code = self.check(cid, ack, "hostile.oversize") if ack else None
        if code == "AA":
            self.rec.note("oversize message (%d bytes) answered AA" % len(payload))

    def obx_30000(self, c, kind):
        cid = self.control_id()
        head = oru(cid, "SKA%s%d%d" % (self.run_id, self.idx, self.n), "SOAK%d" % self.idx, [])
        payload = head.rstrip(b"\r") + self.OBX_30000.encode() + b"\r"
        t0 = time.monotonic()
        c.timeout = 120
        c.send(payload)
        ack = c.read_ack()
        if ack is None:
            self.rec.count("hl7.hostile.obx_30000.no-ack")
            return
        self.check(cid, ack, "obx_30000")
        self.rec.latency("obx_30000-ack", time.monotonic() - t0)


def hl7_worker(idx, port, rec, deadline, run_id, max_bytes, hostile_share):
    w = Hl7Worker(idx, port, rec, deadline, run_id, max_bytes)
    lane = HostileLane(rec, "hl7", deadline)
    while time.monotonic() < deadline:
        lane.maybe_start(hostile_share, w.hostile_round, Hl7Worker.KINDS)
        try:
            w.valid_round()
        except Exception as e:
            rec.count("hl7.valid.error-%s" % type(e).__name__)
            if w.conn:
                w.conn.close()
                w.conn = None
            time.sleep(0.2)
    if w.conn:
        w.conn.close()
    lane.join()


def process_main(name, kind, indices, args, deadline):
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    random.seed(os.getpid() ^ int(time.time()))
    rec = Recorder(args.out, name)
    study = sorted(glob.glob(os.path.join(args.study, "**", "*.dcm"), recursive=True))
    threads = []
    for i in indices:
        if kind == "dicom":
            t = threading.Thread(target=dicom_worker,
                                 args=(i, args.dicom_port, rec, study, deadline, args.hostile))
        else:
            t = threading.Thread(target=hl7_worker,
                                 args=(i, args.hl7_port, rec, deadline, args.run_id,
                                       args.hl7_max_bytes, args.hostile))
        t.daemon = True
        t.start()
        threads.append(t)
    for t in threads:
        t.join(max(1.0, deadline - time.monotonic() + 180))
    stuck = sum(t.is_alive() for t in threads)
    if stuck:
        rec.count("%s.workers-stuck-at-end" % kind, stuck)
    rec.save()
    os._exit(0)


def traffic(args):
    deadline = time.monotonic() + args.seconds
    procs = []
    for kind, total, nproc in (("dicom", args.assocs, 4), ("hl7", args.mllp, 2)):
        nproc = min(nproc, total)
        for p in range(nproc):
            indices = list(range(p, total, nproc))
            proc = multiprocessing.get_context("fork").Process(
                target=process_main, args=("%s%d" % (kind, p), kind, indices, args, deadline))
            proc.start()
            procs.append(proc)
    for proc in procs:
        proc.join()


# --- summary ---------------------------------------------------------------------------------


def read_acks(out, kind):
    acks = collections.OrderedDict()
    for path in sorted(glob.glob(os.path.join(out, "%s-*.txt" % kind))):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if parts:
                    acks.setdefault(parts[0], collections.Counter())[parts[1] if len(parts) > 1 else "?"] += 1
    return acks


def pct(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def summary(args):
    counts = collections.Counter()
    lat = collections.defaultdict(list)
    notes = []
    for path in glob.glob(os.path.join(args.out, "stats-*.json")):
        with open(path) as f:
            s = json.load(f)
        counts.update(s["counts"])
        for k, v in s["lat"].items():
            lat[k].extend(v)
        notes.extend(s["notes"])

    dicom_acks = read_acks(args.out, "acked-dicom")
    hl7_acks = read_acks(args.out, "aa-hl7")
    n_success = sum(sum(c.values()) for c in dicom_acks.values())
    n_aa = sum(sum(c.values()) for c in hl7_acks.values())

    stored_files = set()
    n_files = 0
    studies = os.path.join(args.data_dir, "studies")
    for root, _, files in os.walk(studies):
        for name in files:
            if name.endswith(".dcm"):
                n_files += 1
                stored_files.add(re.sub(r"(\.v\d+)?\.dcm$", "", name))
    status = open(args.status).read() if os.path.exists(args.status) else ""
    index_instances = sum(int(m) for m in re.findall(r"^  series \S+ .*?instances=(\d+)", status, re.M))
    stored_reports = set(re.findall(r"^  report \S+ control_id=(\S+)", status, re.M))
    status_ok = status.startswith("studies:")

    lost_inst = [u for u in dicom_acks if u not in stored_files]
    unanswered = read_acks(args.out, "unanswered-dicom")
    lost_rep = [c for c in hl7_acks if c not in stored_reports]
    quarantine = len(glob.glob(os.path.join(args.data_dir, "quarantine", "*.reason.txt")))

    def group(prefix, shown):
        return ", ".join("%s %d" % (k[len(prefix):], v) for k, v in sorted(counts.items())
                         if k.startswith(prefix) and "." not in k[len(prefix):]
                         and k[len(prefix):] != shown) or "-"

    def detail(prefix):
        return sorted((k[len(prefix):], v) for k, v in counts.items() if k.startswith(prefix))

    p = print
    p("== soak summary: %.1f min, %d DICOM senders, %d MLLP senders (max_associations %d, "
      "max_connections %d) ==" % (args.seconds / 60, args.assocs, args.mllp,
                                   args.max_associations, args.max_connections))
    p("DICOM valid (pynetdicom): associations %d; %s" % (
        counts["dicom.valid.associations"], group("dicom.valid.", "associations")))
    p("DICOM valid (dcmtk storescu): runs %d; %s" % (
        counts["dicom.storescu.runs"], group("dicom.storescu.", "runs")))
    p("DICOM hostile:")
    for k, v in detail("dicom.hostile."):
        p("    %-70s %d" % (k, v))
    p("HL7 valid: connections %d; %s" % (counts["hl7.valid.connections"], group("hl7.valid.", "connections")))
    p("HL7 hostile:")
    for k, v in detail("hl7.hostile."):
        p("    %-70s %d" % (k, v))
    for k, v in detail("hl7.obx_30000."):
        p("    %-70s %d" % ("obx_30000 " + k, v))
    p("time until the node dropped a hostile connection (after our FIN / with the node closing):")
    for k in sorted(k for k in lat if k.startswith(("peer-closed:", "node-closed:"))):
        v = lat[k]
        p("    %-70s n %d, median %.1f s, max %.1f s" % (k.replace(":", " ", 1), len(v), pct(v, .5), max(v)))
        if k.startswith("peer-closed:") and max(v) > 5:
            notes.append("node kept a connection open up to %.1f s after the peer had closed it (%s; %d of %d)"
                         % (max(v), k.split(":", 1)[1], sum(x > 5 for x in v), len(v)))
    errors = [(k, v) for k, v in counts.items() if ".error-" in k or "stuck" in k]
    if errors:
        p("sender-side errors: %s" % ", ".join("%s %d" % kv for kv in sorted(errors)))
    p("latency: C-STORE Success p50 %.3f s p99 %.3f s max %.3f s; HL7 AA p50 %.3f s p99 %.3f s max %.3f s"
      % (pct(lat["c-store"], .5), pct(lat["c-store"], .99), max(lat["c-store"] or [float("nan")]),
         pct(lat["hl7-aa"], .5), pct(lat["hl7-aa"], .99), max(lat["hl7-aa"] or [float("nan")])))
    if lat["obx_30000-ack"]:
        p("30000-OBX report ACK time: p50 %.2f s max %.2f s (%d)" % (
            pct(lat["obx_30000-ack"], .5), max(lat["obx_30000-ack"]), len(lat["obx_30000-ack"])))
    if lat["slowloris-closed-after"]:
        p("slowloris connections closed by the node after: min %.1f s max %.1f s" % (
            min(lat["slowloris-closed-after"]), max(lat["slowloris-closed-after"])))
    origins = collections.Counter()
    for c in dicom_acks.values():
        origins.update(c)
    p("instances acknowledged Success: %d (unique SOP Instance UIDs %d; %s)" % (
        n_success, len(dicom_acks), ", ".join("%s %d" % kv for kv in sorted(origins.items())) or "-"))
    if unanswered:
        p("C-STORE requests that got no response (SCU's 60 s DIMSE timeout, or the association "
          "ended): %d, of them stored by the node: %d"
          % (len(unanswered), sum(u in stored_files for u in unanswered)))
    p("instances stored: %d unique SOP UIDs in data_dir/studies (%d files), index %s; quarantined %d"
      % (len(stored_files), n_files, index_instances if status_ok else "unreadable", quarantine))
    origins = collections.Counter()
    for c in hl7_acks.values():
        origins.update(c)
    p("reports acknowledged AA: %d (unique control ids %d; %s)" % (
        n_aa, len(hl7_acks), ", ".join("%s %d" % kv for kv in sorted(origins.items())) or "-"))
    p("reports stored: %s" % (len(stored_reports) if status_ok else "unreadable (petground status failed)"))
    p("lost (acknowledged but not stored): instances %d, reports %d" % (len(lost_inst), len(lost_rep)))
    for u in lost_inst[:10]:
        p("    lost instance %s (%s)" % (u, dict(dicom_acks[u])))
    for c in lost_rep[:10]:
        p("    lost report %s (%s)" % (c, dict(hl7_acks[c])))
    if status_ok and index_instances < len(dicom_acks):
        p("    index holds fewer instances (%d) than unique UIDs acknowledged (%d)" % (
            index_instances, len(dicom_acks)))
    if status_ok and index_instances != len(stored_files):
        notes.append("the index counts %d instances but data_dir/studies holds %d distinct SOP UIDs"
                     % (index_instances, len(stored_files)))
    unanswered_notes = sorted(n for n in set(notes) if n.startswith("C-STORE ") and " unanswered " in n)
    for n in unanswered_notes[:3]:
        p("note: %s" % n)
    if len(unanswered_notes) > 3:
        p("note: ... %d more unanswered C-STOREs like these" % (len(unanswered_notes) - 3))
    for n in sorted(set(notes) - set(unanswered_notes)):
        p("note: %s" % n)
    return 1 if (lost_inst or lost_rep or not status_ok) else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["traffic", "summary"])
    ap.add_argument("--dicom-port", type=int)
    ap.add_argument("--hl7-port", type=int)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--assocs", type=int, default=50)
    ap.add_argument("--mllp", type=int, default=50)
    ap.add_argument("--study")
    ap.add_argument("--out", required=True)
    ap.add_argument("--run-id", default="%x" % (int(time.time()) & 0xFFFFFF))
    ap.add_argument("--hl7-max-bytes", type=int, default=4 << 20)
    ap.add_argument("--hostile", type=float, default=0.3,
                    help="chance per valid round that an idle hostile lane starts a round")
    ap.add_argument("--data-dir")
    ap.add_argument("--status")
    ap.add_argument("--max-associations", type=int, default=0)
    ap.add_argument("--max-connections", type=int, default=0)
    args = ap.parse_args()
    if args.mode == "traffic":
        traffic(args)
        return 0
    return summary(args)


if __name__ == "__main__":
    sys.exit(main())
