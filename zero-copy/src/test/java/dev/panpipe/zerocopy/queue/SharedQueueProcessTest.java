package dev.panpipe.zerocopy.queue;

import dev.panpipe.process.ExitStatus;
import dev.panpipe.process.Signals;
import dev.panpipe.zerocopy.ChildJvm;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.shared.SharedIntArray;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

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

    @Test
    void shouldSkipTheSlotOfAProducerKilledWhileWritingIt() throws Exception {
        try (SharedQueue queue = SharedQueue.create("dead-writer", 4, 16)) {
            try (ChildJvm writer = ChildJvm.start(QueueChild.class, new long[]{queue.nativeHandle()}, "claim-and-hang")) {
                writer.expect("claimed");                          // position 0 is claimed, never committed
                queue.putLong(1);                                  // position 1
                assertEquals(OptionalLong.empty(), queue.pollLong(Duration.ofMillis(20)), "position 0 holds the queue up");
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
                assertFalse(queue.offerLong(3, Duration.ofMillis(20)), "full: one message, one slot being read");
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
