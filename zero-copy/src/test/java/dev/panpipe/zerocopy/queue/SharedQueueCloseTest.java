package dev.panpipe.zerocopy.queue;

import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicReference;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Closing a queue handle while another thread, or the caller's own code, is in the middle of an operation
 * on it. Whatever the timing, an operation happens whole or is refused whole: a put that returns has
 * published its message and one that throws has not, and no slot is left claimed by this (live) process,
 * where no survivor would ever take it back. A second handle to the same memory plays the other processes.
 */
@Timeout(120)
@ExtendWith(NoLeaks.class)
class SharedQueueCloseTest {
    private static final int BIG = 1 << 20;

    @Test
    void shouldPublishWholeOrRefuseWholeAPutThatACloseRaces() throws Exception {
        int published = 0;
        int refused = 0;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment message = arena.allocate(BIG, 64);
            MemorySegment received = arena.allocate(BIG, 64);
            for (int round = 0; round < 150; round++) {
                byte mark = (byte) (round + 1);
                message.fill(mark);
                SharedQueue closing = SharedQueue.create("close-race", 2, BIG);
                try (SharedQueue other = SharedQueue.attach(Mappings.second(closing.nativeHandle()))) {
                    CountDownLatch started = new CountDownLatch(1);
                    AtomicReference<Throwable> outcome = new AtomicReference<>();
                    Thread putter = Thread.ofPlatform().start(() -> {
                        started.countDown();
                        try {
                            closing.put(message);
                        } catch (Throwable t) {
                            outcome.set(t);
                        }
                    });
                    started.await();
                    long until = System.nanoTime() + ThreadLocalRandom.current().nextLong(300_000);
                    while (System.nanoTime() < until) Thread.onSpinWait();   // land anywhere in the put
                    closing.close();
                    putter.join();

                    Throwable failure = outcome.get();
                    if (failure == null) {
                        published++;
                        assertEquals(BIG, other.poll(received, Duration.ofSeconds(5)), "round " + round + ": a put that returned published its message");
                        assertEquals(-1, received.mismatch(message), "round " + round + ": the message is whole");
                    } else {
                        refused++;
                        if (!(failure instanceof IllegalStateException)) throw new AssertionError("round " + round, failure);
                        assertEquals(SharedQueue.EMPTY, other.poll(received), "round " + round + ": a put that threw (" + failure + ") published nothing");
                    }
                    // no slot is left claimed by this process: both slots take a message and give it back
                    for (int i = 0; i < 2; i++) assertTrue(other.offerLong(i, Duration.ofSeconds(5)), "round " + round + ": slot " + i + " is free again");
                    for (int i = 0; i < 2; i++) assertEquals(i, other.pollLong(Duration.ofSeconds(5)).orElseThrow(), "round " + round);
                } finally {
                    closing.close();
                }
            }
        }
        // the timing is random: report where the closes landed, so a run that never raced is visible
        System.out.println("SharedQueueCloseTest: " + published + " puts published, " + refused + " refused");
    }

    @Test
    void shouldLetAMessageHandlerCloseItsOwnQueue() throws Exception {
        try (SharedQueue other = SharedQueue.create("close-in-handler", 4, 16)) {
            SharedQueue q = SharedQueue.attach(Mappings.second(other.nativeHandle()));
            assertTrue(q.offerLong(42));
            long[] seen = new long[1];
            assertTrue(q.poll(m -> {
                try {
                    q.close();
                } catch (Exception e) {
                    throw new AssertionError(e);
                }
                seen[0] = m.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);   // still mapped: the handler holds the slot
            }));
            assertEquals(42, seen[0]);
            assertEquals(1, Mappings.of("close-in-handler"), "the handle's mapping is gone once its handler returned");
            assertThrows(IllegalStateException.class, () -> q.offerLong(1), "the handle is closed");
            assertEquals(-1, q.nativeHandle());
            // the slot the handler held was given back: the whole ring is usable
            for (int lap = 0; lap < 2; lap++) {
                for (int i = 0; i < 4; i++) assertTrue(other.offerLong(i), "lap " + lap + ", slot " + i);
                for (int i = 0; i < 4; i++) assertEquals(i, other.pollLong(Duration.ZERO).orElseThrow());
            }
        }
    }

    @Test
    void shouldGiveUpTheSlotsOfClaimsStillOpenWhenClosed() throws Exception {
        try (SharedQueue other = SharedQueue.create("close-with-claim", 4, 16)) {
            SharedQueue q = SharedQueue.attach(Mappings.second(other.nativeHandle()));
            QueueClaim committed = new QueueClaim();
            QueueClaim aborted = new QueueClaim();
            QueueClaim forgotten = new QueueClaim();
            assertTrue(q.tryClaim(committed));
            assertTrue(q.tryClaim(aborted));
            assertTrue(q.tryClaim(forgotten));                // as after an exception between claim and commit
            committed.buffer().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 7L);
            MemorySegment buffer = committed.buffer();
            assertTrue(other.offerLong(99), "the fourth slot, behind the claims");
            q.close();

            assertEquals(1, Mappings.of("close-with-claim"), "unmapped, open claims or not");
            assertThrows(IllegalStateException.class, () -> buffer.set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 8L),
                    "a claim's buffer cannot be written once its queue is closed");
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> committed.commit(8));
            assertTrue(e.getMessage().contains("was closed while this claim was open"), e.getMessage());
            aborted.abort();                                  // nothing to do: the close gave the slot up
            assertFalse(committed.isActive());
            assertFalse(aborted.isActive());
            // readers skip the three given-up slots and find the message behind them; the ring is whole
            assertEquals(99, other.pollLong(Duration.ofSeconds(5)).orElseThrow(), "the slots of the claims were given up");
            assertFalse(other.pollLong(Duration.ZERO).isPresent());
            assertEquals(0, other.reclaimed(), "given up by the live process's close, not taken back from a dead one");
            for (int lap = 0; lap < 2; lap++) {
                for (int i = 0; i < 4; i++) assertTrue(other.offerLong(i), "lap " + lap + ", slot " + i);
                for (int i = 0; i < 4; i++) assertEquals(i, other.pollLong(Duration.ZERO).orElseThrow());
            }
        }
    }

    @Test
    void shouldWakeAConsumerWaitingOnAClaimGivenUpAtClose() throws Exception {
        try (SharedQueue other = SharedQueue.create("close-claim-wake", 2, 16)) {
            SharedQueue q = SharedQueue.attach(Mappings.second(other.nativeHandle()));
            assertTrue(q.tryClaim(new QueueClaim()));
            java.util.concurrent.CompletableFuture<Long> taker = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return other.takeLong();
                } catch (InterruptedException ex) {
                    throw new AssertionError(ex);
                }
            }, r -> Thread.ofPlatform().start(r));
            Thread.sleep(200);                                // the taker sleeps on the claimed slot
            assertTrue(other.offerLong(5));
            q.close();
            assertEquals(5, taker.get(5, java.util.concurrent.TimeUnit.SECONDS), "woken, it skipped the given-up slot");
        }
    }

    @Test
    void shouldPublishWholeOrRefuseWholeAClaimThatACloseRaces() throws Exception {
        for (int round = 0; round < 200; round++) {
            SharedQueue closing = SharedQueue.create("claim-race", 2, 4096);
            try (SharedQueue other = SharedQueue.attach(Mappings.second(closing.nativeHandle()))) {
                CountDownLatch started = new CountDownLatch(1);
                AtomicReference<Throwable> outcome = new AtomicReference<>();
                QueueClaim claim = new QueueClaim();
                long value = round + 1000L;
                Thread producer = Thread.ofPlatform().start(() -> {
                    started.countDown();
                    try {
                        if (!closing.tryClaim(claim)) throw new AssertionError("no room");
                        claim.buffer().fill((byte) 1);
                        claim.buffer().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, value);
                        claim.commit(8);
                    } catch (Throwable t) {
                        outcome.set(t);
                    }
                });
                started.await();
                long until = System.nanoTime() + ThreadLocalRandom.current().nextLong(50_000);
                while (System.nanoTime() < until) Thread.onSpinWait();
                closing.close();
                producer.join();
                Throwable failure = outcome.get();
                if (failure == null) {
                    assertEquals(value, other.pollLong(Duration.ofSeconds(5)).orElseThrow(), "round " + round + ": committed, so published");
                } else {
                    if (!(failure instanceof IllegalStateException)) throw new AssertionError("round " + round, failure);
                    assertFalse(other.pollLong(Duration.ZERO).isPresent(), "round " + round + ": refused (" + failure + "), so not published");
                }
                for (int i = 0; i < 2; i++) assertTrue(other.offerLong(i, Duration.ofSeconds(5)), "round " + round + ": slot " + i + " is free again");
                for (int i = 0; i < 2; i++) assertEquals(i, other.pollLong(Duration.ofSeconds(5)).orElseThrow(), "round " + round);
            } finally {
                closing.close();
            }
        }
    }
}
