package dev.panpipe.zerocopy.ring;

import dev.panpipe.connection.ProtocolException;
import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.process.Subprocess;
import dev.panpipe.zerocopy.BlockedInNativeCall;
import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.SharedMemory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Closes of frame rings, their ends and links whose steps fail for real: the ring's memory closed behind its
 * back (an end can no longer mark itself closed in the header), a thread still inside a native call on a
 * slot (the unmap has to wait for it). Every other step still runs, the first failure is thrown with the
 * later ones suppressed in it, and no fd, pidfd or mapping is left.
 */
@ExtendWith(NoLeaks.class)
@Timeout(60)
class FrameRingCloseFailureTest {

    /** How many frame rings this process maps now. */
    private static long ringMappings() throws IOException {
        return Mappings.of("/memfd:panpipe:frame-ring");
    }

    /** How many pidfds of this process refer to process {@code pid}. */
    private static long pidfdsOf(long pid) {
        return NoLeaks.openFds().entrySet().stream()
                .filter(e -> e.getValue().equals("anon_inode:[pidfd]"))
                .filter(e -> {
                    try {
                        return Files.readString(Path.of("/proc/self/fdinfo/" + e.getKey())).lines().anyMatch(l -> l.equals("Pid:\t" + pid));
                    } catch (IOException gone) {
                        return false;   // closed since listed
                    }
                })
                .count();
    }

    private static boolean thrownBy(Throwable t, Class<?> type) {
        return Arrays.stream(t.getStackTrace()).anyMatch(f -> f.getClassName().equals(type.getName()) && f.getMethodName().equals("close"));
    }

    @Test
    void shouldCloseBothEndsAndThrowTheProducersFailureFirstWhenTheMemoryWasClosedBehindTheRingsBack() throws Exception {
        FrameRing ring = FrameRing.create(2, 4096);
        FrameProducer producer = ring.producer();
        FrameConsumer consumer = ring.consumer();
        ring.memory().close();   // behind the ring's back: neither end can mark itself closed in the header now

        IllegalStateException first = assertThrows(IllegalStateException.class, ring::close);
        assertTrue(thrownBy(first, FrameProducer.class), "the producer's failure first");
        assertEquals(1, first.getSuppressed().length, "the consumer's failure, suppressed in the producer's");
        assertInstanceOf(IllegalStateException.class, first.getSuppressed()[0]);
        FrameRingClosedException claim = assertThrows(FrameRingClosedException.class, () -> producer.claimBytes(1));
        assertTrue(claim.getMessage().contains("this producer end is closed"), claim.getMessage());
        FrameRingClosedException take = assertThrows(FrameRingClosedException.class, consumer::tryTake);
        assertTrue(take.getMessage().contains("this consumer end is closed"), take.getMessage());
        ring.close();   // idempotent: reports nothing twice
    }

    /**
     * A thread reads a frame straight into a claimed slot (from a camera, a socket) and is still inside that
     * read when the ring is closed: the unmap cannot happen under it, and fails after a while; the ends and
     * the fd are closed all the same, and a later close unmaps.
     */
    @Test
    void shouldUnmapAtALaterCloseARingThatAReadIntoASlotKeptMapped() throws Exception {
        long mappedBefore = ringMappings();
        FrameRing ring = FrameRing.create(2, 4096);
        FrameClaim claim = ring.producer().claimBytes(4096);
        try (BlockedInNativeCall reader = BlockedInNativeCall.readingInto(claim.pixels())) {
            IllegalStateException busy = assertThrows(IllegalStateException.class, ring::close);
            assertTrue(busy.getMessage().contains("acquired"), busy.getMessage());   // "Session is acquired by 1 clients"
            assertEquals(-1, ring.memory().nativeHandle(), "the fd is closed all the same");
            assertThrows(FrameRingClosedException.class, claim::commit, "the producer is closed all the same");
            assertEquals(mappedBefore + 1, ringMappings(), "still mapped: the read is still writing into it");
        }
        ring.close();
        assertEquals(mappedBefore, ringMappings(), "unmapped by the next close");
        ring.close();   // idempotent
    }

    /**
     * Memory handed over to be attached as a ring that holds none: the header's fault is what the caller
     * learns, and the failure to unmap the memory it closes is suppressed in it, not thrown instead.
     */
    @Test
    void shouldReportAWrongHeaderWhenClosingTheMemoryItCameInFailsToo() throws Exception {
        String name = "no-ring-" + ProcessHandle.current().pid();
        SharedMemory memory = SharedMemory.create(name, 4096);   // all zeros: no magic
        try (BlockedInNativeCall reader = BlockedInNativeCall.readingInto(memory.segment())) {
            ProtocolException header = assertThrows(ProtocolException.class, () -> FrameRing.attach(memory));
            assertEquals("magic", header.field(), header.getMessage());
            assertEquals(1, header.getSuppressed().length, "the failed unmap, suppressed in the header's fault");
            IllegalStateException busy = assertInstanceOf(IllegalStateException.class, header.getSuppressed()[0]);
            assertTrue(busy.getMessage().contains("acquired"), busy.getMessage());
            assertEquals(-1, memory.nativeHandle(), "the fd is closed all the same");
        }
        memory.close();   // the caller's handle on it is the way left to unmap it
        assertEquals(0, Mappings.of("/memfd:panpipe:" + name));
    }

