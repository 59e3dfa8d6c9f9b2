package dev.panpipe.process;

import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.internal.linux.LinuxSockets;
import dev.panpipe.io.Fifo;
import dev.panpipe.io.LeakCheck;
import dev.panpipe.io.Pipe;
import dev.panpipe.testing.ExitedMainThread;
import dev.panpipe.testing.Zombie;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CountDownLatch;

import static dev.panpipe.testing.ProcFs.await;
import static dev.panpipe.testing.ProcFs.comm;
import static dev.panpipe.testing.ProcFs.state;
import static dev.panpipe.testing.ProcFs.threads;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

@ExtendWith(LeakCheck.class)
class FdTableTest {
    private static final long ME = ProcessHandle.current().pid();
    private static final String MY_COMMAND = comm(ME);

    @TempDir
    Path dir;

    /**
     * A child with known fds: 0 a pipe whose write end this test holds, 1 and 2 /dev/null, 3 a FIFO (read
     * end; the test holds both ends too), 4 an eventfd, 5 a memfd, 6 one end of a socketpair.
     */
    @Test
    @Timeout(30)
    void shouldListEachKindAndThePeersOfPipesAndFifos() throws Exception {
        int eventfd = Syscalls.eventfd(0, linux_h.EFD_CLOEXEC());
        int memfd;
        try (Arena arena = Arena.ofConfined()) {
            memfd = Syscalls.memfd_create(arena.allocateFrom("panpipe-fdtable"), linux_h.MFD_CLOEXEC());
        }
        int[] sockets = LinuxSockets.socketpair();
        try (Pipe pipe = Pipe.open();
             Fifo fifo = Fifo.create(dir, "named");
             Pipe fifoEnds = fifo.openBoth();
             Subprocess child = Subprocess.builder("sleep", "30")
                     .stdin(Redirect.from(pipe.readEnd())).stdout(Redirect.discard()).stderr(Redirect.discard())
                     .passFd(3, Redirect.from(fifoEnds.readEnd()))
                     .passFd(4, Redirect.fd(eventfd)).passFd(5, Redirect.fd(memfd)).passFd(6, Redirect.fd(sockets[0]))
                     .destroyGrace(java.time.Duration.ZERO).start()) {
            pipe.readEnd().close();        // only the child reads the pipe now
            // sleep opens its libraries and locale files (/etc/locale.alias) for a moment as it starts, and right
            // after the exec, before the loader's first open, it holds 7 too: list it once it sleeps, having let go.
            await(() -> state(child.pid()) == 'S' && fdCount(child.pid()) == 7, "sleep sleeps, holding only the fds it was given");
            FdTable table = FdTable.of(child.pid());
            assertEquals(child.pid(), table.pid());
            assertEquals("sleep", table.command());
            assertEquals(List.of(0, 1, 2, 3, 4, 5, 6), table.fds().stream().map(FdInfo::fd).toList(), table.fds().toString());

            FdInfo in = table.fd(0).orElseThrow();
            assertEquals(FdInfo.Kind.PIPE, in.kind());
            assertEquals(FdInfo.Access.READ, in.access());
            assertEquals("pipe:[" + in.inode() + "]", in.target());
            assertNull(in.path());
            String myCommand = Files.readAllLines(Path.of("/proc/self/comm")).getFirst();
            assertEquals(List.of(new FdInfo.Holder(ME, myCommand, (int) pipe.writeEnd().nativeHandle(), FdInfo.Access.WRITE)), in.peers());
            assertEquals(in.peers(), in.otherEnds(), "the test's write end is the other end");

            FdInfo devNull = table.fd(1).orElseThrow();
            assertEquals(FdInfo.Kind.CHAR_DEVICE, devNull.kind());
            assertEquals(Path.of("/dev/null"), devNull.path());
            assertEquals(List.of(), devNull.peers());

            FdInfo named = table.fd(3).orElseThrow();
            assertEquals(FdInfo.Kind.FIFO, named.kind());
            assertEquals(fifo.path(), named.path());
            assertEquals(FdInfo.Access.READ, named.access());
            List<FdInfo.Holder> fifoPeers = named.peers();
            assertEquals(List.of((int) fifoEnds.readEnd().nativeHandle(), (int) fifoEnds.writeEnd().nativeHandle()).stream().sorted().toList(),
                    fifoPeers.stream().filter(h -> h.pid() == ME).map(FdInfo.Holder::fd).sorted().toList(), fifoPeers.toString());
            assertEquals(List.of(new FdInfo.Holder(ME, myCommand, (int) fifoEnds.writeEnd().nativeHandle(), FdInfo.Access.WRITE)),
                    named.otherEnds());

            FdInfo event = table.fd(4).orElseThrow();
            assertEquals(FdInfo.Kind.EVENTFD, event.kind());
            assertEquals(FdInfo.Access.READ_WRITE, event.access());
            assertTrue(event.details().stream().anyMatch(d -> d.startsWith("eventfd-count: 0")), event.details().toString());

            FdInfo memory = table.fd(5).orElseThrow();
            assertEquals(FdInfo.Kind.MEMFD, memory.kind());
            assertEquals("/memfd:panpipe-fdtable (deleted)", memory.target());

            FdInfo socket = table.fd(6).orElseThrow();
            assertEquals(FdInfo.Kind.SOCKET, socket.kind());
            assertTrue(socket.details().contains("protocol: unix"), socket.details().toString());
            assertEquals("socket:[" + socket.inode() + "]", socket.target());
        } finally {
            Syscalls.close(eventfd);
            Syscalls.close(memfd);
            Syscalls.close(sockets[0]);
            Syscalls.close(sockets[1]);
        }
    }

