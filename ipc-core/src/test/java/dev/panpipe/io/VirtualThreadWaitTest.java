package dev.panpipe.io;

import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Redirect;
import dev.panpipe.process.Subprocess;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.InterruptedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Virtual threads that wait in panpipe (for a pipe to have data, for a child to end) leave their carriers
 * free. They used to sleep in poll(2), a native call that pins the carrier: with as many waiters as
 * carriers (one per CPU by default), no other virtual thread ran until one of them was woken.
 */
@ExtendWith(LeakCheck.class)
class VirtualThreadWaitTest {
    /** More waiters than the scheduler has carriers. */
    private static final int WAITERS = Integer.getInteger("jdk.virtualThreadScheduler.parallelism",
            Runtime.getRuntime().availableProcessors()) + 2;

    @Test
    @Timeout(60)
    void shouldLetOtherVirtualThreadsRunWhileManyWaitForQuietPipes() throws Exception {
        List<Pipe> pipes = new ArrayList<>();
        List<CompletableFuture<byte[]>> reads = new ArrayList<>();
        try {
            for (int i = 0; i < WAITERS; i++) {
                Pipe p = Pipe.open();
                pipes.add(p);
                CompletableFuture<byte[]> read = new CompletableFuture<>();
                Thread.ofVirtual().start(() -> {
                    try {
                        byte[] b = new byte[1];
                        int n = p.readEnd().read(b, 0, 1);    // blocks: nothing is written yet
                        read.complete(n == 1 ? b : new byte[0]);
                    } catch (Throwable t) {
                        read.completeExceptionally(t);
                    }
                });
                reads.add(read);
            }
            Thread.sleep(300);                                   // every reader is waiting by now
            assertTrue(reads.stream().noneMatch(CompletableFuture::isDone), "nothing to read yet");
            CompletableFuture<String> other = new CompletableFuture<>();
            Thread.ofVirtual().start(() -> other.complete("ran"));
            assertEquals("ran", other.get(10, TimeUnit.SECONDS), "another virtual thread runs meanwhile");
            for (int i = 0; i < pipes.size(); i++) pipes.get(i).writeEnd().write(new byte[] {(byte) i}, 0, 1);
            for (int i = 0; i < reads.size(); i++) assertArrayEquals(new byte[] {(byte) i}, reads.get(i).get(10, TimeUnit.SECONDS));
        } finally {
            pipes.forEach(Pipe::close);     // wakes a reader still waiting (AsynchronousCloseException)
        }
    }

    @Test
    @Timeout(60)
    void shouldLetOtherVirtualThreadsRunWhileManyWaitForChildrenAndAnswerInterrupts() throws Exception {
        List<Subprocess> children = new ArrayList<>();
        List<Thread> waiters = new ArrayList<>();
        List<CompletableFuture<Object>> outcomes = new ArrayList<>();
        try {
            for (int i = 0; i < WAITERS; i++) {
                Subprocess child = Subprocess.builder("sleep", "30").stdin(Redirect.discard()).stdout(Redirect.discard())
                        .destroyGrace(Duration.ofMillis(100)).start();
                children.add(child);
                CompletableFuture<Object> outcome = new CompletableFuture<>();
                waiters.add(Thread.ofVirtual().start(() -> {
                    try {
                        outcome.complete(child.waitFor(Duration.ofSeconds(30)));
                    } catch (Throwable t) {
                        outcome.complete(t);
                    }
                }));
                outcomes.add(outcome);
            }
            Thread.sleep(300);
            CompletableFuture<String> other = new CompletableFuture<>();
            Thread.ofVirtual().start(() -> other.complete("ran"));
            assertEquals("ran", other.get(10, TimeUnit.SECONDS), "another virtual thread runs meanwhile");
            // the first waiter is interrupted: its waitFor ends; the second's child ends: its waitFor answers
            waiters.getFirst().interrupt();
            assertInstanceOf(InterruptedIOException.class, outcomes.getFirst().get(10, TimeUnit.SECONDS));
            assertTrue(children.getFirst().isAlive(), "an interrupted wait leaves the child running");
            children.get(1).signal(9);
            assertEquals(Optional.of(ExitStatus.killed(9, false)), outcomes.get(1).get(10, TimeUnit.SECONDS));
            assertFalse(outcomes.get(2).isDone(), "the others still wait");
        } finally {
            for (Subprocess c : children) c.close();
        }
        for (int i = 2; i < outcomes.size(); i++) assertTrue(outcomes.get(i).get(10, TimeUnit.SECONDS) instanceof Optional<?>);
    }
}
