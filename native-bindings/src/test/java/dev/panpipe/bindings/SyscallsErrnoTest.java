package dev.panpipe.bindings;

import dev.panpipe.bindings.linux.linux_h;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The errno-capturing layer: real failing calls, and what the exceptions and return values say about them. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class SyscallsErrnoTest {
    private Set<String> fdsBefore;

    /**
     * The JDK's temporary-file names come from a SecureRandom that opens /dev/random and /dev/urandom on first
     * use and keeps them: made here, a @TempDir test run first (or alone) would otherwise count them as leaked.
     */
    @BeforeAll
    static void openTheJdksLazyFds() throws IOException {
        Files.delete(Files.createTempDirectory("panpipe-warm"));
    }

    @BeforeEach
    void snapshotFds() throws IOException {
        fdsBefore = openFds();
    }

    @AfterEach
    void shouldLeaveNoFdBehind() throws IOException {
        assertEquals(fdsBefore, openFds(), "fds opened by the test are still open");
    }

    @Test
    void shouldNameCallErrnoAndTextWhenCloseFails() {
        SyscallException e = assertThrows(SyscallException.class, () -> Syscalls.close(-1));
        assertEquals("close", e.call());
        assertEquals("EBADF", e.errnoName());
        assertEquals(linux_h.EBADF(), e.errno());
        assertEquals("close: EBADF (Bad file descriptor)", e.getMessage());
    }

    @Test
    void shouldNameThePathWhenOpenFails(@TempDir Path dir) {
        Path missing = dir.resolve("no-such-file");
        SyscallException e;
        try (Arena arena = Arena.ofConfined()) {
            e = assertThrows(SyscallException.class,
                    () -> Syscalls.open(arena.allocateFrom(missing.toString()), linux_h.O_RDONLY() | linux_h.O_CLOEXEC(), 0));
        }
        assertEquals("open", e.call());
        assertEquals("ENOENT", e.errnoName());
        assertEquals("open " + missing + ": ENOENT (No such file or directory)", e.getMessage());
    }

    @Test
    void shouldReturnWouldBlockInsteadOfThrowingOnAnEmptyNonBlockingPipe() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            int[] fds = pipe(arena, linux_h.O_NONBLOCK());
            try {
                MemorySegment buf = arena.allocate(16);
                assertEquals(Syscalls.WOULD_BLOCK, Syscalls.read(fds[0], buf, buf.byteSize()));
                // ... and the same fd still works, so nothing was left in a failed state
                buf.set(linux_h.C_CHAR, 0, (byte) 'x');
                assertEquals(1, Syscalls.write(fds[1], buf, 1));
                assertEquals(1, Syscalls.read(fds[0], buf, buf.byteSize()));
                assertEquals(Syscalls.WOULD_BLOCK, Syscalls.read(fds[0], buf, buf.byteSize()));
            } finally {
                Syscalls.close(fds[0]);
                Syscalls.close(fds[1]);
            }
        }
    }

    @Test
    void shouldThrowAReadErrorOnTheReadAfterTheUnprovenWouldBlock() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            int[] fds = pipe(arena, linux_h.O_NONBLOCK());
            try {
                MemorySegment buf = arena.allocate(16);
                // Reading the write end fails with EBADF. The first failure is taken for EAGAIN without a
                // system call to prove it (a caller waits for the fd, which here is "ready" at once), and
                // the read after it names the error: never lost, never a hang.
                assertEquals(Syscalls.WOULD_BLOCK, Syscalls.read(fds[1], buf, buf.byteSize()));
                SyscallException e = assertThrows(SyscallException.class, () -> Syscalls.read(fds[1], buf, buf.byteSize()));
                assertEquals("read", e.call());
                assertEquals("EBADF", e.errnoName());
                // A real EAGAIN on the other end stays WOULD_BLOCK however often it comes.
                for (int i = 0; i < 3; i++) assertEquals(Syscalls.WOULD_BLOCK, Syscalls.read(fds[0], buf, buf.byteSize()));
            } finally {
                Syscalls.close(fds[0]);
                Syscalls.close(fds[1]);
            }
        }
    }

    @Test
    void shouldWriteFromAnOffsetWithoutASliceAndFailAsWriteDoes() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            int[] fds = pipe(arena, linux_h.O_NONBLOCK());
            try {
                MemorySegment src = arena.allocate(10);
                for (int i = 0; i < 10; i++) src.set(linux_h.C_CHAR, i, (byte) ('a' + i));
                assertEquals(3, Syscalls.write(fds[1], src, 6, 3));
                MemorySegment dst = arena.allocate(16);
                assertEquals(3, Syscalls.read(fds[0], dst, dst.byteSize()));
                assertEquals("ghi", dst.getString(0, java.nio.charset.StandardCharsets.US_ASCII).substring(0, 3));
                assertThrows(IndexOutOfBoundsException.class, () -> Syscalls.write(fds[1], src, 8, 3));
                // A full non-blocking pipe: EAGAIN is told without errno, by a poll that finds it not writable.
                MemorySegment big = arena.allocate(1 << 20);
                long queued = 0;
                for (long n; (n = Syscalls.write(fds[1], big, 1, big.byteSize() - 1)) != Syscalls.WOULD_BLOCK; ) queued += n;
                assertEquals(Syscalls.WOULD_BLOCK, Syscalls.write(fds[1], big, 7, 100));
                assertTrue(queued > 0, "the pipe took what fitted before it refused");
                Syscalls.close(fds[0]);
                fds[0] = -1;
                BrokenPipeException e = assertThrows(BrokenPipeException.class, () -> Syscalls.write(fds[1], src, 1, 1));
                assertEquals("write: EPIPE (Broken pipe)", e.getMessage());
            } finally {
                if (fds[0] >= 0) Syscalls.close(fds[0]);
                Syscalls.close(fds[1]);
            }
        }
    }

    @Test
    void shouldWriteWhatFitsWithoutSleepingOnAFullPipeInBlockingMode() throws Exception {
        // A pipe in blocking mode, as an end shared with a child is: write(2) would sleep here until room comes.
        try (Arena arena = Arena.ofShared()) {
            int[] fds = pipe(arena, 0);
            try {
                int capacity = Syscalls.fcntl(fds[1], linux_h.F_GETPIPE_SZ(), 0);
                MemorySegment src = arena.allocate(capacity * 2L);
                for (long i = 0; i < src.byteSize(); i++) src.set(linux_h.C_CHAR, i, (byte) (i * 7 + 3));
                long first;
                try {
                    first = writeNoWaitOrFree(fds, src, 1, src.byteSize() - 1);
                } catch (SyscallException e) {
                    Assumptions.assumeFalse(e.errno() == linux_h.EOPNOTSUPP(), "pipes take RWF_NOWAIT from Linux 6.4 on");
                    throw e;
                }
                assertEquals(capacity, first, "a partial write: what fits, from the offset, all of the pipe");
                assertEquals(Syscalls.WOULD_BLOCK, writeNoWaitOrFree(fds, src, 0, 100), "full: no room, no sleep");
                assertEquals(Syscalls.WOULD_BLOCK, writeNoWaitOrFree(fds, src, 0, 1), "not even a byte");
                assertEquals(0, Syscalls.fcntl(fds[1], linux_h.F_GETFL(), 0) & linux_h.O_NONBLOCK(),
                        "the shared description stays in blocking mode");
                // A page read frees one page of room: a write of two pages puts one in and says so.
                MemorySegment dst = arena.allocate(capacity);
                assertEquals(4096, Syscalls.read(fds[0], dst, 4096));
                assertEquals(4096, writeNoWaitOrFree(fds, src, 0, 8192));
                // What went in came from the offset, in order.
                long got = 4096 + Syscalls.read(fds[0], dst.asSlice(4096), capacity - 4096);
                assertEquals(capacity, got);
                assertEquals(-1, dst.mismatch(src.asSlice(1, capacity)), "the bytes written are src[1, 1 + capacity)");
                assertThrows(IndexOutOfBoundsException.class, () -> Syscalls.writeNoWait(fds[1], src, src.byteSize() - 1, 2));
                Syscalls.close(fds[0]);
                fds[0] = -1;
                BrokenPipeException e = assertThrows(BrokenPipeException.class, () -> writeNoWaitOrFree(fds, src, 0, 1));
                assertEquals("pwritev2: EPIPE (Broken pipe)", e.getMessage());
            } finally {
                if (fds[0] >= 0) Syscalls.close(fds[0]);
                Syscalls.close(fds[1]);
            }
        }
    }

    @Test
    void shouldReadWhatIsThereWithoutSleepingOnAnEmptyPipeInBlockingMode() throws Exception {
        // A pipe in blocking mode, as an end shared with a child is: read(2) would sleep here until a byte comes.
        try (Arena arena = Arena.ofShared()) {
            int[] fds = pipe(arena, 0);
            try {
                MemorySegment dst = arena.allocate(1000);
                long first;
                try {
                    first = readNoWaitOrFree(fds, dst, 0, 100);
                } catch (SyscallException e) {
                    Assumptions.assumeFalse(e.errno() == linux_h.EOPNOTSUPP(), "pipes take RWF_NOWAIT from Linux 6.4 on");
                    throw e;
                }
                assertEquals(Syscalls.WOULD_BLOCK, first, "empty, with a writer: nothing, no sleep");
                MemorySegment src = arena.allocate(300);
                for (long i = 0; i < src.byteSize(); i++) src.set(linux_h.C_CHAR, i, (byte) (i * 7 + 3));
                assertEquals(300, Syscalls.write(fds[1], src, 300));
                assertEquals(100, readNoWaitOrFree(fds, dst, 10, 100), "no more than asked");
                assertEquals(200, readNoWaitOrFree(fds, dst, 110, 500), "what is there: the rest");
                assertEquals(-1, dst.asSlice(10, 300).mismatch(src), "in order, from the offset");
                assertEquals(Syscalls.WOULD_BLOCK, readNoWaitOrFree(fds, dst, 0, 1), "empty again");
                assertEquals(0, Syscalls.fcntl(fds[0], linux_h.F_GETFL(), 0) & linux_h.O_NONBLOCK(),
                        "the shared description stays in blocking mode");
                assertThrows(IndexOutOfBoundsException.class, () -> Syscalls.readNoWait(fds[0], dst, dst.byteSize() - 1, 2));
                assertThrows(IllegalArgumentException.class, () -> Syscalls.readNoWait(fds[0], MemorySegment.ofArray(new byte[4]), 0, 4));
                Syscalls.close(fds[1]);
                fds[1] = -1;
                assertEquals(0, readNoWaitOrFree(fds, dst, 0, 1), "no writer left: end of stream, not EAGAIN");
                SyscallException e = assertThrows(SyscallException.class, () -> Syscalls.readNoWait(1_000_000, dst, 0, 1));
                assertEquals("preadv2: EBADF (Bad file descriptor)", e.getMessage());
            } finally {
                Syscalls.close(fds[0]);
                if (fds[1] >= 0) Syscalls.close(fds[1]);
            }
        }
    }

    @Test
    void shouldRefuseANoWaitReadOfAFileThatCannotBeforeReadingAnything(@TempDir Path dir) throws Exception {
        // As for writes: a FIFO opened by path has no FMODE_NOWAIT (on 6.18 still); the refusal comes before any byte
        // is taken, so the caller can read the same bytes another way.
        try (Arena arena = Arena.ofShared()) {
            int[] ends = fifoOpenedByPath(dir.resolve("fifo"), arena);
            int reader = ends[0], writer = ends[1];
            try {
                MemorySegment src = arena.allocate(16);
                assertEquals(16, Syscalls.write(writer, src, 16));
                long n;
                try {
                    n = Syscalls.readNoWait(reader, arena.allocate(16), 0, 16);
                } catch (SyscallException refused) {
                    assertEquals("EOPNOTSUPP", refused.errnoName());
                    assertEquals("preadv2", refused.call());
                    n = 0;
                }
                assertEquals(16 - n, queued(reader, arena), "read bytes are the ones gone: none when refused");
            } finally {
                Syscalls.close(writer);
                Syscalls.close(reader);
            }
        }
    }

    /**
     * {@link Syscalls#readNoWait} on {@code fds[0]}, on a thread of its own and waited for 10 s: a call that sleeps
     * instead (the regression this guards against) is freed by writing to the pipe, and the test fails, not hangs.
     */
    private static long readNoWaitOrFree(int[] fds, MemorySegment dst, long offset, long count) throws Exception {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment b = arena.allocate(1);
            return inTimeOrFree(() -> Syscalls.readNoWait(fds[0], dst, offset, count),
                    () -> { if (fds[1] >= 0) Syscalls.write(fds[1], b, 1); },
                    "readNoWait slept on an empty pipe (freed by writing to it)");
        }
    }

    @Test
    void shouldRefuseANoWaitWriteToAFileThatCannotBeforeWritingAnything(@TempDir Path dir) throws Exception {
        // A FIFO opened by path has no FMODE_NOWAIT (on 6.18 still), nor has a pipe end vmsplice has used: the
        // refusal comes before any byte is written, so the caller can write the same bytes another way.
        try (Arena arena = Arena.ofShared()) {
            int[] ends = fifoOpenedByPath(dir.resolve("fifo"), arena);
            int reader = ends[0], writer = ends[1];
            try {
                MemorySegment src = arena.allocate(16);
                long n;
                try {
                    n = Syscalls.writeNoWait(writer, src, 0, 16);
                } catch (SyscallException refused) {
                    assertEquals("EOPNOTSUPP", refused.errnoName());
                    assertEquals("pwritev2", refused.call());
                    n = 0;
                }
                assertEquals(n, queued(reader, arena), "written bytes are the ones queued: none when refused");
            } finally {
                Syscalls.close(writer);
                Syscalls.close(reader);
            }
            int[] fds = pipe(arena, 0);
            try {
                MemorySegment iov = dev.panpipe.bindings.linux.iovec.allocate(arena);
                MemorySegment page = arena.allocate(16);
                dev.panpipe.bindings.linux.iovec.iov_base(iov, page);
                dev.panpipe.bindings.linux.iovec.iov_len(iov, 16);
                assertEquals(16, Syscalls.vmsplice(fds[1], iov, 1, 0));
                long n;
                try {
                    n = Syscalls.writeNoWait(fds[1], page, 0, 16);
                } catch (SyscallException refused) {
                    assertEquals("EOPNOTSUPP", refused.errnoName());
                    n = 0;
                }
                assertEquals(16 + n, queued(fds[0], arena));
            } finally {
                Syscalls.close(fds[0]);
                Syscalls.close(fds[1]);
            }
        }
    }

    /**
     * {@link Syscalls#writeNoWait} on {@code fds[1]}, on a thread of its own and waited for 10 s: a call that sleeps
     * instead (the regression this guards against) is freed by emptying the pipe, and the test fails, not hangs.
     */
    private static long writeNoWaitOrFree(int[] fds, MemorySegment src, long offset, long count) throws Exception {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment sink = arena.allocate(1 << 20);
            return inTimeOrFree(() -> Syscalls.writeNoWait(fds[1], src, offset, count), () -> {
                // Non-blocking, the read end's own description, so that the emptying cannot hang either.
                Syscalls.fcntl(fds[0], linux_h.F_SETFL(), Syscalls.fcntl(fds[0], linux_h.F_GETFL(), 0) | linux_h.O_NONBLOCK());
                Syscalls.read(fds[0], sink, sink.byteSize());
            }, "writeNoWait slept on a full pipe (freed by reading it)");
        }
    }

    /** One step of freeing a call stuck in the kernel. */
    private interface Unblock {
        void step() throws Exception;
    }

    /**
     * {@code call}'s result, on a thread of its own, waited for 10 s; if it is still running then, {@code unblock}
     * is repeated until it returns, and the test fails with {@code stuck}.
     */
    private static long inTimeOrFree(Callable<Long> call, Unblock unblock, String stuck) throws Exception {
        ExecutorService one = Executors.newSingleThreadExecutor();
        try {
            Future<Long> running = one.submit(call);
            try {
                return running.get(10, TimeUnit.SECONDS);
            } catch (java.util.concurrent.ExecutionException e) {
                if (e.getCause() instanceof Exception cause) throw cause;
                throw e;
            } catch (java.util.concurrent.TimeoutException e) {
                while (!running.isDone()) {
                    unblock.step();
                    Thread.sleep(1);
                }
                throw new AssertionError(stuck);
            }
        } finally {
            one.shutdownNow();
        }
    }

    /** Bytes queued in the pipe or FIFO {@code fd}: FIONREAD. */
    private static int queued(int fd, Arena arena) throws SyscallException {
        MemorySegment n = arena.allocate(linux_h.C_INT);
        Syscalls.ioctl(fd, linux_h.FIONREAD(), n);
        return n.get(linux_h.C_INT, 0);
    }

    @Test
    void shouldThrowBrokenPipeWhenTheReadEndIsClosed() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            int[] fds = pipe(arena, 0);
            Syscalls.close(fds[0]);
            try {
                MemorySegment buf = arena.allocate(4);
                // The JVM does not die of SIGPIPE: the write fails with EPIPE, which must be its own type.
                BrokenPipeException e = assertThrows(BrokenPipeException.class, () -> Syscalls.write(fds[1], buf, 4));
                assertEquals("write: EPIPE (Broken pipe)", e.getMessage());
                assertEquals("write", e.call());
                assertEquals(Errno.EPIPE, e.errno());
                assertInstanceOf(SyscallException.class, e);
            } finally {
                Syscalls.close(fds[1]);
            }
        }
    }

    @Test
    void shouldCreatePipesCloseOnExecOnlyWhenAsked() throws Exception {
        try (Arena arena = Arena.ofConfined()) {
            int[] cloexec = pipe(arena, 0);
            int[] plain = new int[2];
            MemorySegment fds = arena.allocate(linux_h.C_INT, 2);
            Syscalls.pipe2(fds, 0);
            plain[0] = fds.getAtIndex(linux_h.C_INT, 0);
            plain[1] = fds.getAtIndex(linux_h.C_INT, 1);
            try {
                assertEquals(linux_h.FD_CLOEXEC(), Syscalls.fcntl(cloexec[0], linux_h.F_GETFD(), 0) & linux_h.FD_CLOEXEC());
                assertEquals(0, Syscalls.fcntl(plain[0], linux_h.F_GETFD(), 0) & linux_h.FD_CLOEXEC());
            } finally {
                for (int fd : new int[] {cloexec[0], cloexec[1], plain[0], plain[1]}) Syscalls.close(fd);
            }
        }
    }

    @Test
    void shouldKeepTypeCallAndErrnoWhenAFailureIsSaidOfWhatItWasPartOf() {
        SyscallException pipe = SyscallException.of("pipe2", Errno.EMFILE);
        SyscallException said = pipe.withContext("pipeline stage 2 (cat): cannot open the pipe to stage 3");
        assertEquals("pipeline stage 2 (cat): cannot open the pipe to stage 3: pipe2: EMFILE (Too many open files)", said.getMessage());
        assertEquals("pipe2", said.call());
        assertEquals(Errno.EMFILE, said.errno());
        assertEquals(pipe, said.getCause());
        SyscallException broken = SyscallException.of("write", "stdin of cat", Errno.EPIPE).withContext("feeding stage 1");
        assertInstanceOf(BrokenPipeException.class, broken, "a broken pipe stays one, for callers that catch it");
        assertEquals("feeding stage 1: write stdin of cat: EPIPE (Broken pipe)", broken.getMessage());
    }

    @Test
    void shouldNameAnErrnoPanpipeDoesNotListByNumber() {
        assertEquals("EPIPE", Errno.name(Errno.EPIPE));
        assertEquals("ENOTRECOVERABLE", Errno.name(linux_h.ENOTRECOVERABLE()));
        assertEquals("errno=4000", Errno.name(4000));
        assertEquals("errno=200", Errno.name(200));
        assertEquals("errno=-3", Errno.name(-3));
        SyscallException e = SyscallException.of("frob", 4000);
        assertEquals("frob: errno=4000 (Unknown error 4000)", e.getMessage());
        assertEquals("errno=4000", e.errnoName());
    }

    @Test
    void shouldNameThePidWhenWaitingForAProcessThatIsNotAChild() {
        SyscallException e = assertThrows(SyscallException.class, () -> {
            try (Arena arena = Arena.ofConfined()) {
                Syscalls.waitpid(1, arena.allocate(linux_h.C_INT), linux_h.WNOHANG());
            }
        });
        assertEquals("waitpid pid 1: ECHILD (No child processes)", e.getMessage());
    }

    @Test
    void shouldCaptureEachThreadsOwnErrno() throws Exception {
        // errno is per thread; the capture segment must be too. Two threads fail with different errnos
        // over and over: each must always see its own.
        Path missing = Path.of("/proc/self/no-such-entry");
        Callable<Set<String>> badFd = () -> {
            Set<String> seen = new TreeSet<>();
            for (int i = 0; i < 20_000; i++) {
                try {
                    Syscalls.close(-1);
                } catch (SyscallException e) {
                    seen.add(e.errnoName());
                }
            }
            return seen;
        };
        Callable<Set<String>> noEntry = () -> {
            Set<String> seen = new TreeSet<>();
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment path = arena.allocateFrom(missing.toString());
                for (int i = 0; i < 20_000; i++) {
                    try {
                        Syscalls.close(Syscalls.open(path, linux_h.O_RDONLY() | linux_h.O_CLOEXEC(), 0));
                    } catch (SyscallException e) {
                        seen.add(e.errnoName());
                    }
                }
            }
            return seen;
        };
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<Set<String>>> ebadf = new ArrayList<>();
            List<Future<Set<String>>> enoent = new ArrayList<>();
            for (int i = 0; i < 2; i++) {
                ebadf.add(pool.submit(badFd));
                enoent.add(pool.submit(noEntry));
            }
            for (Future<Set<String>> f : ebadf) assertEquals(Set.of("EBADF"), f.get());
            for (Future<Set<String>> f : enoent) assertEquals(Set.of("ENOENT"), f.get());
        } finally {
            pool.shutdownNow();
            pool.awaitTermination(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void shouldReturnZeroOnPollTimeoutAndReportHangUpOnceWritersAreGone() throws Exception {
        // poll with a timeout on a pipe that never becomes readable returns 0, not an error
        try (Arena arena = Arena.ofConfined()) {
            int[] fds = pipe(arena, 0);
            try {
                MemorySegment set = dev.panpipe.bindings.linux.pollfd.allocate(arena);
                dev.panpipe.bindings.linux.pollfd.fd(set, fds[0]);
                dev.panpipe.bindings.linux.pollfd.events(set, (short) linux_h.POLLIN());
                assertEquals(0, Syscalls.poll(set, 1, 20));
                Syscalls.close(fds[1]);
                fds[1] = -1;
                // with every writer gone the read end reports hang-up
                assertEquals(1, Syscalls.poll(set, 1, 1000));
                assertNotEquals(0, dev.panpipe.bindings.linux.pollfd.revents(set) & linux_h.POLLHUP());
            } finally {
                Syscalls.close(fds[0]);
                if (fds[1] >= 0) Syscalls.close(fds[1]);
            }
        }
    }

    /** A new FIFO at {@code path}, opened by path: {read end (blocking), write end (blocking)}. */
    private static int[] fifoOpenedByPath(Path path, Arena arena) throws SyscallException {
        Syscalls.mkfifoat(linux_h.AT_FDCWD(), arena.allocateFrom(path.toString()), 0600);
        // The reader opens non-blocking (a blocking open would wait for a writer), then goes back to blocking mode.
        int reader = Syscalls.open(arena.allocateFrom(path.toString()), linux_h.O_RDONLY() | linux_h.O_NONBLOCK() | linux_h.O_CLOEXEC(), 0);
        Syscalls.fcntl(reader, linux_h.F_SETFL(), 0);
        int writer = Syscalls.open(arena.allocateFrom(path.toString()), linux_h.O_WRONLY() | linux_h.O_CLOEXEC(), 0);
        return new int[] {reader, writer};
    }

    private static int[] pipe(Arena arena, int extraFlags) throws SyscallException {
        MemorySegment fds = arena.allocate(linux_h.C_INT, 2);
        Syscalls.pipe2(fds, linux_h.O_CLOEXEC() | extraFlags);
        return new int[] {fds.getAtIndex(linux_h.C_INT, 0), fds.getAtIndex(linux_h.C_INT, 1)};
    }

    /** "fd -> target" for each open fd of this JVM. */
    static Set<String> openFds() throws IOException {
        Set<String> fds = new TreeSet<>();
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            for (Path p : (Iterable<Path>) s::iterator) {
                try {
                    fds.add(p.getFileName() + " -> " + Files.readSymbolicLink(p));
                } catch (IOException gone) {
                    // the directory fd of the listing itself, closed by now
                }
            }
        }
        return fds;
    }
}