    @Test
    @Timeout(30)
    void shouldSayThereIsNoSuchProcess() throws Exception {
        // Pids stay below pid_max. (Not Files.readString: on a sysctl file it returns only the first byte.)
        long beyond = Long.parseLong(Files.readAllLines(Path.of("/proc/sys/kernel/pid_max")).getFirst().strip());
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> FdTable.of(beyond));
        assertTrue(e.getMessage().contains("no process " + beyond), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> FdTable.of(0));
    }

    /** Here pid 1 is another user's or not dumpable for us (as in most containers); skipped where it is readable. */
    @Test
    @Timeout(30)
    void shouldRefuseAProcessItMayNotReadAndListThoseItSkipped() throws Exception {
        assumeTrue(unreadable(1), "pid 1's fds are readable here");
        AccessDeniedException e = assertThrows(AccessDeniedException.class, () -> FdTable.of(1));
        assertTrue(e.getMessage().contains("may not read the fds of process 1"), e.getMessage());
        try (Pipe pipe = Pipe.open();
             Subprocess child = Subprocess.builder("sleep", "30").stdin(Redirect.from(pipe.readEnd()))
                     .stdout(Redirect.discard()).stderr(Redirect.discard()).destroyGrace(java.time.Duration.ZERO).start()) {
            FdTable table = FdTable.of(child.pid());
            assertTrue(table.unreadable().stream().anyMatch(u -> u.pid() == 1 && u.reason().equals("permission denied")),
                    table.unreadable().toString());
        }
    }

    /** A live process: not a zombie, its parent (this JVM) named, and its fds read from /proc/PID/fd itself. */
    @Test
    @Timeout(30)
    void shouldNameTheStateAndParentOfALiveProcess() throws Exception {
        try (Subprocess child = Subprocess.builder("sleep", "30").stdin(Redirect.discard()).stdout(Redirect.discard())
                .stderr(Redirect.discard()).destroyGrace(Duration.ZERO).start()) {
            await(() -> state(child.pid()) == 'S', "sleep is asleep");
            FdTable table = FdTable.of(child.pid());
            assertFalse(table.zombie());
            assertEquals("sleeping", table.state());
            assertEquals(ME, table.parent());
            assertEquals(MY_COMMAND, table.parentCommand());
            assertFalse(MY_COMMAND.isEmpty());
            assertEquals(OptionalLong.empty(), table.thread(), "its main thread runs: no other thread was read through");
            assertEquals(List.of(0, 1, 2), table.fds().stream().map(FdInfo::fd).toList(), table.fds().toString());
        }
    }

    /** A command name is bytes, not UTF-8 (a file named so, or a thread name cut mid-character): still a table, naming it as best it can. */
    @Test
    @Timeout(30)
    void shouldReadAProcessWhoseCommandNameIsNotUtf8() throws Exception {
        // The shell makes the link: its name, byte 0xff then "x", is no string a Java Path can name here.
        try (Subprocess child = Subprocess.builder("sh", "-c", "ln -s /bin/sleep \"$(printf '\\377x')\" && exec ./\"$(printf '\\377x')\" 30")
                .directory(dir).stdin(Redirect.discard()).stdout(Redirect.discard()).stderr(Redirect.discard())
                .destroyGrace(Duration.ZERO).start()) {
            Path comm = Path.of("/proc/" + child.pid() + "/comm");
            await(() -> {
                try {
                    return java.util.Arrays.equals(Files.readAllBytes(comm), new byte[] {(byte) 0xff, 'x', '\n'});
                } catch (IOException e) {
                    return false;
                }
            }, "the link runs");
            // comm changes at exec, before sleep reaches its nanosleep: wait for the sleep too, or the table may read it running.
            await(() -> state(child.pid()) == 'S', "the link is asleep");
            FdTable table = FdTable.of(child.pid());
            assertEquals("sleeping", table.state());
            assertTrue(table.command().endsWith("x"), table.command());
            assertEquals(List.of(0, 1, 2), table.fds().stream().map(FdInfo::fd).toList(), table.fds().toString());
        }
    }

    /** A zombie (see {@link Zombie}): its /proc/PID/fd is empty, and the table says why rather than "no fds". */
    @Test
    @Timeout(60)
    void shouldSayAZombieIsOneAndWhichParentHasNotReapedIt() throws Exception {
        Zombie.with((z, p) -> {
            FdTable table = FdTable.of(z);
            assertEquals(z, table.pid());
            assertEquals("cat", table.command());
            assertTrue(table.zombie());
            assertEquals("zombie", table.state());
            assertEquals(p, table.parent());
            assertEquals("sleep", table.parentCommand());
            assertEquals(List.of(), table.fds());
            assertEquals(List.of(), table.unreadable());
            assertEquals(OptionalLong.empty(), table.thread());
        });
    }

    /**
     * A process whose main thread has exited while another thread sleeps (see {@link ExitedMainThread}): its
     * fds are read through that thread, for the process itself and when it holds the other end of another's
     * pipe. The program is built with gcc; skipped without it.
     */
    @Test
    @Timeout(60)
    void shouldReadTheFdsOfAProcessWhoseMainThreadHasExitedThroughAThreadStillRunning() throws Exception {
        ExitedMainThread.with(ExitedMainThread.cProgram(dir), process -> {
            long p = process.pid();
            FdTable table = FdTable.of(p);
            assertEquals(OptionalLong.of(process.thread()), table.thread());
            assertFalse(table.zombie(), "only its main thread has exited");
            assertEquals("sleeping", table.state(), "the state of the thread read through, not the leader's zombie one");
            assertEquals(ME, table.parent());
            assertEquals(MY_COMMAND, table.parentCommand());
            assertEquals(List.of(0, 1, 2, 3, 4), table.fds().stream().map(FdInfo::fd).toList(), table.fds().toString());
            FdInfo in = table.fd(3).orElseThrow();
            assertEquals(FdInfo.Kind.PIPE, in.kind());
            assertEquals(FdInfo.Access.READ, in.access());
            assertEquals(List.of(new FdInfo.Holder(ME, MY_COMMAND, process.writeFd(), FdInfo.Access.WRITE)), in.peers());
            FdInfo out = table.fd(4).orElseThrow();
            assertEquals(FdInfo.Access.WRITE, out.access());
            assertEquals(List.of(new FdInfo.Holder(process.reader(), "sleep", 0, FdInfo.Access.READ)), out.peers());

            // As the holder of the other end of another process's pipe, found through the same thread.
            FdTable ofReader = FdTable.of(process.reader());
            assertEquals(List.of(new FdInfo.Holder(p, comm(p), 4, FdInfo.Access.WRITE)), ofReader.fd(0).orElseThrow().peers(),
                    ofReader.fds().toString());
        });
    }

    /**
     * A thread's id is no process's, though /proc answers for it (/proc/TID is there, unlisted, with the fds
     * its process shares): read as a process, each of those fds was listed as its own other end.
     */
    @Test
    @Timeout(30)
    void shouldRefuseAThreadIdAndNameItsProcess() throws Exception {
        CountDownLatch done = new CountDownLatch(1);
        Thread thread = Thread.ofPlatform().name("fdtable-tid").start(() -> {
            try {
                done.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        try {
            await(() -> threads(ME).stream().anyMatch(t -> "fdtable-tid".equals(comm(ME, t))), "the thread has its name in /proc");
            long tid = threads(ME).stream().filter(t -> "fdtable-tid".equals(comm(ME, t))).findFirst().orElseThrow();
            NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> FdTable.of(tid));
            assertEquals("no process " + tid + " (it is a thread of process " + ME + ")", e.getReason());
        } finally {
            done.countDown();
            thread.join();
        }
    }

    private static long fdCount(long pid) {
        try (var fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            return fds.count();
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static boolean unreadable(long pid) {
        try (var s = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path p : (Iterable<Path>) s::iterator) Files.readSymbolicLink(p);
            return false;
        } catch (AccessDeniedException e) {
            return true;
        } catch (java.io.IOException e) {
            return false;
        }
    }
}
