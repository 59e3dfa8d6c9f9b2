package dev.panpipe.zerocopy.queue;

import dev.panpipe.internal.linux.FutexPoller;
import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Signals;
import dev.panpipe.process.Subprocess;
import dev.panpipe.zerocopy.ChildJvm;
import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.SharedMemory;
import dev.panpipe.zerocopy.internal.Processes;
import dev.panpipe.zerocopy.internal.SharedRegion;
import dev.panpipe.zerocopy.shared.SharedIntArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

import static dev.panpipe.zerocopy.queue.QueueLayout.CLAIMER_START;
import static dev.panpipe.zerocopy.queue.QueueLayout.HEAD_OFFSET;
import static dev.panpipe.zerocopy.queue.QueueLayout.LENGTH;
import static dev.panpipe.zerocopy.queue.QueueLayout.READER;
import static dev.panpipe.zerocopy.queue.QueueLayout.SEQUENCE;
import static dev.panpipe.zerocopy.queue.QueueLayout.SLOTS_OFFSET;
import static dev.panpipe.zerocopy.queue.QueueLayout.TAIL_OFFSET;
import static dev.panpipe.zerocopy.queue.QueueLayout.WRITER;
import static dev.panpipe.zerocopy.queue.QueueLayout.claimWord;
import static dev.panpipe.zerocopy.queue.QueueLayout.startRecord;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The shared queue between real processes: child JVMs that produce and consume, and ones killed mid-operation. */
@Timeout(120)
@ExtendWith(NoLeaks.class)
class SharedQueueProcessTest {
    static final int PRODUCERS = 4;
    static final int CONSUMERS = 4;
    static final int PER_PRODUCER = 250_000;

    @Test
    void shouldDeliverEveryMessageOfFourProducerProcessesExactlyOnceAndInOrderToFourConsumerProcesses() throws Exception {
        try (SharedQueue queue = SharedQueue.create("mpmc", 1024, 8);
             SharedIntArray seen = SharedIntArray.create("seen", (long) PRODUCERS * PER_PRODUCER)) {
            List<ChildJvm> consumers = new ArrayList<>();
            List<ChildJvm> producers = new ArrayList<>();
            long t0 = System.nanoTime();
            try {
                for (int c = 0; c < CONSUMERS; c++) {
                    consumers.add(ChildJvm.start(QueueChild.class, new long[]{queue.nativeHandle(), seen.nativeHandle()},
                            "consume", "" + PRODUCERS, "" + PER_PRODUCER));
                }
                for (int p = 0; p < PRODUCERS; p++) {
                    producers.add(ChildJvm.start(QueueChild.class, new long[]{queue.nativeHandle()}, "produce", "" + p, "" + PER_PRODUCER));
                }
                List<String> took = new ArrayList<>();
                for (ChildJvm p : producers) {
                    took.add("producer " + p.readLine());
                    p.expect("produced " + PER_PRODUCER);
                    assertEquals(ExitStatus.exited(0), p.process().waitFor());
                }
                for (int c = 0; c < CONSUMERS; c++) queue.putLong(QueueChild.STOP);
                long taken = 0;
                for (ChildJvm c : consumers) {
                    took.add("consumer " + c.readLine());
                    String line = c.readLine();
                    assertTrue(line.startsWith("consumed "), line);
                    taken += Long.parseLong(line.substring("consumed ".length()));
                    assertEquals(ExitStatus.exited(0), c.process().waitFor());
                }
                System.out.printf("%d producer and %d consumer processes, %d messages: %d ms (JVM starts included); %s%n",
                        PRODUCERS, CONSUMERS, PRODUCERS * PER_PRODUCER, (System.nanoTime() - t0) / 1_000_000, took);
                assertEquals((long) PRODUCERS * PER_PRODUCER, taken);
            } finally {
                for (ChildJvm c : producers) c.close();
                for (ChildJvm c : consumers) c.close();
            }
            int[] counts = seen.toArray();
            for (int i = 0; i < counts.length; i++) {
                if (counts[i] != 1) {
                    throw new AssertionError("message " + (i % PER_PRODUCER) + " of producer " + (i / PER_PRODUCER)
                            + " was delivered " + counts[i] + " times");
                }
            }
            assertEquals(0, queue.size());
            assertEquals(0, queue.reclaimed());
        }
    }

