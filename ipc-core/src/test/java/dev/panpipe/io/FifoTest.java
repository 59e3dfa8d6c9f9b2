package dev.panpipe.io;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.lang.foreign.Arena;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@ExtendWith(LeakCheck.class)
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class FifoTest {
    @TempDir
    Path dir;

    @Test
    void shouldCreateAFifoWithMode0600() throws Exception {
        Path path = dir.resolve("f");
        try (Fifo fifo = Fifo.create(path)) {
            assertTrue(fifo.created());
            assertEquals(path.toAbsolutePath(), fifo.path());
            assertTrue(isFifo(path), "not a FIFO: " + path);
            assertEquals(EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE),
                    Files.getPosixFilePermissions(path, LinkOption.NOFOLLOW_LINKS));
        }
    }

    @Test
    void shouldUnlinkTheFifoOnCloseWhenItCreatedIt() throws Exception {
        Path path = dir.resolve("f");
        Fifo fifo = Fifo.create(dir, "f");
        assertTrue(Files.exists(path, LinkOption.NOFOLLOW_LINKS));
        fifo.close();
        assertFalse(Files.exists(path, LinkOption.NOFOLLOW_LINKS));
        fifo.close();   // idempotent, and no error for the path being gone
    }

    @Test
    void shouldReuseAnExistingFifoAndLeaveItInPlace() throws Exception {
        Path path = dir.resolve("existing");
        try (Arena arena = Arena.ofConfined()) {
            Syscalls.mkfifoat(linux_h.AT_FDCWD(), arena.allocateFrom(path.toString()), 0640);
        }
        try (Fifo fifo = Fifo.create(path)) {
            assertFalse(fifo.created());
            try (Pipe both = fifo.openBoth()) {
                Io.writeUtf8(both.writeEnd(), "reused");
                byte[] b = new byte[16];
                assertEquals(6, both.readEnd().read(b, 0, b.length));
            }
        }
        assertTrue(isFifo(path), "a FIFO panpipe did not create must survive close");
        assertEquals(EnumSet.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_WRITE, PosixFilePermission.GROUP_READ),
                Files.getPosixFilePermissions(path), "and keep its own mode");
    }

    @Test
    void shouldRefuseASymlinkEvenWhenItPointsToAFifo() throws Exception {
        Path real = dir.resolve("real");
        Path link = dir.resolve("link");
        try (Fifo target = Fifo.create(real)) {
            Files.createSymbolicLink(link, real);
            FileSystemException e = assertThrows(FileSystemException.class, () -> Fifo.create(link));
            assertTrue(e.getMessage().contains(link.toString()) && e.getMessage().contains("symbolic link"), e.getMessage());
            assertTrue(Files.isSymbolicLink(link), "the link is left alone");
            assertTrue(isFifo(real));
        }
        Path dangling = dir.resolve("dangling");
        Files.createSymbolicLink(dangling, dir.resolve("nowhere"));
        FileSystemException e = assertThrows(FileSystemException.class, () -> Fifo.create(dangling));
        assertTrue(e.getMessage().contains("symbolic link"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("nowhere"), LinkOption.NOFOLLOW_LINKS), "no FIFO created through the link");
    }

    @Test
    void shouldRefuseARegularFileAtThePath() throws Exception {
        Path file = dir.resolve("file");
        Files.writeString(file, "keep me");
        FileAlreadyExistsException e = assertThrows(FileAlreadyExistsException.class, () -> Fifo.create(file));
        assertTrue(e.getMessage().contains(file.toString()) && e.getMessage().contains("not a FIFO"), e.getMessage());
        assertEquals("keep me", Files.readString(file));
        assertThrows(FileAlreadyExistsException.class, () -> Fifo.create(dir), "a directory is not a FIFO either");
    }

    @Test
    void shouldRefuseANameThatIsNotOnePathElement() {
        assertThrows(IllegalArgumentException.class, () -> Fifo.create(dir, "a/b"));
        assertThrows(IllegalArgumentException.class, () -> Fifo.create(dir, ".."));
        assertThrows(IllegalArgumentException.class, () -> Fifo.create(dir, ""));
    }

    @Test
    void shouldTimeOutOpeningTheReadEndWhenNoWriterComes() throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("r"))) {
            PeerTimeoutException e = assertThrows(PeerTimeoutException.class, () -> fifo.openReadEnd(Duration.ofMillis(200)));
            assertTrue(e.getMessage().contains(fifo.path().toString()), e.getMessage());
            // the FIFO is still usable afterwards: nothing of the timed-out attempt is left in it
            assertAWriterCanStillConnect(fifo);
        }
    }

    @Test
    void shouldTimeOutOpeningTheWriteEndWhenNoReaderComes() throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("w"))) {
            PeerTimeoutException e = assertThrows(PeerTimeoutException.class, () -> fifo.openWriteEnd(Duration.ofMillis(200)));
            assertTrue(e.getMessage().contains(fifo.path().toString()), e.getMessage());
            assertAWriterCanStillConnect(fifo);
        }
    }

    /**
     * A virtual thread's open is released through the FIFO it holds, not by path: once the path is removed under it
     * (here by hand; a close that unlinks a created FIFO does the same), a release by path found nothing to open and
     * either retried for ever or left the waiter joined to an opener that never returned. The deadline, an
     * interrupt and a close now still end the wait, and no opener thread is left behind.
     */
    @Test
    void shouldEndAVirtualOpenWhosePathWasRemovedAtItsDeadlineAtAnInterruptAndAtClose() throws Exception {
        // One FIFO each: releasing one blocked reader opens a writer, which every reader blocked on that FIFO pairs with.
        Path[] paths = {dir.resolve("deadline"), dir.resolve("interrupt"), dir.resolve("close")};
        try (Arena arena = Arena.ofConfined()) {
            for (Path p : paths) Syscalls.mkfifoat(linux_h.AT_FDCWD(), arena.allocateFrom(p.toString()), 0600);
        }
        // reused FIFOs: their close does not unlink, so the test removes the paths itself
        try (Fifo deadline = Fifo.create(paths[0]); Fifo interrupt = Fifo.create(paths[1]); Fifo close = Fifo.create(paths[2])) {
            var timedOut = dev.panpipe.testing.VirtualThreads.call(() -> deadline.openReadEnd(Duration.ofSeconds(2)));
            var interrupted = new java.util.concurrent.CompletableFuture<Object>();
            Thread reader = Thread.ofVirtual().start(() -> {
                try {
                    interrupted.complete(interrupt.openReadEnd(Duration.ofMinutes(5)));
                } catch (Throwable t) {
                    interrupted.complete(t);
                }
            });
            var closed = dev.panpipe.testing.VirtualThreads.call(() -> close.openReadEnd(Duration.ofMinutes(5)));
            // An opener thread starts only once its waiter holds the FIFO: wait for all three, not a guessed time.
            long deadlineNanos = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (Thread.getAllStackTraces().keySet().stream().filter(t -> t.getName().startsWith("panpipe-open")).count() < 3) {
                if (System.nanoTime() - deadlineNanos > 0) throw new AssertionError("the three opener threads did not start");
                Thread.sleep(5);
            }
            Thread.sleep(100);                           // and are in the kernel's open (a release before retries)
            for (Path p : paths) Files.delete(p);
            reader.interrupt();
            close.close();
            java.util.concurrent.ExecutionException e = assertThrows(java.util.concurrent.ExecutionException.class,
                    () -> timedOut.get(20, TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof PeerTimeoutException, String.valueOf(e.getCause()));
            assertTrue(interrupted.get(20, TimeUnit.SECONDS) instanceof java.io.InterruptedIOException,
                    String.valueOf(interrupted.getNow(null)));
            e = assertThrows(java.util.concurrent.ExecutionException.class, () -> closed.get(20, TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof java.nio.channels.AsynchronousCloseException, String.valueOf(e.getCause()));
        }
        assertTrue(Thread.getAllStackTraces().keySet().stream().noneMatch(t -> t.getName().startsWith("panpipe-open")),
                "an opener thread outlived its open");
    }

    /**
     * A close from another thread ends a platform thread's open as it ends a virtual thread's: the open blocked in
     * the kernel is released, its fd closed, and the opener gets AsynchronousCloseException. It used to wait on for
     * a peer that, the Fifo closed (and a created one unlinked), could no longer find it. A reused FIFO stays usable.
     */
    @ParameterizedTest
    @ValueSource(strings = {"created, read end", "created, write end", "reused, read end", "reused, write end"})
    void shouldEndAPlatformThreadsOpenWhenTheFifoIsClosed(String which) throws Exception {
        Path path = dir.resolve("closing");
        boolean reused = which.startsWith("reused");
        if (reused) {
            try (Arena arena = Arena.ofConfined()) {
                Syscalls.mkfifoat(linux_h.AT_FDCWD(), arena.allocateFrom(path.toString()), 0600);
            }
        }
        Fifo fifo = Fifo.create(path);
        // Blocked in the kernel's open, waiting for its peer, before the close: an open begun after it is refused
        // (ClosedChannelException), which a fixed sleep here let happen on a loaded machine.
        java.util.concurrent.Future<Object> outcome = Blocking.startAndAwaitBlocked(List.of("wait_for_partner", "fifo_open"), () -> {
            try {
                return which.endsWith("read end") ? fifo.openReadEnd() : fifo.openWriteEnd();
            } catch (Throwable t) {
                return t;
            }
        });
        assertFalse(outcome.isDone(), "the open did not wait for a peer: " + (outcome.isDone() ? outcome.get() : ""));
        fifo.close();
        Object result = outcome.get(20, TimeUnit.SECONDS);
        assertTrue(result instanceof java.nio.channels.AsynchronousCloseException, String.valueOf(result));
        assertEquals(reused, Files.exists(path, LinkOption.NOFOLLOW_LINKS));
        if (reused) {
            try (Fifo again = Fifo.create(path)) {
                assertAWriterCanStillConnect(again);
            }
            Files.delete(path);
        }
    }

    /**
     * A platform thread's open given up at its deadline is released through the FIFO it looked up, not by path: once
     * the path named another FIFO, a release by path never reached the open (which waited on) and kept opening and
     * closing that other FIFO's write end, a millisecond apart, so its reader (here cat, a process of its own) got
     * EOF. Now the open times out, and cat reads what is written to its FIFO after.
     */
    @Test
    void shouldNotTouchAnotherFifoPutAtThePathWhileAPlatformOpenWaits() throws Exception {
        Path path = dir.resolve("swapped");
        Path moved = dir.resolve("swapped.before");
        try (Arena arena = Arena.ofConfined()) {
            Syscalls.mkfifoat(linux_h.AT_FDCWD(), arena.allocateFrom(path.toString()), 0600);
        }
        try (Fifo fifo = Fifo.create(path)) {                    // reused: its close leaves the path alone
            var outcome = new java.util.concurrent.CompletableFuture<Object>();
            Thread opener = Thread.ofPlatform().start(() -> {
                try {
                    outcome.complete(fifo.openReadEnd(Duration.ofSeconds(2)));
                } catch (Throwable t) {
                    outcome.complete(t);
                }
            });
            // The FIFO is looked up before the open; only a path swapped after that is the case here.
            long lookedUpBy = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (java.util.Arrays.stream(opener.getStackTrace()).noneMatch(f -> f.getClassName().endsWith(".HeldFile")
                    && f.getMethodName().equals("open"))) {
                if (System.nanoTime() - lookedUpBy > 0 || outcome.isDone()) throw new AssertionError("no open: " + outcome.getNow(null));
                Thread.sleep(5);
            }
            Thread.sleep(100);                                   // and in the kernel's open, as a rule
            Files.move(path, moved);
            try (Arena arena = Arena.ofConfined()) {
                Syscalls.mkfifoat(linux_h.AT_FDCWD(), arena.allocateFrom(path.toString()), 0600);
            }
            try (Subprocess cat = Subprocess.builder("cat", path.toString())
                    .stdin(Redirect.discard()).stderr(Redirect.inherit()).start()) {
                Object result = outcome.get(10, TimeUnit.SECONDS);
                assertTrue(result instanceof PeerTimeoutException, String.valueOf(result));
                opener.join();
                Thread.sleep(100);                               // a release by path would go on until the open returned
                try (Fifo other = Fifo.create(path); WriteEnd out = other.openWriteEnd(Duration.ofSeconds(10))) {
                    Io.writeUtf8(out, "for cat");
                }
                assertEquals("for cat", Io.readAllUtf8(cat.stdout()), "cat was handed EOF before anything was written");
                assertEquals(ExitStatus.exited(0), cat.waitFor());
            }
        } finally {
            Files.deleteIfExists(path);
            Files.deleteIfExists(moved);
        }
    }

    /**
     * A closed Fifo opens nothing: a created one's path is gone (ENOENT, naming no close, is what an open used to
     * say), and a reused one's is still there (an open used to go ahead as if the Fifo were open).
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void shouldRefuseEveryOpenOnceClosed(boolean reused) throws Exception {
        Path path = dir.resolve("closed");
        if (reused) {
            try (Arena arena = Arena.ofConfined()) {
                Syscalls.mkfifoat(linux_h.AT_FDCWD(), arena.allocateFrom(path.toString()), 0600);
            }
        }
        Fifo fifo = Fifo.create(path);
        fifo.close();
        for (Thread.Builder thread : List.of(Thread.ofPlatform().name("platform"), Thread.ofVirtual().name("virtual"))) {
            List<Object> outcomes = new ArrayList<>();
            Thread t = thread.start(() -> {
                for (java.util.concurrent.Callable<?> open : List.<java.util.concurrent.Callable<?>>of(
                        () -> fifo.openReadEnd(Duration.ofSeconds(5)), () -> fifo.openWriteEnd(Duration.ofSeconds(5)),
                        fifo::openReadEndNow, fifo::openBoth)) {
                    try {
                        outcomes.add(open.call());
                    } catch (Throwable e) {
                        outcomes.add(e);
                    }
                }
            });
            t.join();
            for (Object o : outcomes) {
                assertTrue(o != null && o.getClass() == java.nio.channels.ClosedChannelException.class, t.getName() + ": " + o);
            }
        }
        if (reused) Files.delete(path);
    }

    /**
     * Opens of one or both ends, from platform and virtual threads, with and without timeouts, racing a close at a moment
     * that moves from before the first lookup to after the opens are in the kernel, round after round. Every open
     * ends well before its timeout, with an end (it paired with an open of the other end before the close took
     * effect) or the close's ClosedChannelException, never an end paired with one of the releases the close makes
     * (which used to come back at EOF or EPIPE at once); nothing is left behind (fds: LeakCheck; opener threads; the path). A hang, a leak
     * or another outcome is a bug in the hand-over between an open, its release and the close.
     */
    @Test
    void shouldEndEveryOpenRacingACloseWithNothingLeftBehind() throws Exception {
        java.util.Random random = new java.util.Random(42);
        java.util.Map<String, Integer> tally = new java.util.TreeMap<>();
        for (int round = 0; round < 150; round++) {
            Path path = dir.resolve("race-" + round);
            Fifo fifo = Fifo.create(path);
            List<java.util.concurrent.CompletableFuture<Object>> outcomes = new ArrayList<>();
            // A third of the rounds mix the ends, which pair with each other; the others have one end only, which
            // nothing but the close (and its releases) can end.
            String[] kinds = switch (round % 3) {
                case 0 -> new String[] {"platform read 5s", "virtual write", "virtual read 5s", "platform write"};
                case 1 -> new String[] {"platform read 5s", "virtual read", "virtual read 5s", "platform read"};
                default -> new String[] {"platform write 5s", "virtual write", "virtual write 5s", "platform write"};
            };
            for (String kind : kinds) {
                var outcome = new java.util.concurrent.CompletableFuture<Object>();
                Duration timeout = kind.endsWith("5s") ? Duration.ofSeconds(5) : null;
                Runnable open = () -> {
                    try {
                        outcome.complete(kind.contains("read") ? fifo.openReadEnd(timeout) : fifo.openWriteEnd(timeout));
                    } catch (Throwable t) {
                        outcome.complete(t);
                    }
                };
                if (kind.startsWith("platform")) Thread.ofPlatform().daemon().start(open);
                else Thread.ofVirtual().start(open);
                outcomes.add(outcome);
            }
            java.util.concurrent.locks.LockSupport.parkNanos(random.nextInt(3_000_000));
            fifo.close();
            for (int i = 0; i < kinds.length; i++) {
                Object o = outcomes.get(i).get(4, TimeUnit.SECONDS);      // before any timeout: the close ended it
                if (o instanceof AutoCloseable end) {
                    end.close();
                    // Only an open of the other end, here or in another round's mix, can have paired with it; a
                    // round of one end has none but the close's releases, which pair with any open blocked there.
                    if (round % 3 != 0) throw new AssertionError("round " + round + ", " + kinds[i] + ": opened, paired with a release of the close");
                    tally.merge("opened", 1, Integer::sum);
                } else if (o instanceof java.nio.channels.ClosedChannelException c) {
                    tally.merge(c.getClass().getSimpleName(), 1, Integer::sum);
                } else {
                    throw new AssertionError("round " + round + ", " + kinds[i] + ": " + o, o instanceof Throwable t ? t : null);
                }
            }
            assertFalse(Files.exists(path, LinkOption.NOFOLLOW_LINKS), "round " + round + ": the path is left");
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (Thread.getAllStackTraces().keySet().stream().anyMatch(t -> t.getName().startsWith("panpipe-open")
                || t.getName().equals("panpipe-fifo-timeout"))) {
            if (System.nanoTime() - deadline > 0) throw new AssertionError("an opener or timeout thread outlived its open");
            Thread.sleep(10);
        }
        System.out.println("opens racing a close: " + tally);
    }

    /**
     * Several openers of one end, one of which gives up at its deadline before any peer comes. Its release (the
     * other end opened and closed) used to pair with the other openers as well, which came back with an end whose
     * peer had gone: writers to EPIPE at the first write, readers to EOF with no writer. They now see that, wait on
     * for a real peer (a process of its own), and the bytes get through.
     */
    @ParameterizedTest
    @ValueSource(strings = {"virtual writers", "platform writers", "virtual readers", "platform readers"})
    void shouldKeepOtherOpenersOfAnEndWaitingWhenOneTimesOut(String which) throws Exception {
        boolean readers = which.endsWith("readers");
        Thread.Builder threads = which.startsWith("virtual") ? Thread.ofVirtual() : Thread.ofPlatform();
        try (Fifo fifo = Fifo.create(dir.resolve("openers"))) {
            List<java.util.concurrent.CompletableFuture<Object>> openers = new ArrayList<>();
            for (String line : List.of("b", "c")) {
                var done = new java.util.concurrent.CompletableFuture<Object>();
                threads.start(() -> {
                    try {
                        if (readers) {
                            try (ReadEnd in = fifo.openReadEnd(Duration.ofSeconds(20))) {
                                done.complete(Io.readAllUtf8(in));
                            }
                        } else {
                            try (WriteEnd out = fifo.openWriteEnd(Duration.ofSeconds(20))) {
                                Io.writeUtf8(out, line + "\n");
                                done.complete(line);
                            }
                        }
                    } catch (Throwable t) {
                        done.complete(t);
                    }
                });
                openers.add(done);
            }
            // Both blocked in their opens: a reader that came later than the one writer below waited out its 20 s, and
            // a fixed 200 ms did not make sure of it on a loaded machine.
            awaitBlockedOpens(2, openers);
            var timedOut = new java.util.concurrent.CompletableFuture<Object>();
            threads.start(() -> {
                try {
                    timedOut.complete(readers ? fifo.openReadEnd(Duration.ofMillis(300)) : fifo.openWriteEnd(Duration.ofMillis(300)));
                } catch (Throwable t) {
                    timedOut.complete(t);
                }
            });
            assertTrue(timedOut.get(10, TimeUnit.SECONDS) instanceof PeerTimeoutException, String.valueOf(timedOut.getNow(null)));
            Thread.sleep(300);                           // a release that reached them has been and gone
            for (var o : openers) assertFalse(o.isDone(), "an opener came back with its peer gone: " + o.getNow(null));
            if (readers) {
                // One writer for both readers: each reads what it gets, together all of it.
                try (Subprocess writer = Subprocess.builder("sh", "-c", "printf 'one\ntwo\n' > \"$1\"", "sh", fifo.path().toString())
                        .stdout(Redirect.discard()).stderr(Redirect.inherit()).start()) {
                    assertEquals(ExitStatus.exited(0), writer.waitFor());
                    StringBuilder all = new StringBuilder();
                    for (var o : openers) all.append(o.get(10, TimeUnit.SECONDS));
                    assertEquals(List.of("one", "two"), all.toString().lines().sorted().toList(), all.toString());
                }
            } else {
                try (Subprocess cat = Subprocess.builder("cat", fifo.path().toString())
                        .stdin(Redirect.discard()).stderr(Redirect.inherit()).start()) {
                    for (var o : openers) assertTrue(o.get(10, TimeUnit.SECONDS) instanceof String, String.valueOf(o.getNow(null)));
                    String out = Io.readAllUtf8(cat.stdout());
                    assertEquals(List.of("b", "c"), out.lines().sorted().toList(), out);
                    assertEquals(ExitStatus.exited(0), cat.waitFor());
                }
            }
        }
    }

    /**
     * Until {@code n} threads of this JVM sleep in the kernel's open of a FIFO, waiting for a peer (their wchan); where
     * the kernel hides wchan, until {@code n} are inside HeldFile.open, the open's last step before the kernel.
     */
    private static void awaitBlockedOpens(int n, List<java.util.concurrent.CompletableFuture<Object>> opens) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (blockedOpens() < n) {
            for (var o : opens) assertFalse(o.isDone(), "an open ended before its peer came: " + o.getNow(null));
            if (System.nanoTime() - deadline > 0) throw new AssertionError(n + " opens did not block within 10 s");
            Thread.sleep(5);
        }
    }

    private static long blockedOpens() throws Exception {
        long inOpen = 0;
        boolean wchanShown = false;
        try (var tasks = Files.list(Path.of("/proc/self/task"))) {
            for (Path task : (Iterable<Path>) tasks::iterator) {
                try {
                    String wchan = Files.readString(task.resolve("wchan"));
                    if (!wchan.equals("0")) wchanShown = true;
                    if (wchan.contains("wait_for_partner") || wchan.contains("fifo_open")) inOpen++;
                } catch (java.nio.file.NoSuchFileException ended) {
                    // a thread that ended while we looked
                }
            }
        }
        if (wchanShown) return inOpen;
        return Thread.getAllStackTraces().values().stream().filter(frames -> java.util.Arrays.stream(frames)
                .anyMatch(f -> f.getClassName().endsWith(".HeldFile") && f.getMethodName().equals("open"))).count();
    }

    @Test
    void shouldOpenWithATimeoutTooLongToCountInMilliseconds() throws Exception {
        // Duration.ofSeconds(Long.MAX_VALUE) has no millisecond count: it used to be "ArithmeticException: long overflow"
        Duration forever = Duration.ofSeconds(Long.MAX_VALUE);
        try (Fifo fifo = Fifo.create(dir.resolve("forever"))) {
            try (Subprocess writer = Subprocess.builder("sh", "-c", "sleep 0.2; printf late > \"$1\"", "sh", fifo.path().toString())
                    .stdout(Redirect.discard()).stderr(Redirect.inherit()).start();
                 ReadEnd in = fifo.openReadEnd(forever)) {
                assertEquals("late", Io.readAllUtf8(in), "the open waited for the writer that came after it");
                assertEquals(ExitStatus.exited(0), writer.waitFor());
            }
            try (Subprocess cat = Subprocess.builder("sh", "-c", "sleep 0.2; exec cat \"$1\"", "sh", fifo.path().toString())
                    .stdin(Redirect.discard()).stderr(Redirect.inherit()).start()) {
                try (WriteEnd out = fifo.openWriteEnd(forever)) {
                    Io.writeUtf8(out, "for the late reader");
                }
                assertEquals("for the late reader", Io.readAllUtf8(cat.stdout()));
                assertEquals(ExitStatus.exited(0), cat.waitFor());
            }
        }
    }

    @Test
    void shouldTimeOutEveryTimeWhenTheTimeoutEndsBeforeTheOpenHasStarted() throws Exception {
        // With a timeout of a millisecond or so, the releaser can wake before this thread is inside its
        // blocking open: its release then reached nobody, and the open waited for a peer forever. Threads
        // that keep every CPU busy make this thread late often enough to see it within a few hundred opens.
        AtomicBoolean stop = new AtomicBoolean();
        List<Thread> busy = new ArrayList<>();
        for (int i = 0; i < Runtime.getRuntime().availableProcessors(); i++) {
            busy.add(Thread.ofPlatform().daemon().name("busy-" + i).start(() -> {
                while (!stop.get()) Thread.onSpinWait();
            }));
        }
        try (Fifo fifo = Fifo.create(dir.resolve("tiny"))) {
            try {
                for (int i = 0; i < 300; i++) {
                    Duration tiny = Duration.ofNanos(1 + i * 3_333L);
                    long t0 = System.nanoTime();
                    PeerTimeoutException r = assertThrows(PeerTimeoutException.class, () -> fifo.openReadEnd(tiny));
                    assertTrue(System.nanoTime() - t0 >= 1_000_000, "a sub-millisecond timeout waits a millisecond, not less");
                    assertTrue(r.getMessage().contains(fifo.path() + " for reading: no peer within " + tiny.toNanos() + " ns"), r.getMessage());
                    assertThrows(PeerTimeoutException.class, () -> fifo.openWriteEnd(tiny));
                }
            } finally {
                stop.set(true);
                for (Thread t : busy) t.join();
            }
            assertAWriterCanStillConnect(fifo);
        }
    }

    @Test
    void shouldRefuseANegativeTimeoutNamingIt() throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("negative"))) {
            IllegalArgumentException r = assertThrows(IllegalArgumentException.class, () -> fifo.openReadEnd(Duration.ofMillis(-1)));
            assertEquals("negative timeout: PT-0.001S", r.getMessage());
            IllegalArgumentException w = assertThrows(IllegalArgumentException.class, () -> fifo.openWriteEnd(Duration.ofSeconds(-1)));
            assertEquals("negative timeout: PT-1S", w.getMessage());
            assertAWriterCanStillConnect(fifo);
        }
    }

    private static void assertAWriterCanStillConnect(Fifo fifo) throws Exception {
        try (Subprocess writer = Subprocess.builder("sh", "-c", "printf again > \"$1\"", "sh", fifo.path().toString())
                .stdout(Redirect.discard()).stderr(Redirect.inherit()).start();
             ReadEnd in = fifo.openReadEnd(Duration.ofSeconds(10))) {
            assertEquals("again", Io.readAllUtf8(in));
            assertEquals(ExitStatus.exited(0), writer.waitFor());
        }
    }

    @Test
    void shouldReadWhatAnotherProcessWritesIntoTheFifo() throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("from-child"));
             Subprocess child = Subprocess.builder("sh", "-c", "printf hello > \"$1\"", "sh", fifo.path().toString())
                     .stdin(Redirect.discard()).stdout(Redirect.discard()).stderr(Redirect.inherit()).start();
             ReadEnd in = fifo.openReadEnd(Duration.ofSeconds(10))) {
            assertEquals("hello", Io.readAllUtf8(in), "all the child wrote, then EOF when it closed");
            assertEquals(ExitStatus.exited(0), child.waitFor());
        }
    }

    @Test
    void shouldFeedAnotherProcessThroughTheFifo() throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("to-child"));
             Subprocess cat = Subprocess.builder("cat", fifo.path().toString()).stdin(Redirect.discard()).stderr(Redirect.inherit()).start()) {
            try (WriteEnd out = fifo.openWriteEnd(Duration.ofSeconds(10))) {
                Io.writeUtf8(out, "through the fifo\n");
            }
            assertEquals("through the fifo\n", Io.readAllUtf8(cat.stdout()));
            assertEquals(ExitStatus.exited(0), cat.waitFor());
        }
    }

    @Test
    void shouldOpenBothEndsInOneProcessWithoutWaiting() throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("both")); Pipe pipe = fifo.openBoth()) {
            Io.writeUtf8(pipe.writeEnd(), "x");
            pipe.writeEnd().close();
            assertEquals("x", Io.readAllUtf8(pipe.readEnd()));
        }
    }

    @Test
    void shouldWakeAReaderOfALentEndWhoseBytesAnotherReaderTookWithAsynchronousCloseException() throws Exception {
        // A FIFO opened by path refuses preadv2(RWF_NOWAIT): shared with the child, its end polled, then read(2).
        try (Fifo fifo = Fifo.create(dir.resolve("raced-reader")); Pipe pipe = fifo.openBoth()) {
            LentEndRaces.assertReaderOfLentEndSleepsOnlyWhereCloseReachesIt(pipe);
        }
    }

    @Test
    void shouldWakeAWriterOfALentEndWhoseRoomAnotherWriterTookWithAsynchronousCloseException() throws Exception {
        try (Fifo fifo = Fifo.create(dir.resolve("raced-writer")); Pipe pipe = fifo.openBoth()) {
            LentEndRaces.assertWriterOfLentEndSleepsOnlyWhereCloseReachesIt(pipe);
        }
    }

    @Test
    void shouldShareTheDescriptionOfAWriteEndWhoseReadersAreGone() throws Exception {
        // A second description of a FIFO cannot be opened for writing once no reader is left (ENXIO): the spawn
        // shares the end's own, in blocking mode, as a child expects, and the child's write meets no reader.
        try (Fifo fifo = Fifo.create(dir.resolve("no-reader")); Pipe pipe = fifo.openBoth()) {
            assertEquals(1, pipe.writeEnd().write(new byte[1], 0, 1));
            String fdinfo = "/proc/self/fdinfo/" + pipe.writeEnd().nativeHandle();
            assertTrue(PipeTest.nonBlocking(fdinfo), "the end's own description, once used: O_NONBLOCK");
            pipe.readEnd().close();
            try (Subprocess child = Subprocess.builder("sh", "-c", "printf x").stdout(Redirect.to(pipe.writeEnd()))
                    .stderr(Redirect.discard()).start()) {
                assertEquals(ExitStatus.killed(13, false), child.waitFor(), "SIGPIPE: nobody reads the FIFO");
            }
            assertFalse(PipeTest.nonBlocking(fdinfo), "shared with the child, and so in blocking mode");
        }
    }

    private static boolean isFifo(Path path) throws Exception {
        int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        return (mode & linux_h.S_IFMT()) == linux_h.S_IFIFO();
    }
}
