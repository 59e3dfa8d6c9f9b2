package dev.panpipe.zerocopy.queue;

import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.internal.Processes;
import dev.panpipe.zerocopy.internal.SharedRegion;
import dev.panpipe.zerocopy.ThisJvm;
import dev.panpipe.zerocopy.shared.SharedHeaderException;
import dev.panpipe.zerocopy.shared.SharedIntArray;
import dev.panpipe.zerocopy.shared.SharedLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The shared queue within one process: order, bounds, waiting, sizes, in-place access and its header. */
@Timeout(60)
@ExtendWith(NoLeaks.class)
class SharedQueueTest {

    static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void shouldKeepOrderAndRefuseMoreThanItsCapacityWithoutDropping() throws Exception {
        try (SharedQueue q = SharedQueue.create("fifo", 4, 16)) {
            assertEquals(4, q.capacity());
            assertEquals(16, q.maxMessageSize());
            assertTrue(q.offer(bytes("a")));
            assertTrue(q.offer(bytes("")));
            assertTrue(q.offerLong(-5L));
            assertTrue(q.offerInt(7));
            assertEquals(4, q.size());
            assertFalse(q.offer(bytes("e")), "full");
            assertFalse(q.offerLong(1, Duration.ZERO));
            assertArrayEquals(bytes("a"), q.poll());
            assertArrayEquals(new byte[0], q.poll());
            assertEquals(OptionalLong.of(-5L), q.pollLong(Duration.ZERO));
            assertEquals(OptionalInt.of(7), q.pollInt(Duration.ZERO));
            assertNull(q.poll(), "empty");
            assertEquals(OptionalLong.empty(), q.pollLong(Duration.ZERO));
            for (int lap = 0; lap < 10; lap++) {                     // around the ring a few times
                for (int i = 0; i < 4; i++) q.putInt(lap * 4 + i);
                for (int i = 0; i < 4; i++) assertEquals(lap * 4 + i, q.takeInt());
            }
            assertEquals(0, q.size());
        }
    }