    /**
     * A virtual taker sleeps through the futex poller, and a put by another process wakes it through the poller's
     * futex_waitv: with slices of a minute, a wake that did not reach it would leave it asleep past the deadline.
     */
    @Test
    void shouldWakeAVirtualTakerByAPutOfAnotherProcess() throws Exception {
        assumeTrue(FutexPoller.shared() != null, "futex_waitv is refused here (Linux before 5.16, or a seccomp filter): virtual threads wait without the futex poller");
        try (SharedQueue queue = SharedQueue.create("virtual-taker", 4, 16);
             SharedRegion.StretchedSlices slices = SharedRegion.stretchSlices(Duration.ofMinutes(1))) {
            long looks = FutexPoller.fallbackLooks();
            List<Long> taken = new ArrayList<>();
            Thread taker = Thread.ofVirtual().start(() -> {
                try {
                    for (int i = 0; i < 3; i++) taken.add(queue.takeLong());
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
            });
            try (ChildJvm producer = ChildJvm.start(QueueChild.class, new long[]{queue.nativeHandle()}, "produce", "7", "3")) {
                producer.expect("produced 3");
                assertTrue(taker.join(Duration.ofSeconds(30)), "the virtual taker was not woken");
                assertEquals(List.of(7L << 32, 7L << 32 | 1, 7L << 32 | 2), taken);
                assertEquals(0, producer.process().waitFor().code());
            }
            assertEquals(looks, FutexPoller.fallbackLooks(), "the taker polled instead of sleeping through the poller");
        }
    }

    @Test
    void shouldSkipTheSlotOfAProducerKilledWhileWritingIt() throws Exception {
        try (SharedQueue queue = SharedQueue.create("dead-writer", 4, 16)) {
            try (ChildJvm writer = ChildJvm.start(QueueChild.class, new long[]{queue.nativeHandle()}, "claim-and-hang")) {
                writer.expect("claimed");                          // position 0 is claimed, never committed
                queue.putLong(1);                                  // position 1
                // 120 ms: past the survivor's looks at the claimer, 50 ms apart; the child's own start time
                // record, read against /proc by this process, must say it lives
                assertEquals(OptionalLong.empty(), queue.pollLong(Duration.ofMillis(120)), "position 0 holds the queue up");
                assertEquals(0, queue.reclaimed(), "a live writer's slot is not taken back");
                writer.process().signal(Signals.SIGKILL);
                long t0 = System.nanoTime();
                assertEquals(OptionalLong.of(1), queue.pollLong(Duration.ofSeconds(10)), "a survivor skips the dead writer's slot");
                assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(5).toNanos());
                assertTrue(writer.process().waitFor().signaled());
            }
            assertEquals(1, queue.reclaimed());
            for (int lap = 0; lap < 3; lap++) {                    // the slot works again on later laps
                for (int i = 0; i < 4; i++) assertTrue(queue.offerLong(i));
                assertFalse(queue.offerLong(9));
                for (int i = 0; i < 4; i++) assertEquals(i, queue.takeLong());
            }
        }
    }

    @Test
    void shouldSkipTheSlotOfADeadProducerForAConsumerThatOnlyPolls() throws Exception {
        // Only a waiting consumer looked for a dead claimer: one that polled without waiting found the queue
        // held up empty by the dead writer's slot for ever.
        try (SharedQueue queue = SharedQueue.create("dead-writer-poll", 4, 16)) {
            try (ChildJvm writer = ChildJvm.start(QueueChild.class, new long[]{queue.nativeHandle()}, "claim-and-hang")) {
                writer.expect("claimed");
                queue.putLong(1);
                writer.process().signal(Signals.SIGKILL);
                assertTrue(writer.process().waitFor().signaled());
            }
            assertEquals(OptionalLong.of(1), awaitWithoutWaiting(() -> queue.pollLong(Duration.ZERO)), "a polling survivor skips the dead writer's slot");
            assertEquals(1, queue.reclaimed());
        }
    }

