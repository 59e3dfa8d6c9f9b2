package dev.panpipe.bindings;

import dev.panpipe.bindings.linux.iovec;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.pollfd;
import dev.panpipe.bindings.linux.sigaction;
import dev.panpipe.bindings.linux.timespec;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Optional;

import static dev.panpipe.bindings.linux.linux_h.C_INT;
import static dev.panpipe.bindings.linux.linux_h.C_LONG;
import static dev.panpipe.bindings.linux.linux_h.C_POINTER;

/**
 * The errno-capturing layer over the generated bindings: one static method per C call, named as C names it.
 *
 * <p>jextract links its handles without {@code captureCallState}, so by the time Java code could read
 * {@code errno} the JVM may have overwritten it. Every handle here is linked again from the generated
 * address and descriptor with {@link Linker.Option#captureCallState(String...) captureCallState("errno")},
 * into a per-thread capture segment.
 *
 * <p>The JDK slices that capture segment on every call ({@code SharedUtils.checkCaptureSegment}): 40 bytes
 * that only C2's escape analysis removes, and only where it inlines the whole downcall. The calls on
 * panpipe's hot paths ({@link #read}, {@link #write}, {@link #writeNoWait}, {@link #poll}, {@link #futex_wait},
 * {@link #futex_wake}) run a few times per frame, in code that may stay interpreted or C1-compiled for
 * minutes at video rates, so they are linked a second time without the capture and try that first: they
 * allocate nothing at any JIT tier. A call that fails is told apart by its cause where it can be (a
 * non-blocking fd that is not ready is {@code EAGAIN}: for a write one {@code poll} with no wait says so,
 * for a read the caller's own wait does, see {@link #takeAsWouldBlock}) and else
 * repeated through the capturing handle to learn errno, which is sound because these calls fail without
 * effect.
 *
 * <h2>Conventions</h2>
 * <ul>
 *   <li>A failed call throws {@link SyscallException} naming the call, the errno name and its text.</li>
 *   <li>{@code EINTR} is retried for calls that may be restarted (read, write, poll with the time left,
 *       waitpid, open of a FIFO); {@code close} is never retried (Linux releases the fd even then).</li>
 *   <li>{@code EAGAIN} on a non-blocking fd returns {@link #WOULD_BLOCK}, not an exception.</li>
 *   <li>The {@code posix_spawn*} functions return their error number instead of setting errno; their
 *       wrappers throw the same exception type.</li>
 * </ul>
 */
public final class Syscalls {
    /** Returned by the I/O calls when a non-blocking fd has nothing to give or no room ({@code EAGAIN}). */
    public static final long WOULD_BLOCK = -1;

    private static final Linker LINKER = Linker.nativeLinker();
    private static final Linker.Option CAPTURE_ERRNO = Linker.Option.captureCallState("errno");
    private static final long ERRNO_OFFSET = Linker.Option.captureStateLayout()
            .byteOffset(MemoryLayout.PathElement.groupElement("errno"));

