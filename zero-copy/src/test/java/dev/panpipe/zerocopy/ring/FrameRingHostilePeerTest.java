package dev.panpipe.zerocopy.ring;

import dev.panpipe.connection.ProtocolException;
import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.Seccomp;
import dev.panpipe.zerocopy.SharedMemory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import static dev.panpipe.zerocopy.ring.FrameRingDescriptor.*;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * A peer that changes the shared header while this process uses it, rather than before: a field checked once
 * must be the field used (read once), and a value the peer hands over while this end waits is checked like one
 * read before the wait.
 */
@Timeout(60)
class FrameRingHostilePeerTest {

    @Test
    void shouldUseTheGeometryItCheckedEvenIfThePeerChangesItMeanwhile() throws Exception {
        try (FrameRing ring = FrameRing.create(2, 4096);
             SharedMemory hostile = Mappings.second(ring.memory().nativeHandle())) {
            MemorySegment h = hostile.segment();
            AtomicBoolean stop = new AtomicBoolean();
            // 2 slots fit the mapping, 4 do not: a joiner must see 2 slots, or refuse the ring naming a field.
            Thread flipper = Thread.ofPlatform().start(() -> {
                while (!stop.get()) {
                    FrameRing.INT.setVolatile(h, (long) SLOT_COUNT_OFFSET, 4);
                    FrameRing.INT.setVolatile(h, (long) SLOT_COUNT_OFFSET, 2);
                }
            });
            int attached = 0;
            try {
                long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(3);
                while (System.nanoTime() - end < 0) {
                    FrameRing joined;
                    try {
                        joined = FrameRing.attach(Mappings.second(ring.memory().nativeHandle()));
                    } catch (ProtocolException e) {
                        continue;   // refused naming a field: fine
                    }
                    try (joined) {
                        attached++;
                        assertEquals(2, joined.slotCount(), "attached with a slot count it never checked");
                    }
                }
            } finally {
                stop.set(true);
                flipper.join();
            }
            assertTrue(attached > 0, "no attach got through while the header changed");
        }
    }

    @Test
    void shouldRefuseAConsumerPositionAheadOfTheProducerHandedOverWhileItWaitedForRoom() throws Exception {
        try (FrameRing ring = FrameRing.create(1, 4096);
             SharedMemory hostile = Mappings.second(ring.memory().nativeHandle())) {
            FrameProducer producer = ring.producer(WaitStrategy.sleepAtOnce());
            FrameClaim first = producer.claimBytes(8);
            first.pixels().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 42);
            first.commit();   // the one slot now holds a frame nobody released
            CompletableFuture<FrameClaim> blocked = CompletableFuture.supplyAsync(() -> {
                try {
                    return producer.claimBytes(8);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            }, r -> Thread.ofPlatform().start(r));
            Thread.sleep(100);
            assertFalse(blocked.isDone(), "the producer did not wait for room");
            // A consumer that "releases" 1000 frames of a ring where only 1 was committed.
            FrameRing.LONG.setRelease(hostile.segment(), (long) CONSUMER_POSITION_OFFSET, 1000L);
            dev.panpipe.bindings.Syscalls.futex_wake(hostile.segment().asSlice(CONSUMER_POSITION_OFFSET, 4), 1);
            ExecutionException e = assertThrows(ExecutionException.class, () -> {
                FrameClaim c = blocked.get(10, TimeUnit.SECONDS);
                fail("claimed slot " + c.sequence() + " over a frame never released (the slot held "
                        + c.pixels().get(ValueLayout.JAVA_LONG_UNALIGNED, 0) + ")");
            });
            ProtocolException cause = assertInstanceOf(ProtocolException.class, e.getCause().getCause(), e.toString());
            assertEquals("consumer position", cause.field());
        }
    }