    @Test
    void shouldFreeTheSlotOfADeadConsumerForAProducerThatOnlyOffers() throws Exception {
        try (SharedQueue queue = SharedQueue.create("dead-reader-offer", 2, 16)) {
            queue.putLong(1);
            queue.putLong(2);
            try (ChildJvm reader = ChildJvm.start(QueueChild.class, new long[]{queue.nativeHandle()}, "read-and-hang")) {
                reader.expect("reading");
                reader.process().signal(Signals.SIGKILL);
                assertTrue(reader.process().waitFor().signaled());
            }
            assertEquals(Boolean.TRUE, awaitWithoutWaiting(() -> queue.offerLong(3) ? Boolean.TRUE : null), "an offering survivor frees the slot");
            assertEquals(1, queue.reclaimed());
            assertEquals(2, queue.takeLong());
            assertEquals(3, queue.takeLong());
        }
    }

    /**
     * A claimer killed with its pid recycled before a survivor looks: the claim's pid names a live process that
     * never claimed anything. Forcing the kernel to hand a pid out again is not possible from a test, so the
     * slot is written as that claimer would have left it: a claim naming a live {@code sleep} (then this very
     * process, as a restarted container gives its processes the same small pids) with a start time that is not
     * that process's. The claimer's pid alone made a survivor wait for it until its timeout; the start time
     * says it ended, and the slot is taken back at the survivor's first look, the writer's and the reader's.
     */
    @Test
    void shouldTakeBackTheSlotOfAClaimerWhosePidNowNamesALaterProcess() throws Exception {
        forEachLivePid(-1, (pid, startTime, who) -> {
            try (SharedQueue queue = SharedQueue.create("recycled-pid", 2, 8); SharedMemory other = Mappings.second(queue.nativeHandle())) {
                MemorySegment seg = other.segment();
                forgeClaim(seg, WRITER, 0, pid, startTime);                    // position 0 claimed, never written
                seg.set(ValueLayout.JAVA_LONG, TAIL_OFFSET, 1L);
                assertTrue(queue.offerLong(1));                                // position 1, behind it
                long t0 = System.nanoTime();
                assertEquals(1, queue.pollLong(Duration.ofSeconds(10), -1), who + ": the writer's slot skipped");
                assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(3).toNanos(), who + ": at a look, not at a timeout");
                assertEquals(1, queue.reclaimed());

                assertTrue(queue.offerLong(2));                                // position 2, slot 0
                assertTrue(queue.offerLong(3));
                forgeClaim(seg, READER, 2, pid, startTime);                    // taken, never released
                seg.set(ValueLayout.JAVA_LONG, HEAD_OFFSET, 3L);
                t0 = System.nanoTime();
                assertTrue(queue.offerLong(4, Duration.ofSeconds(10)), who + ": the reader's slot freed");
                assertTrue(System.nanoTime() - t0 < Duration.ofSeconds(3).toNanos(), who + ": at a look, not at a timeout");
                assertEquals(2, queue.reclaimed());
                assertEquals(3, queue.pollLong(Duration.ZERO, -1));
                assertEquals(4, queue.pollLong(Duration.ZERO, -1));
            }
        });
    }

    /**
     * The same claims with the start time of the process the pid names, as its claimer writes it: a live
     * claimer, whose slot a survivor waits for past several looks and does not take back.
     */
    @Test
    void shouldWaitForAClaimerWhoseRecordedStartTimeIsItsPidsProcesss() throws Exception {
        forEachLivePid(0, (pid, startTime, who) -> {
            try (SharedQueue queue = SharedQueue.create("live-claimer", 2, 8); SharedMemory other = Mappings.second(queue.nativeHandle())) {
                MemorySegment seg = other.segment();
                forgeClaim(seg, WRITER, 0, pid, startTime);
                seg.set(ValueLayout.JAVA_LONG, TAIL_OFFSET, 1L);
                assertTrue(queue.offerLong(1));
                assertEquals(-1, queue.pollLong(Duration.ofMillis(160), -1), who + ": the writer's slot holds the queue up");
                assertEquals(claimWord(0, pid), seg.get(ValueLayout.JAVA_LONG, SLOTS_OFFSET + WRITER), who + ": the writer's claim stays");

                seg.set(ValueLayout.JAVA_LONG, SLOTS_OFFSET + SEQUENCE, 1L);      // as if it committed: position 0 full
                seg.set(ValueLayout.JAVA_INT, SLOTS_OFFSET + LENGTH, 8);
                forgeClaim(seg, READER, 0, pid, startTime);                    // and a reader took it
                seg.set(ValueLayout.JAVA_LONG, HEAD_OFFSET, 1L);
                // position 2 is slot 0 again, still being read
                assertFalse(queue.offerLong(2, Duration.ofMillis(160)), who + ": the reader's slot is not freed");
                assertEquals(0, queue.reclaimed(), who);
            }
        });
    }

    /** What a test does with a forged claimer: its pid, the start time its claims record, and its name in messages. */
    private interface ForgedClaimer {
        void test(int pid, int startTime, String who) throws Exception;
    }

    /**
     * Runs {@code body} for a live {@code sleep}'s pid and for this process's pid, each recorded with its process's
     * start time plus {@code startTimeOffset} (0: the claimer itself; otherwise an earlier process that had the
     * pid); the sleep lives throughout, and must still live at the end: a claim is taken back, never its process.
     */
    private static void forEachLivePid(int startTimeOffset, ForgedClaimer body) throws Exception {
        try (Subprocess sleeper = Subprocess.builder(List.of("sleep", "30")).destroyGrace(Duration.ofMillis(100)).start()) {
            int pid = (int) sleeper.pid();
            long startTime = Processes.startTime(pid);
            assertTrue(startTime > 0 && Processes.SELF_START_TIME > 0, "start times of " + pid + " and this process");
            body.test(pid, (int) startTime + startTimeOffset, "sleep " + pid);
            body.test(Processes.SELF, (int) Processes.SELF_START_TIME + startTimeOffset, "this process");
            assertTrue(sleeper.isAlive(), "the sleep whose pid the claims named is left alone");
        }
    }

    /** Writes a claim of {@code position} for {@code role} (WRITER or READER) by {@code pid}, recorded with {@code startTime}. */
    private static void forgeClaim(MemorySegment seg, long role, long position, int pid, int startTime) {
        long slot = SLOTS_OFFSET + (position & 1) * QueueLayout.slotSize(8);
        seg.set(ValueLayout.JAVA_LONG, slot + role, claimWord(position, pid));
        seg.set(ValueLayout.JAVA_LONG, slot + CLAIMER_START, startRecord(role == WRITER ? position : position + 1, startTime));
    }

    /** Calls {@code call}, which never waits, until it gives a present result, for up to 10 s. */
    private static <T> T awaitWithoutWaiting(java.util.concurrent.Callable<T> call) throws Exception {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        for (;;) {
            T result = call.call();
            if (result != null && !(result instanceof OptionalLong o && o.isEmpty())) return result;
            assertTrue(System.nanoTime() < deadline, "no result within 10 s of calls that do not wait");
            Thread.sleep(1);
        }
    }

    @Test
    void shouldFreeTheSlotOfAConsumerKilledWhileReadingIt() throws Exception {
        try (SharedQueue queue = SharedQueue.create("dead-reader", 2, 16)) {
            queue.putLong(1);
            queue.putLong(2);
            try (ChildJvm reader = ChildJvm.start(QueueChild.class, new long[]{queue.nativeHandle()}, "read-and-hang")) {
                reader.expect("reading");                          // it holds message 1 in place
                assertFalse(queue.offerLong(3, Duration.ofMillis(120)), "full: one message, one slot being read");
                assertEquals(0, queue.reclaimed(), "a live reader's slot is not taken back");
                reader.process().signal(Signals.SIGKILL);
                assertTrue(queue.offerLong(3, Duration.ofSeconds(10)), "a survivor frees the dead reader's slot");
                assertTrue(reader.process().waitFor().signaled());
            }
            assertEquals(1, queue.reclaimed());
            assertEquals(2, queue.takeLong());
            assertEquals(3, queue.takeLong(), "message 1 went with its reader; nothing else is lost");
            assertEquals(OptionalLong.empty(), queue.pollLong(Duration.ZERO));
        }
    }
}