    /** One capture segment per thread; released with the arena when the thread's map entry is collected. */
    private static final ThreadLocal<MemorySegment> CALL_STATE =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(Linker.Option.captureStateLayout()));

    private static final int EINTR = linux_h.EINTR();
    private static final int EAGAIN = linux_h.EAGAIN();

    // Each handle sits in a holder class of its own, linked the first time its call is made (the JVM runs
    // the holder's initializer then) and a constant to the JIT after that: linking is ~3 ms a handle on a
    // cold JVM, and eagerly linking all of them made the first panpipe call of every process (CLI, worker,
    // test) ~200 ms; a process now pays only for the calls it makes.

    // ---- fds, pipes, FIFOs, files ------------------------------------------------------------------
    private static final class Pipe2 { static final MethodHandle H = link(linux_h.pipe2$address(), linux_h.pipe2$descriptor()); }
    private static final class Mkfifoat { static final MethodHandle H = link(linux_h.mkfifoat$address(), linux_h.mkfifoat$descriptor()); }
    private static final class Openat { static final MethodHandle H = LINKER.downcallHandle(linux_h.openat.address(),
            FunctionDescriptor.of(C_INT, C_INT, C_POINTER, C_INT, C_INT), CAPTURE_ERRNO, Linker.Option.firstVariadicArg(3)); }
    private static final class Read { static final MethodHandle H = link(linux_h.read$address(), linux_h.read$descriptor()); }
    private static final class Write { static final MethodHandle H = link(linux_h.write$address(), linux_h.write$descriptor()); }
    /**
     * {@code syscall(SYS_write, fd, address, count, buf)}: write(2) from {@code buf}'s address plus an offset,
     * given as a number so that no slice is made. {@code buf} goes along as a fifth, variadic argument that
     * the kernel's write ignores, so that the linker keeps its memory alive and owned by the calling thread
     * for the call, as it does for any segment argument (a shared arena cannot be closed meanwhile).
     */
    private static final FunctionDescriptor WRITE_AT = FunctionDescriptor.of(C_LONG, C_LONG, C_LONG, C_LONG, C_LONG, C_POINTER);
    private static final class SyscallWriteAt { static final MethodHandle H = LINKER.downcallHandle(linux_h.syscall.address(), WRITE_AT,
            CAPTURE_ERRNO, Linker.Option.firstVariadicArg(1)); }
    private static final class SyscallWriteAtNoErrno { static final MethodHandle H = LINKER.downcallHandle(linux_h.syscall.address(), WRITE_AT,
            Linker.Option.firstVariadicArg(1)); }
    /**
     * {@code syscall(SYS_pwritev2 or SYS_preadv2, fd, iov, 1, -1, 0, RWF_NOWAIT, buf)}: a write or read that never
     * sleeps, even on a description in blocking mode (see {@link #writeNoWait}, {@link #readNoWait}). Offset -1
     * (split in two words, as glibc's {@code LO_HI_LONG} passes it; the high one is unused on 64-bit) means "at the
     * file position", as write(2) and read(2) do. {@code buf}, whose address the iovec holds, goes along as a last,
     * variadic argument the kernel ignores, for the reason {@link #WRITE_AT} gives.
     */
    private static final FunctionDescriptor RW_V2 = FunctionDescriptor.of(C_LONG,
            C_LONG, C_LONG, C_POINTER, C_LONG, C_LONG, C_LONG, C_LONG, C_POINTER);
    private static final class SyscallRwV2 { static final MethodHandle H = LINKER.downcallHandle(linux_h.syscall.address(), RW_V2,
            CAPTURE_ERRNO, Linker.Option.firstVariadicArg(1)); }
    private static final class SyscallRwV2NoErrno { static final MethodHandle H = LINKER.downcallHandle(linux_h.syscall.address(), RW_V2,
            Linker.Option.firstVariadicArg(1)); }
    private static final class ReadNoErrno { static final MethodHandle H = LINKER.downcallHandle(linux_h.read$address(), linux_h.read$descriptor()); }
    private static final class WriteNoErrno { static final MethodHandle H = LINKER.downcallHandle(linux_h.write$address(), linux_h.write$descriptor()); }
    private static final class Close { static final MethodHandle H = link(linux_h.close$address(), linux_h.close$descriptor()); }
    private static final class Fcntl { static final MethodHandle H = LINKER.downcallHandle(linux_h.fcntl.address(),
            FunctionDescriptor.of(C_INT, C_INT, C_INT, C_INT), CAPTURE_ERRNO, Linker.Option.firstVariadicArg(2)); }
    private static final class Ioctl { static final MethodHandle H = LINKER.downcallHandle(linux_h.ioctl.address(),
            FunctionDescriptor.of(C_INT, C_INT, C_LONG, C_POINTER), CAPTURE_ERRNO, Linker.Option.firstVariadicArg(2)); }
    private static final class Unlinkat { static final MethodHandle H = link(linux_h.unlinkat$address(), linux_h.unlinkat$descriptor()); }
    private static final class Fstat { static final MethodHandle H = link(linux_h.fstat$address(), linux_h.fstat$descriptor()); }
    private static final class Ftruncate { static final MethodHandle H = link(linux_h.ftruncate$address(), linux_h.ftruncate$descriptor()); }
    private static final class Fallocate { static final MethodHandle H = link(linux_h.fallocate$address(), linux_h.fallocate$descriptor()); }

    // ---- readiness -----------------------------------------------------------------------------------
    private static final class Poll { static final MethodHandle H = link(linux_h.poll$address(), linux_h.poll$descriptor()); }
    private static final class PollNoErrno {
        static final MethodHandle H = customizedNow(LINKER.downcallHandle(linux_h.poll$address(), linux_h.poll$descriptor()),
                h -> { int ready = (int) h.invokeExact(MemorySegment.NULL, 0L, 0); });   // no fds, no wait: 0
    }
    private static final class EpollCreate1 { static final MethodHandle H = link(linux_h.epoll_create1$address(), linux_h.epoll_create1$descriptor()); }
    private static final class EpollCtl { static final MethodHandle H = link(linux_h.epoll_ctl$address(), linux_h.epoll_ctl$descriptor()); }
    private static final class EpollWait { static final MethodHandle H = link(linux_h.epoll_wait$address(), linux_h.epoll_wait$descriptor()); }
    private static final class Eventfd { static final MethodHandle H = link(linux_h.eventfd$address(), linux_h.eventfd$descriptor()); }

    // ---- processes -------------------------------------------------------------------------------------
    private static final class Waitpid { static final MethodHandle H = link(linux_h.waitpid$address(), linux_h.waitpid$descriptor()); }
    private static final class Waitid { static final MethodHandle H = link(linux_h.waitid$address(), linux_h.waitid$descriptor()); }
    private static final class Kill { static final MethodHandle H = link(linux_h.kill$address(), linux_h.kill$descriptor()); }
    private static final class Raise { static final MethodHandle H = link(linux_h.raise$address(), linux_h.raise$descriptor()); }
    private static final class Sigaction { static final MethodHandle H = link(linux_h.sigaction$address(), linux_h.sigaction$descriptor()); }
    private static final class Tcgetpgrp { static final MethodHandle H = link(linux_h.tcgetpgrp$address(), linux_h.tcgetpgrp$descriptor()); }
    private static final class Tcsetpgrp { static final MethodHandle H = link(linux_h.tcsetpgrp$address(), linux_h.tcsetpgrp$descriptor()); }
    /** {@code syscall(nr, a, b, c, d)}: four arguments, 0 where a call takes fewer (the kernel ignores those). */
    private static final class Syscall4 { static final MethodHandle H = LINKER.downcallHandle(linux_h.syscall.address(),
            FunctionDescriptor.of(C_LONG, C_LONG, C_LONG, C_LONG, C_LONG, C_LONG), CAPTURE_ERRNO, Linker.Option.firstVariadicArg(1)); }

    // ---- zero-copy ---------------------------------------------------------------------------------------
    private static final class Vmsplice { static final MethodHandle H = link(linux_h.vmsplice$address(), linux_h.vmsplice$descriptor()); }
    private static final class MemfdCreate { static final MethodHandle H = link(linux_h.memfd_create$address(), linux_h.memfd_create$descriptor()); }
    private static final class ShmOpen { static final MethodHandle H = link(linux_h.shm_open$address(), linux_h.shm_open$descriptor()); }
    private static final class ShmUnlink { static final MethodHandle H = link(linux_h.shm_unlink$address(), linux_h.shm_unlink$descriptor()); }
    private static final class Mmap { static final MethodHandle H = link(linux_h.mmap$address(), linux_h.mmap$descriptor()); }
    private static final class Munmap { static final MethodHandle H = link(linux_h.munmap$address(), linux_h.munmap$descriptor()); }

    // ---- sockets -------------------------------------------------------------------------------------------
    private static final class Socketpair { static final MethodHandle H = link(linux_h.socketpair$address(), linux_h.socketpair$descriptor()); }
    private static final class Sendmsg { static final MethodHandle H = link(linux_h.sendmsg$address(), linux_h.sendmsg$descriptor()); }
    private static final class Recvmsg { static final MethodHandle H = link(linux_h.recvmsg$address(), linux_h.recvmsg$descriptor()); }

    // ---- shared-memory synchronisation -------------------------------------------------------------------
    /** {@code syscall(SYS_futex, uaddr, op, val, timeout, uaddr2, val3)}: glibc has no futex wrapper. */
    private static final class SyscallFutex { static final MethodHandle H = LINKER.downcallHandle(linux_h.syscall.address(),
            FunctionDescriptor.of(C_LONG, C_LONG, C_POINTER, C_INT, C_INT, C_POINTER, C_POINTER, C_INT),
            CAPTURE_ERRNO, Linker.Option.firstVariadicArg(1)); }
    /** The same without errno, tried first (see the class comment). */
    private static final class SyscallFutexNoErrno {
        static final MethodHandle H;
        static {
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment word = arena.allocate(C_INT);   // FUTEX_WAKE of nobody on a word of our own: returns 0
                H = customizedNow(LINKER.downcallHandle(linux_h.syscall.address(),
                        FunctionDescriptor.of(C_LONG, C_LONG, C_POINTER, C_INT, C_INT, C_POINTER, C_POINTER, C_INT),
                        Linker.Option.firstVariadicArg(1)),
                        h -> { long woken = (long) h.invokeExact((long) linux_h.SYS_futex(), word, linux_h.FUTEX_WAKE(), 0,
                                MemorySegment.NULL, MemorySegment.NULL, 0); });
            }
        }
    }
    /**
     * {@code syscall(SYS_futex_waitv, waiters, nr_futexes, flags, timeout, clockid)}: glibc has no wrapper. Linked
     * with errno only: one thread (a poller) makes the call, once per event, never on a caller's wait path.
     */
    private static final class SyscallFutexWaitv { static final MethodHandle H = LINKER.downcallHandle(linux_h.syscall.address(),
            FunctionDescriptor.of(C_LONG, C_LONG, C_POINTER, C_INT, C_INT, C_POINTER, C_INT),
            CAPTURE_ERRNO, Linker.Option.firstVariadicArg(1)); }
    /** One pollfd per thread, to ask whether an fd whose call failed without errno is not ready (EAGAIN). */
    private static final ThreadLocal<MemorySegment> READINESS =
            ThreadLocal.withInitial(() -> pollfd.allocate(Arena.ofAuto()));
    /**
     * One iovec per thread for {@link #writeNoWait} and {@link #readNoWait}, so a call allocates nothing. Its base is stored as a long:
     * setting it through {@code iovec.iov_base} would take a MemorySegment made of the address, an allocation
     * wherever the JIT has not removed it (panpipe runs on 64-bit Linux only, where a pointer is a long).
     */
    private static final ThreadLocal<MemorySegment> NOWAIT_IOV =
            ThreadLocal.withInitial(() -> iovec.allocate(Arena.ofAuto()));
    /** A relative timeout for FUTEX_WAIT, one per thread so a wait allocates nothing. */
    private static final ThreadLocal<MemorySegment> FUTEX_TIMEOUT =
            ThreadLocal.withInitial(() -> Arena.ofAuto().allocate(timespec.layout()));

    /**
     * {@code sched_getcpu()}: glibc reads it from the thread's rseq area (or the vDSO), no system call, so it
     * is linked {@link Linker.Option#critical critical}: no thread-state transition, a few nanoseconds.
     */
    private static final class SchedGetcpu {
        static final MethodHandle H = customizedNow(LINKER.downcallHandle(linux_h.sched_getcpu$address(),
                linux_h.sched_getcpu$descriptor(), Linker.Option.critical(false)), h -> { int cpu = (int) h.invokeExact(); });
    }

    private static final class Sysconf { static final MethodHandle H = link(linux_h.sysconf$address(), linux_h.sysconf$descriptor()); }

    private Syscalls() {
    }

    private static MethodHandle link(MemorySegment address, FunctionDescriptor descriptor) {
        return LINKER.downcallHandle(address, descriptor, CAPTURE_ERRNO);
    }

    /** A harmless call of a handle, made through a parameter (so, like any call the JIT has not inlined, it counts). */
    @FunctionalInterface
    private interface HarmlessCall {
        void call(MethodHandle h) throws Throwable;
    }

    /**
     * Calls {@code h} harmlessly until the JDK has customized it, and returns it. A method handle invoked where the
     * JIT has not made it a constant (interpreted or C1 code: a path taken now and then, such as a ring end's wait)
     * counts its calls, and at the 128th ({@code java.lang.invoke.MethodHandle.CUSTOMIZE_THRESHOLD}, default 127)
     * the JDK generates a lambda form specialized to it: tens of kilobytes of allocation and a few hidden classes,
     * once, at whatever moment that call comes. In RingBenchmark.fillRead that moment was a measured iteration now
     * and then (16-51 B/op over it: sched_getcpu, the futex and poll handles, the calls of a ring end's wait). Used
     * for the handles such occasional paths call, so that the moment is link time.
     */
    private static MethodHandle customizedNow(MethodHandle h, HarmlessCall call) {
        int threshold = Integer.getInteger("java.lang.invoke.MethodHandle.CUSTOMIZE_THRESHOLD", 127);
        if (threshold < 0 || threshold > 1000) return h;   // customization off, or too far away to be worth the calls
        try {
            for (int i = 0; i <= threshold; i++) call.call(h);
        } catch (Throwable t) {
            throw new ExceptionInInitializerError(t);
        }
        return h;
    }

    private static MemorySegment state() {
        return CALL_STATE.get();
    }

    private static int errno(MemorySegment state) {
        return state.get(linux_h.C_INT, ERRNO_OFFSET);
    }

    /**
     * Tries of a write without errno before the capturing one. A failed try whose fd then polls
     * ready was mostly EAGAIN all the same, the peer having made room or data meanwhile (across cores, a few
     * times a second), so it is tried again rather than paid for with the capture's allocation; only a
     * failure that persists while the fd is ready (an error) reaches the capturing call.
     */
    private static final int FAST_ATTEMPTS = 3;
    private static final short POLLOUT = (short) linux_h.POLLOUT();
    private static final short POLLIN = (short) linux_h.POLLIN();

    /**
     * After a call on {@code fd} failed without errno: true if {@code fd} is not ready for {@code events}
     * (no wait), which for a non-blocking fd is what EAGAIN means. False when it is ready or in error, or
     * when poll fails: the caller then repeats its call to learn errno.
     */
    private static boolean notReady(int fd, short events) {
        MemorySegment p = READINESS.get();
        pollfd.fd(p, fd);
        pollfd.events(p, events);
        pollfd.revents(p, (short) 0);
        int r;
        try { r = (int) PollNoErrno.H.invokeExact(p, 1L, 0); } catch (Throwable t) { throw unchecked(t); }
        return r == 0;
    }

    /**
     * A read tried without errno that fails is taken for EAGAIN at once, with no system call to prove it,
     * and its fd is remembered, per thread (see UNPROVEN_SLOTS). Every caller of a non-blocking read waits
     * for the fd to be readable before it reads again; if that read fails too, the fd said it was
     * ready (an error: EBADF, EIO, ...) or the caller did not wait, and the read is made again with errno
     * captured, so an error is thrown by the second call, never lost. Proving each EAGAIN with a poll, as writes do, cost a system
     * call per wait for data: a 64 B round trip through a pipe took 7.1 us p50 instead of 4.9 on one vCPU.
     * (Writes keep the poll: a write to a pipe nobody reads must fail with EPIPE at once.)
     *
     * <p>One slot per {@code fd % UNPROVEN_SLOTS}, so that a thread reading several fds in turn (an event loop)
     * still sees each fd's second failure. A slot taken by another fd sends the failure straight to the
     * capturing call: never a loop of unproven failures, whatever the interleaving.
     */
    private static final int UNPROVEN_SLOTS = 64;
    private static final ThreadLocal<int[]> UNPROVEN_READ_FAILURES = ThreadLocal.withInitial(() -> {
        int[] slots = new int[UNPROVEN_SLOTS];
        java.util.Arrays.fill(slots, -1);
        return slots;
    });

    /** After a failed read without errno on {@code fd}: true to report WOULD_BLOCK, false to ask again with errno. */
    private static boolean takeAsWouldBlock(int fd) {
        int[] unproven = UNPROVEN_READ_FAILURES.get();
        int slot = fd & (UNPROVEN_SLOTS - 1);
        if (unproven[slot] == -1) {
            unproven[slot] = fd;
            return true;
        }
        if (unproven[slot] == fd) unproven[slot] = -1;
        return false;
    }

    /** After a read of {@code fd} that succeeded: its earlier failure was EAGAIN after all. */
    private static void readSucceeded(int fd) {
        int[] unproven = UNPROVEN_READ_FAILURES.get();
        int slot = fd & (UNPROVEN_SLOTS - 1);
        if (unproven[slot] == fd) unproven[slot] = -1;
    }

    /** Downcall handles throw only what the callee cannot: an Error or a RuntimeException from the linker. */
    private static RuntimeException unchecked(Throwable t) {
        if (t instanceof RuntimeException re) throw re;
        if (t instanceof Error e) throw e;
        throw new AssertionError("downcall threw a checked exception", t);
    }

    private static int check(String call, int result, MemorySegment state) throws SyscallException {
        if (result == -1) throw SyscallException.of(call, errno(state));
        return result;
    }

    // =====================================================================================================
    // fds, pipes, FIFOs, files
    // =====================================================================================================

    /** {@code pipe2(fds, flags)}: {@code fds} receives two ints, read end first. */
    public static void pipe2(MemorySegment fds, int flags) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) Pipe2.H.invokeExact(st, fds, flags); } catch (Throwable t) { throw unchecked(t); }
        check("pipe2", r, st);
    }

    /** {@code mkfifoat(dirfd, path, mode)}; the exception names the path. */
    public static void mkfifoat(int dirfd, MemorySegment path, int mode) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) Mkfifoat.H.invokeExact(st, dirfd, path, mode); } catch (Throwable t) { throw unchecked(t); }
        if (r == -1) throw SyscallException.of("mkfifo", path.getString(0), errno(st));
    }

    /**
     * {@code openat(dirfd, path, flags, mode)}, retried on EINTR (an open of a FIFO blocks until a peer
     * shows up, and a signal may cut that wait short); the exception names the path.
     */
    public static int openat(int dirfd, MemorySegment path, int flags, int mode) throws SyscallException {
        MemorySegment st = state();
        for (;;) {
            int r;
            try { r = (int) Openat.H.invokeExact(st, dirfd, path, flags, mode); } catch (Throwable t) { throw unchecked(t); }
            if (r >= 0) return r;
            int e = errno(st);
            if (e == EINTR) continue;
            throw SyscallException.of("open", path.getString(0), e);
        }
    }

    /** {@code open(path, flags, mode)}, relative to the working directory. */
    public static int open(MemorySegment path, int flags, int mode) throws SyscallException {
        return openat(linux_h.AT_FDCWD(), path, flags, mode);
    }

    /**
     * {@code read}: bytes read, 0 at end of stream, {@link #WOULD_BLOCK} on EAGAIN; EINTR is retried. A first
     * failure is reported as {@link #WOULD_BLOCK} unproven (errno is not captured on the fast path): the
     * caller waits for the fd and reads again, and an error is thrown by that second read.
     */
    public static long read(int fd, MemorySegment buf, long count) throws SyscallException {
        long n;
        try { n = (long) ReadNoErrno.H.invokeExact(fd, buf, count); } catch (Throwable t) { throw unchecked(t); }
        if (n >= 0) {
            readSucceeded(fd);
            return n;
        }
        if (takeAsWouldBlock(fd)) return WOULD_BLOCK;
        // Failed twice, the second time after a wait for the fd: again, capturing errno.
        MemorySegment st = state();
        for (;;) {
            long r;
            try { r = (long) Read.H.invokeExact(st, fd, buf, count); } catch (Throwable t) { throw unchecked(t); }
            if (r >= 0) return r;
            int e = errno(st);
            if (e == EINTR) continue;
            if (e == EAGAIN) return WOULD_BLOCK;
            throw SyscallException.of("read", e);
        }
    }

    /**
     * {@code write}: bytes written (maybe fewer than asked), {@link #WOULD_BLOCK} on EAGAIN (or an EINTR that
     * leaves the fd not ready, as for {@link #read}); EPIPE is a {@link BrokenPipeException}.
     */
    public static long write(int fd, MemorySegment buf, long count) throws SyscallException {
        for (int attempt = 0; attempt < FAST_ATTEMPTS; attempt++) {
            long n;
            try { n = (long) WriteNoErrno.H.invokeExact(fd, buf, count); } catch (Throwable t) { throw unchecked(t); }
            if (n >= 0) return n;
            if (notReady(fd, POLLOUT)) return WOULD_BLOCK;
        }
        // Failed, though the fd is ready (an error, or EINTR twice): again, capturing errno.
        MemorySegment st = state();
        for (;;) {
            long r;
            try { r = (long) Write.H.invokeExact(st, fd, buf, count); } catch (Throwable t) { throw unchecked(t); }
            if (r >= 0) return r;
            int e = errno(st);
            if (e == EINTR) continue;
            if (e == EAGAIN) return WOULD_BLOCK;
            throw SyscallException.of("write", e);
        }
    }

    /**
     * {@link #write(int, MemorySegment, long) write} of {@code buf[offset, offset + count)} without slicing
     * {@code buf}: the rest of a message after a partial write, which would otherwise allocate a slice per
     * partial write wherever the JIT has not removed it (a frame larger than a pipe, written at video rates,
     * stays in C1-compiled code). {@code buf} must be native; same results as {@code write}.
     */
    public static long write(int fd, MemorySegment buf, long offset, long count) throws SyscallException {
        java.util.Objects.checkFromIndexSize(offset, count, buf.byteSize());
        if (!buf.isNative()) throw new IllegalArgumentException("not a native segment: " + buf);
        long address = buf.address() + offset;
        for (int attempt = 0; attempt < FAST_ATTEMPTS; attempt++) {
            long n;
            try {
                n = (long) SyscallWriteAtNoErrno.H.invokeExact((long) linux_h.SYS_write(), (long) fd, address, count, buf);
            } catch (Throwable t) { throw unchecked(t); }
            if (n >= 0) return n;
            if (notReady(fd, POLLOUT)) return WOULD_BLOCK;
        }
        MemorySegment st = state();
        for (;;) {
            long r;
            try {
                r = (long) SyscallWriteAt.H.invokeExact(st, (long) linux_h.SYS_write(), (long) fd, address, count, buf);
            } catch (Throwable t) { throw unchecked(t); }
            if (r >= 0) return r;
            int e = errno(st);
            if (e == EINTR) continue;
            if (e == EAGAIN) return WOULD_BLOCK;
            throw SyscallException.of("write", e);
        }
    }

    /**
     * {@code pwritev2(fd, {buf + offset, count}, 1, -1, RWF_NOWAIT)}: writes {@code buf[offset, offset + count)}
     * at the file position, as {@link #write(int, MemorySegment, long, long) write} does, but never sleeps for room,
     * whatever the description's mode: on a pipe it takes what fits now (all of a write of up to PIPE_BUF bytes or
     * none of it, as on an O_NONBLOCK pipe) and returns {@link #WOULD_BLOCK} when nothing does, leaving the
     * description's O_NONBLOCK flag, which every process sharing it sees, alone. EPIPE is a
     * {@link BrokenPipeException}; EINTR is retried. {@code buf} must be native; no slice, no allocation.
     *
     * <p>Only some files take the flag; the others refuse it before writing anything, and the caller then writes
     * another way. EOPNOTSUPP: the file does not support it. Anonymous pipes do since Linux 6.4 (commit
     * afed6271f5b0, "pipe: set FMODE_NOWAIT on pipes"; in 6.4-rc1 alone such a write could still sleep, until
     * c04fe8e32f90), but a pipe end's open file loses it for good once vmsplice(2) or splice(2) has used it; a FIFO
     * opened by path, a pty and a regular file on ext4 or tmpfs refuse it (seen on 6.18). EINVAL: before Linux 4.14
     * (no RWF_NOWAIT). ENOSYS: before 4.6 (no pwritev2). A regular file that does take the flag (XFS) may answer
     * EAGAIN while poll(2) calls it writable (a lock held, blocks to allocate), so a caller that waits with poll
     * between tries should keep this call to pipes.
     *
     * <p>As {@code write}, the call is first made without errno: a failure on an fd that then polls not writable is
     * taken for EAGAIN. So a refusal (EOPNOTSUPP) of a pipe that is full at that moment comes back as
     * {@link #WOULD_BLOCK}; the caller, who waits for room before it tries again, is told by the try after that.
     */
    public static long writeNoWait(int fd, MemorySegment buf, long offset, long count) throws SyscallException {
        java.util.Objects.checkFromIndexSize(offset, count, buf.byteSize());
        if (!buf.isNative()) throw new IllegalArgumentException("not a native segment: " + buf);
        return rwNoWait(linux_h.SYS_pwritev2(), "pwritev2", POLLOUT, fd, buf, offset, count);
    }

    /**
     * {@code preadv2(fd, {buf + offset, count}, 1, -1, RWF_NOWAIT)}: reads into {@code buf[offset, offset + count)}
     * from the file position, as read(2) does, but never sleeps for data, whatever the description's mode: on a
     * pipe it takes what is there, 0 at end of stream (no writer left), and {@link #WOULD_BLOCK} when the pipe is
     * empty but still has a writer, leaving the description's O_NONBLOCK flag, which every process sharing it
     * sees, alone. EINTR is retried. {@code buf} must be native; no slice, no allocation.
     *
     * <p>Which files take the flag, and the errors of those that refuse it before reading anything (EOPNOTSUPP,
     * EINVAL, ENOSYS), are as for {@link #writeNoWait}: anonymous pipes since Linux 6.4 ({@code pipe_read} returns
     * EAGAIN for IOCB_NOWAIT as for O_NONBLOCK), not a pipe vmsplice or splice has used, not a FIFO opened by path
     * (seen on 6.18). As there, the call is first made without errno and a failure on an fd that then polls not
     * readable is taken for EAGAIN, so a refusal on a pipe that is empty at that moment comes back as
     * {@link #WOULD_BLOCK}; the caller, who waits for data before it tries again, is told by the try after that.
     */
    public static long readNoWait(int fd, MemorySegment buf, long offset, long count) throws SyscallException {
        java.util.Objects.checkFromIndexSize(offset, count, buf.byteSize());
        if (!buf.isNative()) throw new IllegalArgumentException("not a native segment: " + buf);
        return rwNoWait(linux_h.SYS_preadv2(), "preadv2", POLLIN, fd, buf, offset, count);
    }

    /** {@link #writeNoWait} and {@link #readNoWait}: {@code nr} is SYS_pwritev2 or SYS_preadv2, {@code ready} the poll event of success. */
    private static long rwNoWait(long nr, String call, short ready, int fd, MemorySegment buf, long offset, long count)
            throws SyscallException {
        MemorySegment iov = NOWAIT_IOV.get();
        iov.set(java.lang.foreign.ValueLayout.JAVA_LONG, iovec.iov_base$offset(), buf.address() + offset);
        iovec.iov_len(iov, count);
        long flags = linux_h.RWF_NOWAIT();
        for (int attempt = 0; attempt < FAST_ATTEMPTS; attempt++) {
            long n;
            try {
                n = (long) SyscallRwV2NoErrno.H.invokeExact(nr, (long) fd, iov, 1L, -1L, 0L, flags, buf);
            } catch (Throwable t) { throw unchecked(t); }
            if (n >= 0) return n;
            if (notReady(fd, ready)) return WOULD_BLOCK;
        }
        MemorySegment st = state();
        for (;;) {
            long r;
            try {
                r = (long) SyscallRwV2.H.invokeExact(st, nr, (long) fd, iov, 1L, -1L, 0L, flags, buf);
            } catch (Throwable t) { throw unchecked(t); }
            if (r >= 0) return r;
            int e = errno(st);
            if (e == EINTR) continue;
            if (e == EAGAIN) return WOULD_BLOCK;
            throw SyscallException.of(call, e);
        }
    }

    /**
     * {@code close}. Never retried: on Linux the fd is released even when close reports EINTR, and a
     * retry could close an fd another thread has just been given.
     */
    public static void close(int fd) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) Close.H.invokeExact(st, fd); } catch (Throwable t) { throw unchecked(t); }
        if (r == -1 && errno(st) != EINTR) throw SyscallException.of("close", errno(st));
    }

    /** {@code fcntl(fd, cmd, arg)} for the int-argument commands (F_GETFL, F_SETFL, F_SETPIPE_SZ, F_DUPFD_CLOEXEC, ...). */
    public static int fcntl(int fd, int cmd, int arg) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) Fcntl.H.invokeExact(st, fd, cmd, arg); } catch (Throwable t) { throw unchecked(t); }
        return check("fcntl", r, st);
    }

    /** {@code ioctl(fd, request, arg)} for requests that take a pointer (FIONREAD, ...); returns ioctl's result. */
    public static int ioctl(int fd, long request, MemorySegment arg) throws SyscallException {
        MemorySegment st = state();
        for (;;) {
            int r;
            try { r = (int) Ioctl.H.invokeExact(st, fd, request, arg); } catch (Throwable t) { throw unchecked(t); }
            if (r >= 0) return r;
            if (errno(st) != EINTR) throw SyscallException.of("ioctl", errno(st));
        }
    }

    /** {@code unlinkat(dirfd, path, flags)}; {@code AT_REMOVEDIR} removes a directory. The exception names the path. */
    public static void unlinkat(int dirfd, MemorySegment path, int flags) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) Unlinkat.H.invokeExact(st, dirfd, path, flags); } catch (Throwable t) { throw unchecked(t); }
        if (r == -1) throw SyscallException.of("unlink", path.getString(0), errno(st));
    }

    /** {@code fstat(fd, statbuf)} into a {@code struct stat}. */
    public static void fstat(int fd, MemorySegment statbuf) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) Fstat.H.invokeExact(st, fd, statbuf); } catch (Throwable t) { throw unchecked(t); }
        check("fstat", r, st);
    }

    /** {@code ftruncate(fd, length)}. */
    public static void ftruncate(int fd, long length) throws SyscallException {
        MemorySegment st = state();
        for (;;) {
            int r;
            try { r = (int) Ftruncate.H.invokeExact(st, fd, length); } catch (Throwable t) { throw unchecked(t); }
            if (r == 0) return;
            if (errno(st) != EINTR) throw SyscallException.of("ftruncate", errno(st));
        }
    }

    /**
     * {@code fallocate(fd, mode, offset, length)}: reserves the blocks of a file range now, so that running out
     * of room is this call's ENOSPC rather than a fault on a later write through a mapping. Retried on EINTR.
     */
    public static void fallocate(int fd, int mode, long offset, long length) throws SyscallException {
        MemorySegment st = state();
        for (;;) {
            int r;
            try { r = (int) Fallocate.H.invokeExact(st, fd, mode, offset, length); } catch (Throwable t) { throw unchecked(t); }
            if (r == 0) return;
            if (errno(st) != EINTR) throw SyscallException.of("fallocate", errno(st));
        }
    }

    // =====================================================================================================
    // readiness
    // =====================================================================================================

    /**
     * {@code poll(fds, nfds, timeout)}: the number of ready entries, 0 on timeout. EINTR is retried with
     * the time that is left, so a signal never shortens or lengthens the wait. {@code timeoutMillis < 0}
     * waits without limit.
     */
    public static int poll(MemorySegment fds, long nfds, int timeoutMillis) throws SyscallException {
        long deadline = timeoutMillis > 0 ? System.nanoTime() + timeoutMillis * 1_000_000L : 0;
        int first;
        try { first = (int) PollNoErrno.H.invokeExact(fds, nfds, timeoutMillis); } catch (Throwable t) { throw unchecked(t); }
        if (first >= 0) return first;
        // Failed (EINTR, or an error to report): again, capturing errno, with the time left.
        MemorySegment st = state();
        int timeout = timeoutMillis > 0 ? (int) Math.max(0, (deadline - System.nanoTime() + 999_999) / 1_000_000) : timeoutMillis;
        for (;;) {
            int r;
            try { r = (int) Poll.H.invokeExact(st, fds, nfds, timeout); } catch (Throwable t) { throw unchecked(t); }
            if (r >= 0) return r;
            int e = errno(st);
            if (e != EINTR) throw SyscallException.of("poll", e);
            if (timeoutMillis > 0) {
                timeout = (int) Math.max(0, (deadline - System.nanoTime() + 999_999) / 1_000_000);
            }
        }
    }

    /** {@code epoll_create1(flags)}. */
    public static int epoll_create1(int flags) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) EpollCreate1.H.invokeExact(st, flags); } catch (Throwable t) { throw unchecked(t); }
        return check("epoll_create1", r, st);
    }

    /** {@code epoll_ctl(epfd, op, fd, event)}. */
    public static void epoll_ctl(int epfd, int op, int fd, MemorySegment event) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) EpollCtl.H.invokeExact(st, epfd, op, fd, event); } catch (Throwable t) { throw unchecked(t); }
        check("epoll_ctl", r, st);
    }

    /** {@code epoll_wait}: ready events, 0 on timeout or when a signal interrupted the wait (callers loop anyway). */
    public static int epoll_wait(int epfd, MemorySegment events, int maxEvents, int timeoutMillis) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) EpollWait.H.invokeExact(st, epfd, events, maxEvents, timeoutMillis); } catch (Throwable t) { throw unchecked(t); }
        if (r >= 0) return r;
        if (errno(st) == EINTR) return 0;
        throw SyscallException.of("epoll_wait", errno(st));
    }

    /** {@code eventfd(initval, flags)}. */
    public static int eventfd(int initval, int flags) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) Eventfd.H.invokeExact(st, initval, flags); } catch (Throwable t) { throw unchecked(t); }
        return check("eventfd", r, st);
    }

    // =====================================================================================================
    // processes
    // =====================================================================================================

    /** Throws for a non-zero error number returned (not set in errno) by the posix_spawn family and pthread calls. */
    public static void checkReturned(String call, String subject, int error) throws SyscallException {
        if (error != 0) throw SyscallException.of(call, subject, error);
    }

    /** {@code waitpid(pid, status, options)}, retried on EINTR: the pid reaped, or 0 with WNOHANG and nothing to reap. */
    public static int waitpid(int pid, MemorySegment status, int options) throws SyscallException {
        MemorySegment st = state();
        for (;;) {
            int r;
            try { r = (int) Waitpid.H.invokeExact(st, pid, status, options); } catch (Throwable t) { throw unchecked(t); }
            if (r >= 0) return r;
            if (errno(st) != EINTR) throw SyscallException.of("waitpid", "pid " + pid, errno(st));
        }
    }

    /** {@code waitid(idtype, id, infop, options)}, retried on EINTR. */
    public static void waitid(int idtype, int id, MemorySegment infop, int options) throws SyscallException {
        MemorySegment st = state();
        for (;;) {
            int r;
            try { r = (int) Waitid.H.invokeExact(st, idtype, id, infop, options); } catch (Throwable t) { throw unchecked(t); }
            if (r == 0) return;
            if (errno(st) != EINTR) throw SyscallException.of("waitid", errno(st));
        }
    }

    /** {@code kill(pid, sig)}. */
    public static void kill(int pid, int sig) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) Kill.H.invokeExact(st, pid, sig); } catch (Throwable t) { throw unchecked(t); }
        if (r == -1) throw SyscallException.of("kill", "pid " + pid, errno(st));
    }

    /**
     * {@code pidfd_open(pid, flags)}: glibc's wrapper where the C library has one (2.36+), else the raw
     * {@code syscall(SYS_pidfd_open, ...)}. ENOSYS means the kernel has no pidfds (before 5.3).
     */
    public static int pidfd_open(int pid, int flags) throws SyscallException {
        MemorySegment st = state();
        long r;
        try {
            r = Pidfd.OPEN != null
                    ? (int) Pidfd.OPEN.invokeExact(st, pid, flags)
                    : (long) Syscall4.H.invokeExact(st, (long) linux_h.SYS_pidfd_open(), (long) pid, (long) flags, 0L, 0L);
        } catch (Throwable t) { throw unchecked(t); }
        if (r == -1) throw SyscallException.of("pidfd_open", "pid " + pid, errno(st));
        return (int) r;
    }

    /** {@code pidfd_send_signal(pidfd, sig, NULL, 0)}: signals the exact process the pidfd names, never a recycled pid. */
    public static void pidfd_send_signal(int pidfd, int sig) throws SyscallException {
        pidfd_send_signal(pidfd, sig, 0);
    }

    /**
     * {@code pidfd_send_signal}'s flag (Linux 6.9; older kernels refuse it with EINVAL) that signals the process
     * group the pidfd's process leads, named by its {@code struct pid} rather than its number: right even once
     * the leader has been reaped and its number may be another process's. From {@code <linux/pidfd.h>} of Linux
     * 6.9+; typed in because the headers the bindings are generated from predate it (Debian 12: glibc 2.36's
     * {@code <sys/pidfd.h>} and linux-libc-dev 6.1 have no such name), so jextract cannot take it. CLayoutTest checks
     * it against the C compiler wherever the headers {@code linux.h} includes define it: once they do, add it to
     * linux-includes.txt and use the generated one.
     */
    public static final int PIDFD_SIGNAL_PROCESS_GROUP = 1 << 2;

    /** {@code pidfd_send_signal(pidfd, sig, NULL, flags)}. */
    public static void pidfd_send_signal(int pidfd, int sig, int flags) throws SyscallException {
        MemorySegment st = state();
        long r;
        try {
            r = Pidfd.SEND_SIGNAL != null
                    ? (int) Pidfd.SEND_SIGNAL.invokeExact(st, pidfd, sig, MemorySegment.NULL, flags)
                    : (long) Syscall4.H.invokeExact(st, (long) linux_h.SYS_pidfd_send_signal(), (long) pidfd, (long) sig, 0L, (long) flags);   // info NULL
        } catch (Throwable t) { throw unchecked(t); }
        if (r == -1) throw SyscallException.of("pidfd_send_signal", errno(st));
    }

    /**
     * {@code SIG_IGN}, the handler address that means "ignore": {@code ((__sighandler_t) 1)} in
     * {@code <bits/signum-generic.h>}. Typed in because jextract takes no macro that casts to a function pointer
     * type (it generates nothing for {@code SIG_IGN} or {@code SIG_DFL}); CLayoutTest checks it against the C
     * compiler.
     */
    public static final long SIG_IGN = 1;

    /**
     * Whether this process ignores {@code sig} ({@code SIG_IGN}), by {@code sigaction(sig, NULL, &old)}: the
     * disposition a child keeps across exec.
     */
    public static boolean isIgnored(int sig) throws SyscallException {
        MemorySegment st = state();
        int r;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment old = sigaction.allocate(arena);
            try { r = (int) Sigaction.H.invokeExact(st, sig, MemorySegment.NULL, old); } catch (Throwable t) { throw unchecked(t); }
            if (r == -1) throw SyscallException.of("sigaction", Integer.toString(sig), errno(st));
            return sigaction.__sigaction_handler.sa_handler(sigaction.__sigaction_handler(old)).address() == SIG_IGN;
        }
    }

    /** {@code getpgrp()}: the calling process's group; cannot fail. */
    public static int getpgrp() {
        return linux_h.getpgrp();
    }

    /**
     * {@code tcgetpgrp(fd)}: the foreground process group of the terminal {@code fd}, which must be the caller's
     * controlling terminal (ENOTTY if it is not, or not a terminal at all).
     */
    public static int tcgetpgrp(int fd) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) Tcgetpgrp.H.invokeExact(st, fd); } catch (Throwable t) { throw unchecked(t); }
        if (r == -1) throw SyscallException.of("tcgetpgrp", "fd " + fd, errno(st));
        return r;
    }

    /**
     * {@code tcsetpgrp(fd, pgrp)}. From a process outside the terminal's foreground group the kernel sends its
     * group SIGTTOU instead, unless the calling thread blocks or ignores SIGTTOU: the caller sees to that.
     */
    public static void tcsetpgrp(int fd, int pgrp) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) Tcsetpgrp.H.invokeExact(st, fd, pgrp); } catch (Throwable t) { throw unchecked(t); }
        if (r == -1) throw SyscallException.of("tcsetpgrp", "fd " + fd + ", group " + pgrp, errno(st));
    }

    /**
     * {@code raise(sig)}: the signal to the calling thread, so a stop signal stops the process before this call
     * returns (a {@code kill} of the own process may be taken by another thread, and the caller run on a moment).
     */
    public static void raise(int sig) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) Raise.H.invokeExact(st, sig); } catch (Throwable t) { throw unchecked(t); }
        if (r != 0) throw SyscallException.of("raise", "signal " + sig, errno(st));
    }

    /** The pidfd calls, linked only if this C library exports them. */
    private static final class Pidfd {
        static final MethodHandle OPEN = optional("pidfd_open", linux_h.pidfd_open$descriptor());
        static final MethodHandle SEND_SIGNAL = optional("pidfd_send_signal", linux_h.pidfd_send_signal$descriptor());

        private static MethodHandle optional(String name, FunctionDescriptor descriptor) {
            Optional<MemorySegment> address = SymbolLookup.loaderLookup().or(LINKER.defaultLookup()).find(name);
            return address.map(a -> link(a, descriptor)).orElse(null);
        }
    }

    // =====================================================================================================
    // zero-copy: splice family, memfd, shm, mmap
    // =====================================================================================================

    /** {@code vmsplice(fd, iov, nr_segs, flags)}: bytes moved, or {@link #WOULD_BLOCK}. */
    public static long vmsplice(int fd, MemorySegment iov, long nrSegs, int flags) throws SyscallException {
        MemorySegment st = state();
        for (;;) {
            long r;
            try { r = (long) Vmsplice.H.invokeExact(st, fd, iov, nrSegs, flags); } catch (Throwable t) { throw unchecked(t); }
            if (r >= 0) return r;
            int e = errno(st);
            if (e == EINTR) continue;
            if (e == EAGAIN) return WOULD_BLOCK;
            throw SyscallException.of("vmsplice", e);
        }
    }

    /** {@code memfd_create(name, flags)}. */
    public static int memfd_create(MemorySegment name, int flags) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) MemfdCreate.H.invokeExact(st, name, flags); } catch (Throwable t) { throw unchecked(t); }
        if (r == -1) throw SyscallException.of("memfd_create", name.getString(0), errno(st));
        return r;
    }

    /** {@code shm_open(name, oflag, mode)}; the exception names the object. */
    public static int shm_open(MemorySegment name, int oflag, int mode) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) ShmOpen.H.invokeExact(st, name, oflag, mode); } catch (Throwable t) { throw unchecked(t); }
        if (r == -1) throw SyscallException.of("shm_open", name.getString(0), errno(st));
        return r;
    }

    /** {@code shm_unlink(name)}. */
    public static void shm_unlink(MemorySegment name) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) ShmUnlink.H.invokeExact(st, name); } catch (Throwable t) { throw unchecked(t); }
        if (r == -1) throw SyscallException.of("shm_unlink", name.getString(0), errno(st));
    }

    /** {@code mmap}: the mapping's address as a zero-length segment (the caller reinterprets it to its size). */
    public static MemorySegment mmap(MemorySegment addr, long length, int prot, int flags, int fd, long offset)
            throws SyscallException {
        MemorySegment st = state();
        MemorySegment r;
        try { r = (MemorySegment) Mmap.H.invokeExact(st, addr, length, prot, flags, fd, offset); } catch (Throwable t) { throw unchecked(t); }
        if (r.address() == linux_h.MAP_FAILED().address()) throw SyscallException.of("mmap", errno(st));
        return r;
    }

    /** {@code munmap(addr, length)}. */
    public static void munmap(MemorySegment addr, long length) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) Munmap.H.invokeExact(st, addr, length); } catch (Throwable t) { throw unchecked(t); }
        check("munmap", r, st);
    }

    // =====================================================================================================
    // sockets
    // =====================================================================================================

    /** {@code socketpair(domain, type, protocol, sv)}. */
    public static void socketpair(int domain, int type, int protocol, MemorySegment sv) throws SyscallException {
        MemorySegment st = state();
        int r;
        try { r = (int) Socketpair.H.invokeExact(st, domain, type, protocol, sv); } catch (Throwable t) { throw unchecked(t); }
        check("socketpair", r, st);
    }

    /** {@code sendmsg}: bytes sent, or {@link #WOULD_BLOCK}; EPIPE is a {@link BrokenPipeException}. */
    public static long sendmsg(int fd, MemorySegment msg, int flags) throws SyscallException {
        MemorySegment st = state();
        for (;;) {
            long r;
            try { r = (long) Sendmsg.H.invokeExact(st, fd, msg, flags); } catch (Throwable t) { throw unchecked(t); }
            if (r >= 0) return r;
            int e = errno(st);
            if (e == EINTR) continue;
            if (e == EAGAIN) return WOULD_BLOCK;
            throw SyscallException.of("sendmsg", e);
        }
    }

    /** {@code recvmsg}: bytes received, 0 at end of stream, or {@link #WOULD_BLOCK}. */
    public static long recvmsg(int fd, MemorySegment msg, int flags) throws SyscallException {
        MemorySegment st = state();
        for (;;) {
            long r;
            try { r = (long) Recvmsg.H.invokeExact(st, fd, msg, flags); } catch (Throwable t) { throw unchecked(t); }
            if (r >= 0) return r;
            int e = errno(st);
            if (e == EINTR) continue;
            if (e == EAGAIN) return WOULD_BLOCK;
            throw SyscallException.of("recvmsg", e);
        }
    }

    // =====================================================================================================
    // process environment
    // =====================================================================================================

    /**
     * {@code sysconf(name)}. -1 means "no limit" or an unknown name: errno cannot tell them apart here,
     * because it is captured after the call and sysconf leaves it untouched for "no limit".
     */
    public static long sysconf(int name) {
        MemorySegment st = state();
        try { return (long) Sysconf.H.invokeExact(st, name); } catch (Throwable t) { throw unchecked(t); }
    }

    // =====================================================================================================
    // shared-memory synchronisation: futex
    // =====================================================================================================

    /** {@link #futex_wait} outcome: woken by {@link #futex_wake}, or spuriously; re-check the word. */
    public static final int FUTEX_WOKEN = 0;
    /** {@link #futex_wait} outcome: the word no longer held the expected value, so the call did not sleep. */
    public static final int FUTEX_VALUE_CHANGED = 1;
    /** {@link #futex_wait} outcome: the timeout passed. */
    public static final int FUTEX_TIMED_OUT = 2;

    /**
     * {@code futex(word, FUTEX_WAIT, expected, timeout)} on a 4-byte aligned word of shared memory: sleeps
     * while the word holds {@code expected}, at most {@code timeoutNanos} (negative: no limit). Not
     * FUTEX_PRIVATE, so the word may live in memory mapped by several processes. EINTR counts as a
     * spurious wake-up, because the caller re-checks its condition anyway.
     */
    public static int futex_wait(MemorySegment word, int expected, long timeoutNanos) throws SyscallException {
        long start = timeoutNanos > 0 ? System.nanoTime() : 0;
        long r;
        try {
            r = (long) SyscallFutexNoErrno.H.invokeExact((long) linux_h.SYS_futex(), word, linux_h.FUTEX_WAIT(), expected,
                    futexTimeout(timeoutNanos), MemorySegment.NULL, 0);
        } catch (Throwable t) { throw unchecked(t); }
        if (r == 0) return FUTEX_WOKEN;
        // errno was not captured: tell EAGAIN and ETIMEDOUT by their causes. What is left (EINTR, a word that
        // changed and changed back, an error) is asked again with errno captured, for the time that is left.
        if (word.get(java.lang.foreign.ValueLayout.JAVA_INT_UNALIGNED, 0) != expected) return FUTEX_VALUE_CHANGED;
        long left = timeoutNanos;
        if (timeoutNanos >= 0) {
            left = timeoutNanos - (timeoutNanos > 0 ? System.nanoTime() - start : 0);
            if (left <= 0) return FUTEX_TIMED_OUT;
        }
        return futexWaitCapturingErrno(word, expected, left);
    }

    /** The relative timeout of a FUTEX_WAIT in this thread's timespec; NULL for none ({@code timeoutNanos < 0}). */
    private static MemorySegment futexTimeout(long timeoutNanos) {
        if (timeoutNanos < 0) return MemorySegment.NULL;
        MemorySegment timeout = FUTEX_TIMEOUT.get();
        timespec.tv_sec(timeout, timeoutNanos / 1_000_000_000L);
        timespec.tv_nsec(timeout, timeoutNanos % 1_000_000_000L);
        return timeout;
    }

    private static int futexWaitCapturingErrno(MemorySegment word, int expected, long timeoutNanos) throws SyscallException {
        MemorySegment st = state();
        MemorySegment timeout = futexTimeout(timeoutNanos);
        long r;
        try {
            r = (long) SyscallFutex.H.invokeExact(st, (long) linux_h.SYS_futex(), word, linux_h.FUTEX_WAIT(), expected,
                    timeout, MemorySegment.NULL, 0);
        } catch (Throwable t) { throw unchecked(t); }
        if (r == 0) return FUTEX_WOKEN;
        int e = errno(st);
        if (e == EAGAIN) return FUTEX_VALUE_CHANGED;
        if (e == linux_h.ETIMEDOUT()) return FUTEX_TIMED_OUT;
        if (e == EINTR) return FUTEX_WOKEN;
        throw SyscallException.of("futex(FUTEX_WAIT)", e);
    }

    /** {@code futex(word, FUTEX_WAKE, count)}: wakes up to {@code count} waiters; returns how many woke. */
    public static int futex_wake(MemorySegment word, int count) throws SyscallException {
        long woken;
        try {
            woken = (long) SyscallFutexNoErrno.H.invokeExact((long) linux_h.SYS_futex(), word, linux_h.FUTEX_WAKE(), count,
                    MemorySegment.NULL, MemorySegment.NULL, 0);
        } catch (Throwable t) { throw unchecked(t); }
        if (woken >= 0) return (int) woken;
        // Failed: again with errno captured, to name the error (a wake-up too many is harmless).
        MemorySegment st = state();
        long r;
        try {
            r = (long) SyscallFutex.H.invokeExact(st, (long) linux_h.SYS_futex(), word, linux_h.FUTEX_WAKE(), count,
                    MemorySegment.NULL, MemorySegment.NULL, 0);
        } catch (Throwable t) { throw unchecked(t); }
        if (r == -1) throw SyscallException.of("futex(FUTEX_WAKE)", errno(st));
        return (int) r;
    }

    // futex_waitv (Linux 5.16): SYS_futex_waitv, FUTEX_32 (newer headers: FUTEX2_SIZE_U32, the word is 32 bits; without
    // FUTEX_PRIVATE_FLAG, newer FUTEX2_PRIVATE, it may be shared), FUTEX_WAITV_MAX and struct futex_waitv
    // {__u64 val; __u64 uaddr; __u32 flags; __u32 __reserved;} are linux_h's and futex_waitv's, generated.

    /** {@link #futex_waitv} outcome: a word did not hold its expected value (EAGAIN; which one, the kernel does not say), or a signal came (EINTR). */
    public static final int FUTEX_WAITV_LOOK = -1;

    /**
     * {@code futex_waitv(waiters, count, 0, NULL, 0)}: sleeps, with no time limit, until one of the {@code count}
     * {@code struct futex_waitv} entries at {@code waiters} is woken by a {@link #futex_wake} of its word, and returns
     * that entry's index (if a wake-up reaches several entries, one of them: the kernel reports one). Returns
     * {@link #FUTEX_WAITV_LOOK} at once if a word does not hold its expected value, and on a signal. A waiting
     * {@code futex_waitv} counts as one waiter of each entry's word, to a {@code futex_wake}'s count.
     *
     * @throws SyscallException ENOSYS before Linux 5.16, EPERM or ENOSYS where a seccomp filter refuses it, EFAULT
     *                          for a word that is not mapped, EINVAL for a malformed entry
     */
    public static int futex_waitv(MemorySegment waiters, int count) throws SyscallException {
        MemorySegment st = state();
        long r;
        try {
            r = (long) SyscallFutexWaitv.H.invokeExact(st, (long) linux_h.SYS_futex_waitv(), waiters, count, 0, MemorySegment.NULL, 0);
        } catch (Throwable t) { throw unchecked(t); }
        if (r >= 0) return (int) r;
        int e = errno(st);
        if (e == EAGAIN || e == EINTR) return FUTEX_WAITV_LOOK;
        throw SyscallException.of("futex_waitv", e);
    }

    /** {@code gettid()}: the calling kernel thread's id. */
    public static int gettid() {
        MemorySegment st = state();
        try {
            return (int) (long) Syscall4.H.invokeExact(st, (long) linux_h.SYS_gettid(), 0L, 0L, 0L, 0L);
        } catch (Throwable t) { throw unchecked(t); }
    }

    /**
     * {@code sched_getcpu()}: the CPU the calling thread runs on now (it may move right after), or -1 where the
     * kernel cannot tell. A hint for deciding whether spinning on a peer can help, never for correctness.
     */
    public static int sched_getcpu() {
        try { return (int) SchedGetcpu.H.invokeExact(); } catch (Throwable t) { throw unchecked(t); }
    }

    /**
     * {@code geteuid()}: the effective uid, as an int ({@code uid_t} is unsigned; compare it as it comes with
     * {@code st_uid}). Cannot fail. The kernel checks file access against the fs uid, which follows the effective
     * uid unless {@code setfsuid} set it apart, which nothing in a JVM does. jextract's own handle, like
     * {@link #getpid}'s: a call that cannot fail needs no errno captured.
     */
    public static int geteuid() {
        return linux_h.geteuid();
    }

    /** {@code getpid()}; cannot fail. */
    public static int getpid() {
        return linux_h.getpid();
    }

    /** The C library's {@code environ}: the address of the calling process's NULL-terminated environment array. */
    public static MemorySegment environ() {
        return linux_h.environ();
    }
}