    @Test
    void shouldLetOnlyOneOfTwoProducersAttachingAtOnceAttach() throws Exception {
        int doubled = 0;
        for (int round = 0; round < 1500 && doubled == 0; round++) {
            try (FrameRing ring = FrameRing.create(1, 4096);
                 FrameRing a = FrameRing.attach(Mappings.second(ring.memory().nativeHandle()));
                 FrameRing b = FrameRing.attach(Mappings.second(ring.memory().nativeHandle()))) {
                AtomicInteger ready = new AtomicInteger();
                CompletableFuture<Boolean> first = attachProducerWith(a, ready);
                CompletableFuture<Boolean> second = attachProducerWith(b, ready);
                if (first.get(10, TimeUnit.SECONDS) && second.get(10, TimeUnit.SECONDS)) doubled++;
            }
        }
        assertEquals(0, doubled, "two producers attached to one ring");
    }

    /** Attaches a producer to {@code ring} once both threads are ready: true if it attached. */
    private static CompletableFuture<Boolean> attachProducerWith(FrameRing ring, AtomicInteger ready) {
        return CompletableFuture.supplyAsync(() -> {
            ready.incrementAndGet();
            while (ready.get() < 2) Thread.onSpinWait();
            try {
                ring.producer();
                return true;
            } catch (IllegalStateException refused) {
                return false;
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }, r -> Thread.ofPlatform().start(r));
    }

    @Test
    void shouldRefuseAClaimWhoseRowDoesNotFitTheLayoutsStrideField() throws Exception {
        // A slot of 4 GiB (a memfd: nothing is allocated until touched) holds a row of 2^30 RGBA pixels, 2^32 bytes,
        // one more than the u32 stride field holds: the stride must not be stored as 0.
        try (FrameRing ring = FrameRing.create(1, 1L << 32)) {
            FrameProducer producer = ring.producer();
            FrameClaim claim = null;
            try {
                claim = producer.claim(1 << 30, 1, dev.panpipe.pixel.PixelFormat.RGBA8);
            } catch (IllegalArgumentException refused) {
                return;
            }
            fail("claimed a frame whose stride is stored as " + Integer.toUnsignedLong(claim.stride()));
        }
    }

    /**
     * A producer that dies between its frame's sequence store and its position store has committed that frame as
     * far as a consumer is concerned (it takes a frame by its sequence, see FrameConsumer.spinProbe): the producer
     * that takes over must not claim that slot again while the consumer holds it.
     */
    @Test
    void shouldNotHandTheSuccessorOfAProducerThatDiedMidCommitTheSlotItsConsumerHolds() throws Exception {
        try (FrameRing ring = FrameRing.create(2, 4096);
             FrameRing again = FrameRing.attach(Mappings.second(ring.memory().nativeHandle()))) {
            MemorySegment s = ring.segment();
            FrameConsumer consumer = ring.consumer();
            FrameProducer first = ring.producer();
            FrameClaim c = first.claimBytes(8);
            c.pixels().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 100);
            c.commit();
            consumer.take().release();
            ring.segment().asSlice(ring.slotOffset(1), 8).set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 101);
            dieMidCommit(s, 1);

            FrameView held = consumer.take();
            assertEquals(1, held.sequence());
            assertEquals(101, held.pixels().get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
            FrameProducer successor = again.producer();
            FrameClaim next = successor.tryClaimBytes(8);
            assertNotNull(next, "slot 0 is free");
            assertEquals(2, next.sequence(), "the successor claimed again a frame its consumer holds");
            next.pixels().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 102);
            next.commit();
            assertEquals(101, held.pixels().get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
            held.release();
            FrameView v = consumer.take();
            assertEquals(2, v.sequence());
            assertEquals(102, v.pixels().get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
            v.release();
        }
    }

    /**
     * Where a sandbox denies pidfd_open (EPERM from a seccomp filter, as Docker's default profile before 20.10),
     * every look at the peer threw that error, so no wait on a ring could be made. The peer is now asked after
     * with kill(pid, 0) and its start time: a live producer is waited for, a dead one is noticed.
     */
    @Test
    void shouldWatchThePeerWhereASandboxDeniesPidfdOpen() throws Exception {
        Process producer = new ProcessBuilder("sleep", "30").start();
        try (FrameRing ring = FrameRing.create(2, 4096)) {
            MemorySegment header = ring.segment();
            header.set(ValueLayout.JAVA_INT, PRODUCER_PID_OFFSET, (int) producer.pid());
            header.set(ValueLayout.JAVA_INT, PRODUCER_STATE_OFFSET, STATE_ATTACHED);
            AtomicReference<Object> outcome = new AtomicReference<>();
            Thread sandboxed = Thread.ofPlatform().start(() -> {
                try {
                    if (!Seccomp.denyPidfdOpenToThisThread()) {
                        outcome.set("no seccomp here");
                        return;
                    }
                    FrameConsumer consumer = ring.consumer();
                    assertNull(consumer.poll(200, TimeUnit.MILLISECONDS), "a live producer with nothing sent: waited for");
                    producer.destroyForcibly();
                    producer.waitFor();
                    outcome.set(assertThrows(PeerDiedException.class, () -> consumer.poll(5, TimeUnit.SECONDS)));
                } catch (Throwable e) {
                    outcome.set(e);
                }
            });
            sandboxed.join();
            Object o = outcome.get();
            if (o instanceof Throwable e && !(e instanceof PeerDiedException)) throw new AssertionError(e);
            assumeTrue(o instanceof PeerDiedException, String.valueOf(o));
            assertEquals(producer.pid(), ((PeerDiedException) o).pid());
        } finally {
            producer.destroyForcibly();
            producer.waitFor();
        }
    }

    /**
     * Leaves frame {@code sequence} (8 plain bytes) as a producer that died between its two stores leaves it: the
     * descriptor and its sequence stored, the producer position not; the producer pid names an exited process.
     */
    static void dieMidCommit(MemorySegment s, int sequence) throws Exception {
        long d = descriptorOffset(sequence);
        s.set(ValueLayout.JAVA_LONG, d + PAYLOAD_LENGTH_OFFSET, 8);
        s.set(ValueLayout.JAVA_LONG, d + WIDTH_OFFSET, pack(8, 1));
        s.set(ValueLayout.JAVA_LONG, d + STRIDE_OFFSET, pack(8, FORMAT_BYTES));
        FrameRing.LONG.setRelease(s, d + SEQUENCE_OFFSET, (long) sequence);
        Process gone = new ProcessBuilder("true").start();
        gone.waitFor();
        FrameRing.INT.setVolatile(s, (long) PRODUCER_PID_OFFSET, (int) gone.pid());
    }

    /**
     * A negative pid names no process, as a pid that names a thread does not (shouldTakeAPidThatNamesAThreadForAPeer
     * ThatHasEnded): a waiter must not take it for a producer not attached yet and wait for ever.
     */
    @Test
    void shouldTakeANegativePeerPidForAPeerThatIsGoneRatherThanWaitForEver() throws Exception {
        try (FrameRing ring = FrameRing.create(2, 4096)) {
            MemorySegment header = ring.segment();
            header.set(ValueLayout.JAVA_INT, PRODUCER_PID_OFFSET, -1);
            header.set(ValueLayout.JAVA_INT, PRODUCER_STATE_OFFSET, STATE_ATTACHED);
            FrameConsumer consumer = ring.consumer();
            PeerDiedException e = assertThrows(PeerDiedException.class, () -> consumer.poll(2, TimeUnit.SECONDS));
            assertEquals(-1, e.pid());
        }
    }

    /**
     * A strategy's yields are a phase of the wait like its spins: its deadline and its peer are looked at there too.
     * As many yields as a strategy may have: were the deadline not looked at, the poll would yield for many
     * minutes. With 2 million, as before, it would have yielded for 2 million yields only, 3.5 s on a busy 2-vCPU
     * machine but perhaps under the bound on an idle one. The deadline is looked at every 64 yields, and on a busy
     * machine each yield may give the core away for a while: the 20 ms poll took up to 73 ms there, far under 5 s.
     */
    @Test
    void shouldKeepTheDeadlineOfAWaitWhoseStrategyYieldsALot() throws Exception {
        try (FrameRing ring = FrameRing.create(2, 4096)) {
            FrameConsumer consumer = ring.consumer(new WaitStrategy(0, Integer.MAX_VALUE, true, 20_000_000L));
            long t0 = System.nanoTime();
            assertNull(consumer.poll(20, TimeUnit.MILLISECONDS));
            long tookMillis = (System.nanoTime() - t0) / 1_000_000;
            assertTrue(tookMillis < 5_000, "a poll of 20 ms took " + tookMillis + " ms");
        }
    }
}
