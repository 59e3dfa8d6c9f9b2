package dev.panpipe.process;

import dev.panpipe.bindings.Errno;
import dev.panpipe.bindings.SyscallException;
import dev.panpipe.bindings.Syscalls;
import dev.panpipe.bindings.linux.linux_h;
import dev.panpipe.bindings.linux.siginfo_t;
import dev.panpipe.io.BehindTheBack;
import dev.panpipe.io.LeakCheck;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A close whose steps fail for real, because something was done to the child or to an fd behind the
 * object's back: every other step still runs, the first failure is thrown with the others suppressed in it,
 * and no child or fd is left (LeakCheck).
 */
@ExtendWith(LeakCheck.class)
@Timeout(60)
class ProcessCloseFailureTest {

    /** waitid(P_PID, pid, WEXITED): reaps a child that is not this code's to reap, as a careless caller would. */
    private static void reapBehindItsBack(long pid) throws SyscallException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment info = siginfo_t.allocate(arena);
            Syscalls.waitid(linux_h.P_PID(), (int) pid, info, linux_h.WEXITED());
        }
    }

    @Test
    void shouldCloseEveryPipeOfAChildReapedBehindItsBackAndSaySo() throws Exception {
        Subprocess p = Subprocess.builder("true").start();
        reapBehindItsBack(p.pid());
        SyscallException e = assertThrows(SyscallException.class, p::close);
        assertEquals(Errno.ECHILD, e.errno(), e.getMessage());
        assertFalse(p.stdin().isOpen() || p.stdout().isOpen() || p.stderr().isOpen(), "every pipe closed all the same");
        p.close();   // idempotent: reports nothing twice
    }

    /** Its pidfd is no pidfd any more: signalling through it fails, yet close still kills and reaps the child. */
    @Test
    void shouldStillKillAndReapAChildWhosePidfdWasReplacedBehindItsBack() throws Exception {
        Subprocess p = Subprocess.builder("sleep", "30").destroyGrace(Duration.ofMillis(100)).start();
        long pid = p.pid();
        BehindTheBack.replaceWithReadOnlyDevNull(BehindTheBack.pidfdOf(pid));
        SyscallException e = assertThrows(SyscallException.class, p::close);
        assertEquals("pidfd_send_signal", e.call(), e.getMessage());
        assertEquals(Errno.EBADF, e.errno(), e.getMessage());
        assertFalse(LeakCheck.children().containsKey(pid), "killed and reaped all the same: " + LeakCheck.children());
        assertFalse(p.stdout().isOpen() || p.stderr().isOpen());
    }

    /**
     * A thread is blocked writing to the child's stdin when close closes it, and waking that thread fails
     * (its wake-up eventfd was replaced): the child is still ended and reaped and every pipe closed.
     */
    @Test
    void shouldStillEndTheChildWhenWakingAWriterBlockedOnItsStdinFails() throws Exception {
        Subprocess p = Subprocess.builder("sleep", "30").pipeCapacity(0).destroyGrace(Duration.ofMillis(100)).start();
        long pid = p.pid();
        Map<Integer, String> before = LeakCheck.openFds();
        CompletableFuture<Throwable> writer = CompletableFuture.supplyAsync(() -> {
            try {
                p.stdin().write(new byte[1 << 20], 0, 1 << 20);   // sleep reads nothing: blocks once the pipe is full
                return null;
            } catch (Throwable t) {
                return t;
            }
        }, r -> Thread.ofPlatform().name("blocked-writer").start(r));
        BehindTheBack.replaceWithReadOnlyDevNull(BehindTheBack.newEventFd(before));

        IllegalStateException e = assertThrows(IllegalStateException.class, p::close);
        assertTrue(e.getMessage().startsWith("waking the threads blocked on stdin of sleep"), e.getMessage());
        assertFalse(LeakCheck.children().containsKey(pid), "ended and reaped all the same: " + LeakCheck.children());
        assertFalse(p.stdout().isOpen() || p.stderr().isOpen());
        // Not woken by close, the writer is by the child's end: its pipe has no reader any more.
        assertInstanceOf(IOException.class, writer.get(10, TimeUnit.SECONDS));
    }

    @Test
    void shouldCloseEveryStageAndThrowTheFirstFailureWithTheOthersSuppressed() throws Exception {
        Pipeline.Running running = Pipeline.parse("true", "true", "cat")
                .input(Redirect.discard()).output(Redirect.discard()).start();
        List<Subprocess> stages = running.processes();
        reapBehindItsBack(stages.get(0).pid());
        reapBehindItsBack(stages.get(1).pid());

        SyscallException first = assertThrows(SyscallException.class, running::close);
        assertEquals(Errno.ECHILD, first.errno());
        assertEquals(1, first.getSuppressed().length, "the second stage's failure, suppressed in the first's");
        SyscallException second = assertInstanceOf(SyscallException.class, first.getSuppressed()[0]);
        assertEquals(Errno.ECHILD, second.errno());
        // which stage is which: each names its pid
        assertTrue(first.getMessage().contains("pid " + stages.get(0).pid() + ":"), first.getMessage());
        assertTrue(second.getMessage().contains("pid " + stages.get(1).pid() + ":"), second.getMessage());
        assertEquals(Map.of(), LeakCheck.children(), "cat, the third stage, ended and reaped all the same");
    }
}