    /**
     * A link whose two rings' memory was closed behind its back, each end watching a worker through a pidfd:
     * both rings are closed and both pidfds with them, and the out ring's failure comes first.
     */
    @Test
    void shouldCloseBothRingsOfALinkAndTheirPidfdsWhenClosingTheFirstFails() throws Exception {
        try (Subprocess worker = Subprocess.builder("sleep", "30").destroyGrace(Duration.ofMillis(100)).start()) {
            FrameLink link = FrameLink.create(2, 4096, 2, 4096);
            link.watch(worker.pid());
            long own = pidfdsOf(worker.pid());   // the Subprocess's
            // Each end waits once, and looks at the worker through a pidfd of its own while it waits.
            assertNull(link.in().poll(10, TimeUnit.MILLISECONDS));
            link.out().claimBytes(1).commit();
            link.out().claimBytes(1).commit();
            assertNull(link.out().claim(1, 1, PixelFormat.GRAY8, 10, TimeUnit.MILLISECONDS));
            assertEquals(own + 2, pidfdsOf(worker.pid()), "one pidfd per end");
            link.out().ring.memory().close();   // behind the link's back
            link.in().ring.memory().close();

            IllegalStateException first = assertThrows(IllegalStateException.class, link::close);
            assertTrue(thrownBy(first, FrameProducer.class), "the out ring's failure first");
            assertEquals(1, first.getSuppressed().length, "the in ring's failure, suppressed in the out ring's");
            assertEquals(own, pidfdsOf(worker.pid()), "both ends' pidfds closed all the same");
            assertThrows(FrameRingClosedException.class, () -> link.in().tryTake(), "the in ring's consumer closed all the same");
            link.close();   // idempotent
        }
    }

    /**
     * An end closed by another thread while its own thread looks at the watched peer (every few thousand
     * spins here): the look must not open a pidfd after the close, which nobody would close; the close must
     * not fail because the look's poll holds the poll buffer's arena, nor close the pidfd under that poll
     * (which then reads POLLNVAL and calls the peer dead). Timing-dependent, so many rounds, each closed at a
     * random point: before PeerWatch took a lock, a pidfd was left open within a few hundred rounds.
     */
    @Test
    void shouldCloseAnEndWhoseThreadIsLookingAtItsPeerWithoutFailingOrLeakingThePidfd() throws Exception {
        WaitStrategy spinning = new WaitStrategy(Integer.MAX_VALUE, 0, false, TimeUnit.MILLISECONDS.toNanos(50));
        try (Subprocess peer = Subprocess.builder("sleep", "30").destroyGrace(Duration.ofMillis(100)).start()) {
            long own = pidfdsOf(peer.pid());
            List<String> wrong = new ArrayList<>();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
            int rounds = 0;
            for (; rounds < 3000 && wrong.isEmpty() && System.nanoTime() - deadline < 0; rounds++) {
                try (FrameRing ring = FrameRing.create(2, 4096)) {
                    FrameConsumer consumer = ring.consumer(spinning);
                    consumer.watchPeer(peer.pid());
                    CompletableFuture<Throwable> take = CompletableFuture.supplyAsync(() -> {
                        try {
                            consumer.take();
                            return new AssertionError("take returned a frame nobody committed");
                        } catch (Throwable t) {
                            return t;
                        }
                    }, r -> Thread.ofPlatform().start(r));
                    long spinUntil = System.nanoTime() + ThreadLocalRandom.current().nextLong(200_000);
                    while (System.nanoTime() - spinUntil < 0) Thread.onSpinWait();
                    try {
                        consumer.close();
                    } catch (IOException | RuntimeException e) {
                        wrong.add("close threw " + e);
                    }
                    Throwable taken = take.get(10, TimeUnit.SECONDS);
                    if (!(taken instanceof FrameRingClosedException)) wrong.add("the take threw " + taken);
                }
                long pidfds = pidfdsOf(peer.pid());
                if (pidfds != own) wrong.add((pidfds - own) + " pidfd(s) left open");
            }
            assertEquals(List.of(), wrong, "after " + rounds + " rounds");
        }
    }
}
