#!/usr/bin/python3
"""ring_consumer.py - a Python consumer of a panpipe frame ring: numpy views of shared memory, no copy.

    /usr/bin/python3 ring_consumer.py (--fd N | --name NAME) [--delay-ms 0] [--spins 100] [--liveness-ms 20]

The ring is one block of shared memory (layout: FrameRingDescriptor in zero-copy, samples/c/panpipe_ring.h
in C). This script maps it once (an inherited memfd as --fd, or /dev/shm/panpipe-NAME as --name) and
sees each frame as an ndarray of shape (height, width, channels) whose buffer IS the mapping: built with
np.ndarray(buffer=mapping, offset=slot offset, strides=(stride, channels, 1)), so no byte is copied
(checked for every frame). It sums the bytes and the channels, holds the frame --delay-ms (a slow
consumer), releases it, and after end of stream (the producer closed and every frame was taken) prints

    frames 60 checksum 1234567
    channel-sums 411 412 413
    channel-means 127.4 127.5 127.6
    doorbell sleeps 3 woken 3 timed-out 0 wakes 5

How it waits: as the Java and C ends do, it is a full peer of the futex doorbell. CPython has no atomics
and no futex, so both come through ctypes: acquire loads, release stores and the full fence from
libatomic (__atomic_load_8, __atomic_store_8, atomic_thread_fence: GCC's runtime, package libatomic1),
FUTEX_WAIT/FUTEX_WAKE from libc's syscall(). It spins --spins looks at the producer's position, then
sets its waiting word, looks again and sleeps on the futex, at most --liveness-ms at a time, between
which it checks through a pidfd that the producer lives. Its releases wake a producer sleeping for room.

Exit 0; 1 if the ring failed (message on stderr: a corrupt header or descriptor, a dead producer); 2 usage.
"""
import argparse
import ctypes
import errno
import mmap
import os
import platform
import select
import struct
import sys
import time

import numpy as np

# ---- the layout (FrameRingDescriptor) ----
MAGIC = 0x47525050  # "PPRG"
VERSION = 1
HEADER_LENGTH = 512
DESCRIPTOR_LENGTH = 64
PAGE = 4096
MAX_SLOT_COUNT = 1 << 16
PRODUCER_PID, CONSUMER_PID, PRODUCER_STATE, CONSUMER_STATE = 40, 44, 48, 52
PRODUCER_POSITION, CONSUMER_POSITION = 128, 256
CONSUMER_WAITING, PRODUCER_WAITING = 384, 388
STATE_ATTACHED, STATE_CLOSED = 1, 2
# descriptor: sequence u64, timestamp i64, payload length u64, width, height, stride, format u32
SEQUENCE = 0
DESCRIPTOR_FIELDS = struct.Struct("<qQIIII")  # from offset 8
FORMATS = {0: ("bytes", 1), 1: ("rgb8", 3), 2: ("bgr8", 3), 3: ("rgba8", 4), 4: ("gray8", 1)}

# ---- atomics and the futex, through ctypes ----
SYS_FUTEX = {"x86_64": 202, "aarch64": 98}
FUTEX_WAIT, FUTEX_WAKE = 0, 1  # not FUTEX_PRIVATE: the word is shared between processes
RELAXED, ACQUIRE, RELEASE, SEQ_CST = 0, 2, 3, 5


class RingError(Exception):
    """A ring that cannot be used: names the field or the call, as the Java ProtocolException does."""


def _load_atomics():
    try:
        lib = ctypes.CDLL("libatomic.so.1")
    except OSError as e:
        raise RingError(f"libatomic.so.1 not found ({e}): apt-get install libatomic1") from e
    fns = {}
    for name, restype, argtypes in (
            ("__atomic_load_8", ctypes.c_uint64, [ctypes.c_void_p, ctypes.c_int]),
            ("__atomic_store_8", None, [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int]),
            ("__atomic_load_4", ctypes.c_uint32, [ctypes.c_void_p, ctypes.c_int]),
            ("__atomic_store_4", None, [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int]),
            ("__atomic_compare_exchange_4", ctypes.c_bool,
             [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32), ctypes.c_uint32, ctypes.c_int, ctypes.c_int]),
            ("atomic_thread_fence", None, [ctypes.c_int])):
        fn = getattr(lib, name)  # getattr: a leading __ must not be name-mangled
        fn.restype, fn.argtypes = restype, argtypes
        fns[name] = fn
    return fns


class Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class Consumer:
    """The consumer end of a ring mapped from fd; one frame at a time, like FrameConsumer."""

    def __init__(self, fd, spins, liveness_ns):
        machine = platform.machine()
        if machine not in SYS_FUTEX:
            raise RingError(f"no futex syscall number known for {machine}")
        self.sys_futex = SYS_FUTEX[machine]
        a = _load_atomics()
        self.load8, self.store8 = a["__atomic_load_8"], a["__atomic_store_8"]
        self.load4, self.store4 = a["__atomic_load_4"], a["__atomic_store_4"]
        self.cas4 = a["__atomic_compare_exchange_4"]
        self.fence = a["atomic_thread_fence"]
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long
        self.spins = spins
        self.timeout = Timespec(liveness_ns // 1_000_000_000, liveness_ns % 1_000_000_000)
        self.stats = {"sleeps": 0, "woken": 0, "timed-out": 0, "wakes": 0}
        self.pidfd, self.watched_pid, self.watched_dead = -1, 0, False

        self.mapping = mmap.mmap(fd, 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ | mmap.PROT_WRITE)
        self._anchor = ctypes.c_char.from_buffer(self.mapping)  # pins the mapping while we hold its address
        self.base = ctypes.addressof(self._anchor)
        self._validate()
        self._attach()

    # -- header --

    def _validate(self):
        m = self.mapping
        if len(m) < HEADER_LENGTH:
            raise RingError(f"ring length: shared memory of {len(m)} bytes cannot hold a ring header of {HEADER_LENGTH}")
        magic = self.load4(self.base, ACQUIRE)  # pairs with the creator's release: all fields are written
        if magic != MAGIC:
            raise RingError(f"magic: ring magic 0x{magic:08x}, expected 0x{MAGIC:08x} (\"PPRG\")")
        version, header_length, n, _flags, slot_size, slots_offset, ring_length = struct.unpack_from("<HHIIQQQ", m, 4)
        if version != VERSION:
            raise RingError(f"version: ring version {version} is not supported (this script reads {VERSION})")
        if header_length != HEADER_LENGTH:
            raise RingError(f"header length: {header_length}, expected {HEADER_LENGTH}")
        if not (0 < n <= MAX_SLOT_COUNT and n & (n - 1) == 0):
            raise RingError(f"slot count: {n} is not a power of two in [1, {MAX_SLOT_COUNT}]")
        if slot_size <= 0 or slot_size % PAGE:
            raise RingError(f"slot size: {slot_size} is not a positive multiple of {PAGE}")
        expected_offset = (HEADER_LENGTH + DESCRIPTOR_LENGTH * n + PAGE - 1) // PAGE * PAGE
        if slots_offset != expected_offset:
            raise RingError(f"slots offset: {slots_offset}, expected {expected_offset} for {n} slots")
        if ring_length != slots_offset + n * slot_size or ring_length > len(m):
            raise RingError(f"ring length: {ring_length} does not fit the mapping of {len(m)} bytes")
        self.slot_count, self.slot_size, self.slots_offset = n, slot_size, slots_offset

    def _attach(self):
        state = self.load4(self.base + CONSUMER_STATE, ACQUIRE)
        pid = self.load4(self.base + CONSUMER_PID, ACQUIRE)
        if state == STATE_CLOSED:
            raise RingError(f"the ring's consumer (pid {pid}) already closed it: a ring carries one stream")
        # A live pid with the state still NONE is a consumer half-way through attaching (its pid is stored first).
        if (state == STATE_ATTACHED or pid != 0) and (pid == os.getpid() or not self._dead(pid)):
            raise RingError(f"the ring already has a live consumer: pid {pid}")
        # Two consumers attaching at once both pass the check above: the one whose pid replaces the pid both read
        # takes the role (as RingEnd.attach does).
        seen = ctypes.c_uint32(pid)
        if not self.cas4(self.base + CONSUMER_PID, ctypes.byref(seen), os.getpid(), SEQ_CST, SEQ_CST):
            raise RingError(f"the ring already has a live consumer: pid {seen.value} attached at the same time")
        self.store4(self.base + CONSUMER_STATE, STATE_ATTACHED, SEQ_CST)
        self.position = self.load8(self.base + CONSUMER_POSITION, ACQUIRE)
        self.producer_cache = self.load8(self.base + PRODUCER_POSITION, ACQUIRE)

    # -- the producer's liveness, through a pidfd --

    def _dead(self, pid):
        if pid >= 1 << 31:  # the word is an i32: read as a u32, a negative pid
            pid -= 1 << 32
        if pid == 0 or pid == os.getpid():
            return False
        if pid < 0:  # names no process: taken for "no producer yet", a wait on it would never end
            self.watched_pid = pid
            return True
        if pid != self.watched_pid:
            if self.pidfd >= 0:
                os.close(self.pidfd)
            self.watched_pid, self.pidfd, self.watched_dead = pid, -1, False
            try:
                self.pidfd = os.pidfd_open(pid)
            except OSError as e:
                # ESRCH: gone. ENOENT (EINVAL before Linux 6.9): a thread id that leads no process; pids and
                # thread ids share one number space, so the producer's pid may name another process's thread
                # by now. Either way it has exited, and that is remembered: there is no pidfd to ask again.
                # ENOSYS (Linux before 5.3) or EPERM (a seccomp filter): no pidfd, kill(pid, 0) each time, as
                # panpipe_ring.h does (a reused pid then passes for the producer).
                if e.errno in (errno.ENOSYS, errno.EPERM):
                    self.pidfd = -2
                elif e.errno not in (errno.ESRCH, errno.ENOENT, errno.EINVAL):
                    raise
                else:
                    self.watched_dead = True
        if self.pidfd == -2 and not self.watched_dead:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                self.watched_dead = True
            except PermissionError:
                pass  # another user's process: alive
            return self.watched_dead
        if not self.watched_dead:
            p = select.poll()
            p.register(self.pidfd, select.POLLIN)  # readable once the process exited
            self.watched_dead = bool(p.poll(0))
        return self.watched_dead

    # -- waiting: spin, then the futex doorbell --

    def _futex(self, address, op, value, timeout):
        r = self.libc.syscall(ctypes.c_long(self.sys_futex), ctypes.c_void_p(address), ctypes.c_int(op),
                              ctypes.c_uint32(value), timeout, None, ctypes.c_int(0))
        return r, (ctypes.get_errno() if r < 0 else 0)

    def _await_producer(self, observed):
        """The producer's new position; raises EOFError at end of stream, RingError if it died."""
        word = self.base + PRODUCER_POSITION  # its low 32 bits are the futex word (little-endian)
        for _ in range(self.spins):
            v = self.load8(word, ACQUIRE)
            if v != observed:
                return v
        while True:
            if self.load4(self.base + PRODUCER_STATE, ACQUIRE) == STATE_CLOSED:
                if self.load8(word, ACQUIRE) == observed:
                    raise EOFError(f"end of stream: the ring's producer closed after {self.position} frames")
            elif self._dead(self.load4(self.base + PRODUCER_PID, ACQUIRE)) and self.load8(word, ACQUIRE) == observed:
                raise RingError(f"the ring's producer (pid {self.watched_pid}) died")
            self.store4(self.base + CONSUMER_WAITING, 1, SEQ_CST)  # announce the sleep, then look once more
            v = self.load8(word, SEQ_CST)
            if v == observed:
                r, err = self._futex(word, FUTEX_WAIT, observed & 0xFFFFFFFF, ctypes.byref(self.timeout))
                if r == 0:
                    self.stats["sleeps"] += 1
                    self.stats["woken"] += 1
                elif err == errno.ETIMEDOUT:  # time to check the producer is alive
                    self.stats["sleeps"] += 1
                    self.stats["timed-out"] += 1
                elif err not in (errno.EAGAIN, errno.EINTR):  # EAGAIN: the word moved before we slept
                    self.store4(self.base + CONSUMER_WAITING, 0, SEQ_CST)
                    raise RingError(f"futex(FUTEX_WAIT): {os.strerror(err)}")
                v = self.load8(word, SEQ_CST)
            self.store4(self.base + CONSUMER_WAITING, 0, SEQ_CST)
            if v != observed:
                return v

    # -- take and release --

    def take(self):
        """The next frame as (sequence, format name, ndarray view); raises EOFError at end of stream."""
        n = self.slot_count
        while self.producer_cache <= self.position:
            seen = self.load8(self.base + PRODUCER_POSITION, ACQUIRE)
            if seen < self.position or seen - self.position > n:
                raise RingError(f"producer position: {seen} is outside [{self.position}, {self.position + n}]")
            self.producer_cache = seen
            if seen > self.position:
                break
            self.producer_cache = self._await_producer(seen)
        if self.producer_cache - self.position > n:
            raise RingError(f"producer position: {self.producer_cache} is more than {n} frames ahead of {self.position}")
        slot = self.position & (n - 1)
        d = HEADER_LENGTH + DESCRIPTOR_LENGTH * slot
        seq = self.load8(self.base + d + SEQUENCE, ACQUIRE)  # then the fields it publishes
        if seq != self.position:
            raise RingError(f"sequence: frame descriptor sequence {seq}, expected {self.position}")
        _ts, length, width, height, stride, fmt = DESCRIPTOR_FIELDS.unpack_from(self.mapping, d + 8)
        if length > self.slot_size:
            raise RingError(f"payload length: frame {seq} payload length {length} is outside [0, {self.slot_size}]")
        if fmt not in FORMATS:
            raise RingError(f"pixel format: frame {seq} has unknown pixel format code {fmt}")
        name, channels = FORMATS[fmt]
        offset = self.slots_offset + slot * self.slot_size
        if fmt == 0:
            return seq, name, np.ndarray((length,), dtype=np.uint8, buffer=self.mapping, offset=offset)
        if width <= 0 or height <= 0 or width > 1 << 30 or height > 1 << 30:
            raise RingError(f"width: frame {seq} size {width}x{height} is not positive")
        if stride < width * channels:
            raise RingError(f"stride: frame {seq} stride {stride} is less than a row of {width} {name} pixels")
        if stride * (height - 1) + width * channels > length:
            raise RingError(f"payload length: frame {seq} of {width}x{height} stride {stride} does not fit {length} bytes")
        # The view: rows stride apart, pixels channels apart, bytes 1 apart, over the mapping itself.
        view = np.ndarray((height, width, channels), dtype=np.uint8, buffer=self.mapping, offset=offset,
                          strides=(stride, channels, 1))
        return seq, name, view

    def release(self):
        """Hands the slot back; the caller must have dropped its views of it."""
        self.position += 1
        self._publish()

    def _publish(self):
        self.store8(self.base + CONSUMER_POSITION, self.position, RELEASE)
        self.fence(SEQ_CST)  # the store above before the load below: the publisher's half of the doorbell
        if self.load4(self.base + PRODUCER_WAITING, SEQ_CST):
            r, _ = self._futex(self.base + CONSUMER_POSITION, FUTEX_WAKE, 1, None)
            if r > 0:
                self.stats["wakes"] += 1

    def close(self):
        self.store4(self.base + CONSUMER_STATE, STATE_CLOSED, RELEASE)
        self.fence(SEQ_CST)
        self._futex(self.base + CONSUMER_POSITION, FUTEX_WAKE, 0x7FFFFFFF, None)
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1
        del self._anchor  # no exported pointer may remain when the mapping closes
        self.mapping.close()


def consume_one(consumer, totals, delay_ms):
    """Takes, checks and sums one frame; False at end of stream. Its view dies with this call."""
    try:
        seq, _name, frame = consumer.take()
    except EOFError:
        return False
    address = frame.__array_interface__["data"][0]
    expected = consumer.base + consumer.slots_offset + (seq & (consumer.slot_count - 1)) * consumer.slot_size
    if address != expected or frame.flags.owndata:
        raise RingError(f"frame {seq}: the ndarray is not a view of the mapping (0x{address:x} != 0x{expected:x})")
    totals["checksum"] += int(frame.sum(dtype=np.uint64))
    if frame.ndim == 3:
        sums = frame.sum(axis=(0, 1), dtype=np.uint64)  # per channel: R, G, B for rgb8
        totals["channel_sums"] = sums if totals["channel_sums"] is None else totals["channel_sums"] + sums
        totals["pixels"] += frame.shape[0] * frame.shape[1]
    totals["frames"] += 1
    if delay_ms:
        time.sleep(delay_ms / 1000)
    del frame  # no view may outlive the release: the producer reuses the slot
    consumer.release()
    return True


def main():
    parser = argparse.ArgumentParser(description="Consume a panpipe frame ring with numpy views (no copy).")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--fd", type=int, help="the ring's memfd, inherited from the parent")
    source.add_argument("--name", help="a named ring: /dev/shm/panpipe-NAME")
    parser.add_argument("--delay-ms", type=float, default=0, help="hold each frame this long (a slow consumer)")
    parser.add_argument("--spins", type=int, default=100, help="looks at the producer's position before sleeping")
    parser.add_argument("--liveness-ms", type=int, default=20, help="longest sleep between two checks that the producer lives")
    args = parser.parse_args()

    if args.fd is not None:
        fd = args.fd
    else:
        path = f"/dev/shm/panpipe-{args.name}"
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            print(f"ring_consumer.py: open {path}: {e.strerror}", file=sys.stderr)
            return 1
    try:
        consumer = Consumer(fd, args.spins, args.liveness_ms * 1_000_000)
    except RingError as e:
        print(f"ring_consumer.py: {e}", file=sys.stderr)
        return 1
    finally:
        os.close(fd)  # mmap keeps its own duplicate

    totals = {"frames": 0, "checksum": 0, "channel_sums": None, "pixels": 0}
    status = 0
    try:
        while consume_one(consumer, totals, args.delay_ms):
            pass
    except RingError as e:
        print(f"ring_consumer.py: {e}", file=sys.stderr)
        status = 1
    finally:
        consumer.close()
    frames, checksum, channel_sums, pixels = totals["frames"], totals["checksum"], totals["channel_sums"], totals["pixels"]
    print(f"frames {frames} checksum {checksum}")
    if channel_sums is not None:
        print("channel-sums " + " ".join(str(int(s)) for s in channel_sums))
        print("channel-means " + " ".join(f"{s / pixels:.3f}" for s in channel_sums))
    s = consumer.stats
    print(f"doorbell sleeps {s['sleeps']} woken {s['woken']} timed-out {s['timed-out']} wakes {s['wakes']}")
    return status


if __name__ == "__main__":
    sys.exit(main())