    @Test
    void shouldWaitForRoomAndForMessagesAndTimeOut() throws Exception {
        try (SharedQueue q = SharedQueue.create("waiting", 2, 8)) {
            long t0 = System.nanoTime();
            assertNull(q.poll(Duration.ofMillis(120)));
            assertTrue(System.nanoTime() - t0 >= TimeUnit.MILLISECONDS.toNanos(100), "poll returned before its timeout");
            q.putLong(1);
            q.putLong(2);
            t0 = System.nanoTime();
            assertFalse(q.offerLong(3, Duration.ofMillis(120)));
            assertTrue(System.nanoTime() - t0 >= TimeUnit.MILLISECONDS.toNanos(100), "offer returned before its timeout");

            CompletableFuture<Void> putter = CompletableFuture.runAsync(() -> {
                try {
                    q.putLong(3);                                   // blocks: full
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
            }, r -> Thread.ofPlatform().start(r));
            Thread.sleep(100);
            assertFalse(putter.isDone(), "put returned on a full queue");
            assertEquals(1, q.takeLong());                          // frees a slot and wakes the putter
            putter.get(10, TimeUnit.SECONDS);
            assertEquals(2, q.takeLong());
            assertEquals(3, q.takeLong());

            CompletableFuture<Long> taker = CompletableFuture.supplyAsync(() -> {
                try {
                    return q.takeLong();
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
            }, r -> Thread.ofVirtual().start(r));
            Thread.sleep(100);
            assertFalse(taker.isDone(), "take returned on an empty queue");
            q.putLong(4);
            assertEquals(4L, taker.get(10, TimeUnit.SECONDS));
        }
    }

    /**
     * The primitive takes return the message's value, or the caller's {@code ifNone} once the timeout passed
     * with none; a message that holds {@code ifNone} reads the same (the caller picks a value never sent), and
     * one of the other size stays in the queue.
     */
    @Test
    void shouldTakePrimitivesOrReturnIfNoneWhenNoneCame() throws Exception {
        try (SharedQueue q = SharedQueue.create("if-none", 4, 8)) {
            assertTrue(q.offerLong(Long.MIN_VALUE));
            assertTrue(q.offerInt(Integer.MAX_VALUE));
            assertEquals(Long.MIN_VALUE, q.pollLong(Duration.ZERO, -1));
            assertThrows(IllegalStateException.class, () -> q.pollLong(Duration.ZERO, -1), "a 4-byte message is no long");
            assertEquals(Integer.MAX_VALUE, q.pollInt(Duration.ZERO, -1), "it stayed");
            long t0 = System.nanoTime();
            assertEquals(-1, q.pollLong(Duration.ofMillis(60), -1));
            assertTrue(System.nanoTime() - t0 >= TimeUnit.MILLISECONDS.toNanos(50), "pollLong returned before its timeout");
            assertEquals(-7, q.pollInt(Duration.ZERO, -7));
            assertTrue(q.offerLong(-1));
            assertEquals(-1, q.pollLong(Duration.ZERO, -1), "a message holding ifNone reads as none");
            assertEquals(0, q.size(), "but it was taken");
        }
    }

    @Test
    void shouldRefuseTooLongMessagesAndLeaveWrongSizedOnesInTheQueue() throws Exception {
        try (SharedQueue q = SharedQueue.create("sizes", 8, 16); Arena arena = Arena.ofConfined()) {
            IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class, () -> q.offer(new byte[17]));
            assertEquals("message of 17 bytes exceeds the maximum message size of 16 bytes of shared queue 'sizes'", tooLong.getMessage());
            q.putInt(42);
            IllegalStateException notLong = assertThrows(IllegalStateException.class, q::takeLong);
            assertTrue(notLong.getMessage().contains("has 4 bytes; a long message is 8 bytes"), notLong.getMessage());
            assertEquals(42, q.takeInt(), "the message stayed");

            q.put(bytes("twelve bytes"));
            MemorySegment small = arena.allocate(4);
            IllegalStateException tooSmall = assertThrows(IllegalStateException.class, () -> q.poll(small));
            assertTrue(tooSmall.getMessage().contains("has 12 bytes; the destination holds 4"), tooSmall.getMessage());
            // a destination that cannot be written was found only when copying, after the message was taken: lost
            MemorySegment readOnly = arena.allocate(64).asReadOnly();
            assertThrows(IllegalArgumentException.class, () -> q.poll(readOnly));
            assertEquals(1, q.size(), "the message stayed");
            assertThrows(IllegalArgumentException.class, () -> q.poll(readOnly, Duration.ofSeconds(1)));
            assertThrows(IllegalArgumentException.class, () -> q.take(readOnly));
            MemorySegment gone;
            try (Arena closed = Arena.ofConfined()) {
                gone = closed.allocate(64);
            }
            MemorySegment finalGone = gone;
            IllegalArgumentException closedArena = assertThrows(IllegalArgumentException.class, () -> q.poll(finalGone));
            assertTrue(closedArena.getMessage().contains("closed arena"), closedArena.getMessage());
            assertThrows(IllegalArgumentException.class, () -> q.take(finalGone));
            assertEquals(1, q.size(), "the message stayed");
            MemorySegment big = arena.allocate(64);
            assertEquals(12, q.poll(big, Duration.ofSeconds(1)), "the message stayed");
            assertEquals("twelve bytes", new String(big.asSlice(0, 12).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8));
            assertEquals(SharedQueue.EMPTY, q.poll(big));
        }
    }

    @Test
    void shouldWriteAndReadInPlaceAndSkipAbortedClaims() throws Exception {
        try (SharedQueue q = SharedQueue.create("in-place", 4, 32)) {
            QueueClaim claim = new QueueClaim();
            assertTrue(q.tryClaim(claim));
            assertEquals(32, claim.buffer().byteSize());
            assertThrows(IllegalStateException.class, () -> q.tryClaim(claim));
            claim.abort();                                          // consumers skip this slot
            assertFalse(claim.isActive());
            assertThrows(IllegalStateException.class, () -> claim.commit(1));

            assertTrue(q.claim(claim, Duration.ofSeconds(1)));
            claim.buffer().set(ValueLayout.JAVA_LONG_UNALIGNED, 0, 0x1122334455667788L);
            claim.buffer().set(ValueLayout.JAVA_BYTE, 8, (byte) 9);
            assertThrows(IllegalArgumentException.class, () -> claim.commit(33));
            claim.commit(9);

            AtomicLong seen = new AtomicLong();
            assertTrue(q.poll(message -> {
                assertEquals(9, message.byteSize());
                assertTrue(message.isReadOnly());
                seen.set(message.get(ValueLayout.JAVA_LONG_UNALIGNED, 0));
            }));
            assertEquals(0x1122334455667788L, seen.get());
            assertFalse(q.poll(message -> { }), "the aborted slot is no message");
            assertEquals(0, q.reclaimed());

            q.putLong(5);
            assertThrows(IllegalStateException.class, () -> q.poll(message -> {
                throw new IllegalStateException("handler failed");
            }));
            assertEquals(0, q.size(), "a message whose handler threw is taken");
        }
    }

    /**
     * A copy into a claimed slot that fails (here: the message's arena is closed) must give the slot up, so
     * that readers skip it: a slot left claimed would stop every consumer at it.
     */
    @Test
    void shouldGiveUpTheSlotOfAMessageThatCouldNotBeCopiedSoReadersSkipIt() throws Exception {
        // the queue is closed first: that wakes a taker still waiting when an assertion fails
        try (ExecutorService pool = Executors.newSingleThreadExecutor(); SharedQueue q = SharedQueue.create("failed-copy", 4, 16)) {
            MemorySegment gone;
            try (Arena arena = Arena.ofConfined()) {
                gone = arena.allocate(8);
            }
            Future<byte[]> taker = pool.submit(() -> q.take());       // waiting before the failed copies come
            assertThrows(IllegalStateException.class, () -> q.offer(gone));
            assertThrows(IllegalStateException.class, () -> q.offer(gone, Duration.ofSeconds(1)));
            assertThrows(IllegalStateException.class, () -> q.put(gone));
            Thread.sleep(100);
            assertFalse(taker.isDone(), "an abandoned slot is no message");
            assertTrue(q.offer(bytes("whole")), "the fourth slot is still free");
            assertArrayEquals(bytes("whole"), taker.get(10, TimeUnit.SECONDS), "the taker skipped the three given-up slots");
            assertNull(q.poll(), "nothing else is in the queue");
            assertEquals(0, q.size());
            assertEquals(0, q.reclaimed(), "given up by a live writer, not taken back from a dead one");
            for (int lap = 0; lap < 2; lap++) {                      // round the ring: every slot is usable again
                for (int i = 0; i < 4; i++) assertTrue(q.offerInt(lap * 4 + i), "slot " + i + " of lap " + lap);
                for (int i = 0; i < 4; i++) assertEquals(OptionalInt.of(lap * 4 + i), q.pollInt(Duration.ZERO));
            }
        }
    }

    @Test
    void shouldDeliverEveryMessageExactlyOnceAmongThreadsOfTwoMappings() throws Exception {
        int producers = 4;
        int perProducer = 50_000;
        try (SharedQueue a = SharedQueue.create("threads", 64, 8); SharedQueue b = SharedQueue.attach(Mappings.second(a.nativeHandle()));
             SharedIntArray seen = SharedIntArray.create("seen", (long) producers * perProducer)) {
            List<Thread> threads = new ArrayList<>();
            List<Throwable> failures = java.util.Collections.synchronizedList(new ArrayList<>());
            for (int p = 0; p < producers; p++) {
                SharedQueue q = p % 2 == 0 ? a : b;
                long id = p;
                threads.add(Thread.ofPlatform().start(() -> {
                    try {
                        for (int seq = 0; seq < perProducer; seq++) q.putLong(id << 32 | seq);
                    } catch (Throwable t) {
                        failures.add(t);
                    }
                }));
            }
            for (int c = 0; c < 4; c++) {
                SharedQueue q = c % 2 == 0 ? b : a;
                Thread.Builder builder = c < 2 ? Thread.ofPlatform() : Thread.ofVirtual();
                threads.add(builder.start(() -> {
                    long[] last = {-1, -1, -1, -1};
                    try {
                        for (long m; (m = q.takeLong()) != -1; ) {
                            int id = (int) (m >>> 32);
                            int seq = (int) m;
                            if (seq <= last[id]) throw new AssertionError("producer " + id + ": " + seq + " after " + last[id]);
                            last[id] = seq;
                            seen.getAndAdd((long) id * perProducer + seq, 1);
                        }
                    } catch (Throwable t) {
                        failures.add(t);
                    }
                }));
            }
            for (Thread t : threads.subList(0, producers)) t.join();
            for (int c = 0; c < 4; c++) a.putLong(-1);
            for (Thread t : threads) t.join();
            assertTrue(failures.isEmpty(), failures.toString());
            int[] counts = seen.toArray();
            for (int i = 0; i < counts.length; i++) if (counts[i] != 1) throw new AssertionError("message " + i + " delivered " + counts[i] + " times");
        }
    }

    @Test
    void shouldWakeThisProcessesBlockedThreadsWhenClosed() throws Exception {
        SharedQueue q = SharedQueue.create("closing", 2, 8);
        CompletableFuture<Long> taker = CompletableFuture.supplyAsync(() -> {
            try {
                return q.takeLong();
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }, r -> Thread.ofPlatform().start(r));
        Thread.sleep(100);
        q.close();
        ExecutionException e = assertThrows(ExecutionException.class, () -> taker.get(5, TimeUnit.SECONDS));
        assertInstanceOf(IllegalStateException.class, e.getCause());
        assertThrows(IllegalStateException.class, () -> q.offerLong(1));
        assertEquals(-1, q.nativeHandle());
    }

    @Test
    void shouldAnswerInterruptWhileWaiting() throws Exception {
        try (SharedQueue q = SharedQueue.create("interrupt", 2, 8)) {
            CompletableFuture<Throwable> taker = new CompletableFuture<>();
            Thread t = Thread.ofPlatform().start(() -> {
                try {
                    q.take();
                    taker.complete(null);
                } catch (Throwable e) {
                    taker.complete(e);
                }
            });
            Thread.sleep(100);
            t.interrupt();
            assertInstanceOf(InterruptedException.class, taker.get(5, TimeUnit.SECONDS));
        }
    }

    @Test
    void shouldRefuseBadArgumentsAndAttachingAnythingButAQueue() throws Exception {
        assertThrows(IllegalArgumentException.class, () -> SharedQueue.create("x", 1000, 8));
        assertThrows(IllegalArgumentException.class, () -> SharedQueue.create("x", 0, 8));
        assertThrows(IllegalArgumentException.class, () -> SharedQueue.create("x", 1, 8), "one slot cannot tell read from free");
        assertThrows(IllegalArgumentException.class, () -> SharedQueue.create("x", 4, -1));
        assertThrows(NullPointerException.class, () -> SharedQueue.create(null, 4, 8));   // and no memfd left open (NoLeaks)
        try (SharedLong notAQueue = SharedLong.create("long", 0)) {
            SharedHeaderException e = assertThrows(SharedHeaderException.class, () -> SharedQueue.attach(Mappings.second(notAQueue.nativeHandle())));
            assertEquals("size", e.field(), "a shared long is smaller than a queue header");
        }
        try (SharedQueue q = SharedQueue.create("forged", 4, 8)) {
            MemorySegment seg;
            try (SharedMemory second = Mappings.second(q.nativeHandle())) {
                seg = second.segment();
                seg.set(ValueLayout.JAVA_INT, QueueLayout.CAPACITY_OFFSET, 3);
                assertEquals("capacity", assertThrows(SharedHeaderException.class, () -> SharedQueue.attach(Mappings.second(q.nativeHandle()))).field());
                seg.set(ValueLayout.JAVA_INT, QueueLayout.CAPACITY_OFFSET, 1 << 20);
                SharedHeaderException tooSmall = assertThrows(SharedHeaderException.class, () -> SharedQueue.attach(Mappings.second(q.nativeHandle())));
                assertEquals("capacity", tooSmall.field());
                assertTrue(tooSmall.getMessage().contains("the segment has"), tooSmall.getMessage());
                seg.set(ValueLayout.JAVA_INT, QueueLayout.CAPACITY_OFFSET, 4);
                seg.set(ValueLayout.JAVA_INT, QueueLayout.SLOT_SIZE_OFFSET, 40);
                assertEquals("slotSize", assertThrows(SharedHeaderException.class, () -> SharedQueue.attach(Mappings.second(q.nativeHandle()))).field());
                seg.set(ValueLayout.JAVA_INT, QueueLayout.SLOT_SIZE_OFFSET, (int) QueueLayout.slotSize(8));
                seg.set(ValueLayout.JAVA_INT, QueueLayout.VERSION_OFFSET, 9);
                assertEquals("version", assertThrows(SharedHeaderException.class, () -> SharedQueue.attach(Mappings.second(q.nativeHandle()))).field());
                // a queue of an earlier panpipe, whose slots keep no claimer's start time and whose payload is 8 bytes earlier
                seg.set(ValueLayout.JAVA_INT, QueueLayout.VERSION_OFFSET, 1);
                SharedHeaderException earlier = assertThrows(SharedHeaderException.class, () -> SharedQueue.attach(Mappings.second(q.nativeHandle())));
                assertEquals("version", earlier.field());
                assertEquals(1, earlier.value());
                assertTrue(earlier.getMessage().startsWith("shared queue: unsupported version 1, made by an earlier panpipe"), earlier.getMessage());
                seg.set(ValueLayout.JAVA_INT, QueueLayout.VERSION_OFFSET, QueueLayout.VERSION);
                seg.set(ValueLayout.JAVA_INT, QueueLayout.MAGIC_OFFSET, 0);
                SharedHeaderException magic = assertThrows(SharedHeaderException.class, () -> SharedQueue.attach(Mappings.second(q.nativeHandle())));
                assertTrue(magic.getMessage().startsWith("shared queue: bad magic 0x00000000 (expected 0x55515050"), magic.getMessage());
            }
        }
    }
    /**
     * A slot word no process following the protocol could have written used to make poll and offer spin
     * for ever on it (SharedQueueCorruptionProperties found it); now it is an error naming the word, and
     * the queue is left as it was.
     */
    @Test
    void shouldNameASlotWordWrittenOverRatherThanSpinOnIt() throws Exception {
        try (SharedQueue q = SharedQueue.create("overwritten", 4, 8); SharedMemory other = Mappings.second(q.nativeHandle())) {
            assertTrue(q.offer(bytes("a")));
            MemorySegment seg = other.segment();
            long slot0 = QueueLayout.SLOTS_OFFSET;
            seg.set(ValueLayout.JAVA_LONG, slot0 + QueueLayout.SEQUENCE, 1L << 40);            // "read" far ahead
            CorruptQueueException e = assertThrows(CorruptQueueException.class, () -> q.poll(Duration.ofMillis(1)));
            assertEquals("sequence", e.field());
            assertEquals(1L << 40, e.value());
            assertTrue(e.getMessage().contains("slot 0") && e.getMessage().contains("position 0"), e.getMessage());
            assertThrows(CorruptQueueException.class, q::poll, "and again: nothing was changed");
            seg.set(ValueLayout.JAVA_LONG, slot0 + QueueLayout.SEQUENCE, 1L);
            seg.set(ValueLayout.JAVA_INT, slot0 + QueueLayout.LENGTH, 1 << 20);                 // past the slot
            assertEquals("length", assertThrows(CorruptQueueException.class, q::poll).field());
            seg.set(ValueLayout.JAVA_INT, slot0 + QueueLayout.LENGTH, 1);
            seg.set(ValueLayout.JAVA_LONG, slot0 + QueueLayout.READER, QueueLayout.claimWord(1 << 20, 1)); // no position near
            assertEquals("reader claim", assertThrows(CorruptQueueException.class, q::poll).field());
            seg.set(ValueLayout.JAVA_LONG, slot0 + QueueLayout.READER, QueueLayout.claimWord(-4, 0));
            assertArrayEquals(bytes("a"), q.poll(), "repaired, the message is still there");
            long slot1 = slot0 + QueueLayout.slotSize(8);
            seg.set(ValueLayout.JAVA_LONG, slot1 + QueueLayout.WRITER, 0L);                    // a claim for position 0
            assertEquals("writer claim", assertThrows(CorruptQueueException.class, () -> q.offer(bytes("b"), Duration.ofMillis(1))).field());
        }
    }

    /**
     * A claim keeps the low 32 bits of its position, so a long-lived queue passes 2^32 messages in minutes
     * and every check of a claim must carry on across that wrap. The ring is set as if it had carried
     * 2^32 - 2 messages; messages then go round it and across the wrap, and a slot claimed across it by a
     * process that has ended is taken back.
     */
    @Test
    void shouldCarryOnPastTwoToTheThirtyTwoPositions() throws Exception {
        int capacity = 4;
        long start = (1L << 32) - 2;
        try (SharedQueue q = SharedQueue.create("wrap", capacity, 8); SharedMemory other = Mappings.second(q.nativeHandle())) {
            MemorySegment seg = other.segment();
            long slotSize = QueueLayout.slotSize(8);
            for (long p = start; p < start + capacity; p++) {
                long slot = QueueLayout.SLOTS_OFFSET + (p & (capacity - 1)) * slotSize;
                seg.set(ValueLayout.JAVA_LONG, slot + QueueLayout.SEQUENCE, p);
                seg.set(ValueLayout.JAVA_LONG, slot + QueueLayout.WRITER, QueueLayout.claimWord(p - capacity, 1));
                seg.set(ValueLayout.JAVA_LONG, slot + QueueLayout.READER, QueueLayout.claimWord(p - capacity, 1));
            }
            seg.set(ValueLayout.JAVA_LONG, QueueLayout.TAIL_OFFSET, start);
            seg.set(ValueLayout.JAVA_LONG, QueueLayout.HEAD_OFFSET, start);
            for (int lap = 0; lap < 3; lap++) {
                for (int i = 0; i < capacity; i++) assertTrue(q.offerInt(lap * 4 + i), "lap " + lap + ", message " + i);
                assertFalse(q.offerInt(-1), "full");
                for (int i = 0; i < capacity; i++) assertEquals(OptionalInt.of(lap * 4 + i), q.pollInt(Duration.ZERO));
                assertEquals(OptionalInt.empty(), q.pollInt(Duration.ZERO));
            }
            long tail = seg.get(ValueLayout.JAVA_LONG, QueueLayout.TAIL_OFFSET);
            assertEquals(start + 3 * capacity, tail);
            long slot = QueueLayout.SLOTS_OFFSET + (tail & (capacity - 1)) * slotSize;
            seg.set(ValueLayout.JAVA_LONG, slot + QueueLayout.WRITER, QueueLayout.claimWord(tail, ThisJvm.aThreadIdThatLeadsNoProcess()));
            assertTrue(q.offerLong(7));
            assertEquals(OptionalLong.of(7), q.pollLong(Duration.ofSeconds(5)), "the dead writer's slot skipped");
            assertEquals(1, q.reclaimed());
        }
    }

    /**
     * The largest maximum message size create takes (2^31-65 bytes) makes 2 GiB slots, a slot size the
     * header's int holds only as unsigned: attach read it signed, found it differed from what the maximum
     * asks for, and refused every queue with messages above 2^31-96 bytes. The memfd is sparse: only the
     * slots' first bytes are touched.
     */
    @Test
    void shouldAttachAQueueOfTheLargestMessagesItCreates() throws Exception {
        int max = Integer.MAX_VALUE - 64;
        try (SharedQueue q = SharedQueue.create("largest", 2, max);
             SharedQueue attached = SharedQueue.attach(Mappings.second(q.nativeHandle()))) {
            assertEquals(max, attached.maxMessageSize());
            assertTrue(q.offerLong(42));
            assertEquals(OptionalLong.of(42), attached.pollLong(Duration.ZERO));
        }
    }

    /**
     * A claimer stores its start time just after its claim. A survivor that read the record before that store
     * (so judged the claimer by its pid alone) and found it dead after it (it stored, then died) saw its reset of
     * the record fail, and took the claim over all the same: the slot then held a claim naming the survivor under
     * the dead claimer's record, tagged for the slot's live sequence, so that any other survivor (a thread of the
     * same process included) looking before the first one finished judged it, alive, by the dead one's start
     * time, took its claim, and the first one's store of ABANDONED could land on the next lap's message. Here a
     * thread plays the dead claimer's late store (a compare-and-set from the record the survivor read, so it never
     * lands after the survivor's reset) while a producer finds the queue full and looks; a claim taken over must
     * never sit under that record.
     */
    @Test
    void shouldNeverTakeAClaimOverWhileTheDeadClaimersLateRecordStands() throws Exception {
        int dead = 4_000_000;                                   // above pid_max: no process has it
        int deadStart = (int) Processes.SELF_START_TIME + 12345;
        long slot0 = QueueLayout.SLOTS_OFFSET;
        long slot1 = slot0 + QueueLayout.slotSize(8);
        long before = QueueLayout.startRecord(-1, (int) Processes.SELF_START_TIME);   // the reader of a lap ago's
        long late = QueueLayout.startRecord(0, deadStart);                            // the dead writer's of position 0
        int trials = 2000;
        try (SharedQueue q = SharedQueue.create("late-record", 2, 8); SharedMemory other = Mappings.second(q.nativeHandle());
             SharedRegion.StretchedSlices slices = SharedRegion.stretchSlices(Duration.ZERO)) {   // look at every call
            MemorySegment seg = other.segment();
            // position 1 written and not read, so a producer at the tail (2) finds the queue full behind position 0
            seg.set(ValueLayout.JAVA_LONG, slot1 + QueueLayout.SEQUENCE, 2L);
            seg.set(ValueLayout.JAVA_LONG, slot1 + QueueLayout.WRITER, QueueLayout.claimWord(1, Processes.SELF));
            seg.set(ValueLayout.JAVA_INT, slot1 + QueueLayout.LENGTH, 8);
            AtomicInteger go = new AtomicInteger(-1);
            AtomicInteger done = new AtomicInteger(-1);
            Thread claimer = Thread.ofPlatform().start(() -> {
                for (int t = 0; t < trials; t++) {
                    while (go.get() < t) Thread.onSpinWait();
                    long until = System.nanoTime() + ThreadLocalRandom.current().nextLong(20_000);
                    while (System.nanoTime() < until) Thread.onSpinWait();
                    SharedRegion.LONG.compareAndSet(seg, slot0 + QueueLayout.CLAIMER_START, before, late);
                    done.set(t);
                }
            });
            int takenUnderIt = 0;
            try {
                for (int t = 0; t < trials; t++) {
                    // position 0 claimed by the writer that is about to store its record and die
                    seg.set(ValueLayout.JAVA_LONG, slot0 + QueueLayout.SEQUENCE, 0L);
                    seg.set(ValueLayout.JAVA_LONG, slot0 + QueueLayout.WRITER, QueueLayout.claimWord(0, dead));
                    seg.set(ValueLayout.JAVA_LONG, slot0 + QueueLayout.CLAIMER_START, before);
                    seg.set(ValueLayout.JAVA_LONG, QueueLayout.HEAD_OFFSET, 0L);
                    seg.set(ValueLayout.JAVA_LONG, QueueLayout.TAIL_OFFSET, 2L);
                    go.set(t);
                    assertFalse(q.offerLong(7), "full either way: position 1 is not read");
                    while (done.get() < t) Thread.onSpinWait();
                    long claim = seg.get(ValueLayout.JAVA_LONG, slot0 + QueueLayout.WRITER);
                    long record = seg.get(ValueLayout.JAVA_LONG, slot0 + QueueLayout.CLAIMER_START);
                    if (QueueLayout.claimedPid(claim) != dead && record == late) takenUnderIt++;
                }
            } finally {
                go.set(trials);
                claimer.join();
            }
            assertEquals(0, takenUnderIt, "trials of " + trials + " in which the claim was taken over under the dead claimer's record");
            assertTrue(q.reclaimed() > 0, "the dead writer's slot is taken back");
        }
    }

    /**
     * A claim whose pid names no process at all (0, or negative: written over, since every claimer writes
     * its own pid) was waited for as if a live process held the slot: a consumer blocked on the writer's
     * claim and a producer blocked on the reader's waited for ever. Such a claimer has ended, as a lock word
     * naming no process has: the slot is taken back.
     */
    @Test
    void shouldTakeBackASlotWhoseClaimNamesNoProcess() throws Exception {
        for (int pid : new int[]{0, -2}) {
            try (SharedQueue q = SharedQueue.create("no-claimer", 2, 8); SharedMemory other = Mappings.second(q.nativeHandle())) {
                MemorySegment seg = other.segment();
                long slot0 = QueueLayout.SLOTS_OFFSET;
                // a writer claimed position 0 and "died" before it moved the tail or wrote the message
                seg.set(ValueLayout.JAVA_LONG, slot0 + QueueLayout.WRITER, QueueLayout.claimWord(0, pid));
                assertTrue(q.offerLong(1));                                         // position 1, behind it
                assertEquals(OptionalLong.of(1), q.pollLong(Duration.ofSeconds(5)), "pid " + pid + ": slot 0 skipped");
                assertEquals(1, q.reclaimed());
                // a reader claimed position 2 (slot 0 again) and "died" reading it
                assertTrue(q.offerLong(2));
                assertTrue(q.offerLong(3));
                seg.set(ValueLayout.JAVA_LONG, slot0 + QueueLayout.READER, QueueLayout.claimWord(2, pid));
                seg.set(ValueLayout.JAVA_LONG, QueueLayout.HEAD_OFFSET, 3L);
                assertTrue(q.offerLong(4, Duration.ofSeconds(5)), "pid " + pid + ": slot 0 freed for writers");
                assertEquals(2, q.reclaimed());
                assertEquals(OptionalLong.of(3), q.pollLong(Duration.ZERO));
                assertEquals(OptionalLong.of(4), q.pollLong(Duration.ZERO));
            }
        }
    }
}
