package dev.panpipe.zerocopy.queue;

import dev.panpipe.testing.RandomCases;
import dev.panpipe.zerocopy.Deadline;
import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.Pause;
import dev.panpipe.zerocopy.ThreadFailures;
import dev.panpipe.zerocopy.internal.SharedRegion;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Producer and consumer threads on one queue, each through the creator's handle or a mapping of its own,
 * with random capacity, message lengths, calls (put, offer with a timeout, in-place claims some of which are
 * aborted first, take, poll with a timeout, into a segment, through a handler), pauses, and platform or
 * virtual threads: every message must reach exactly one consumer, after every earlier message of its
 * producer that the same consumer got, with every byte intact.
 *
 * <p>The wait slices are stretched to 10 s for the run ({@link SharedRegion#stretchSlices}): a sleeper the
 * eventcount fails to wake then stalls instead of going on by itself after 50 ms, and the case's
 * {@link Deadline} fails it with the stuck thread's stack. Small capacities make such stalls likely to show:
 * when a producer waits for room and the consumer has drained what there was, a wake-up lost by either is
 * one neither side can make up for. Timing differs from run to run, so a failing case may not fail again
 * when shrunk; its seed is in the report.
 */
@Timeout(300)
@ExtendWith(NoLeaks.class)
class SharedQueueConcurrencyTest {
    private static final Duration WAIT = Duration.ofSeconds(4);
    /** The first 8 bytes of the message that tells a consumer to stop. */
    private static final long STOP = -1;

    /**
     * @param maxMessage the queue's message size: 8 means every message is a long, and the long calls are used too
     * @param mappings   1: every thread uses the creator's handle; 2 or 3: threads spread over that many mappings
     */
    record Case(int producers, int consumers, int perProducer, int log2Capacity, int maxMessage, int mappings,
                int virtualPercent, int abortPercent, Pause producerPause, Pause consumerPause, long seed) {
        static Case random(Random r) {
            return new Case(1 + r.nextInt(3), 1 + r.nextInt(3), 1 + r.nextInt(400), 1 + r.nextInt(4),
                    r.nextBoolean() ? 8 : 8 + r.nextInt(57), 1 + r.nextInt(3), r.nextInt(3) * 25, r.nextInt(3) * 10,
                    Pause.random(r), Pause.random(r), r.nextLong());
        }

        List<Case> smaller() {
            List<Case> out = new ArrayList<>();
            if (perProducer > 1) out.add(with(producers, consumers, perProducer / 2, mappings, virtualPercent, abortPercent, producerPause, consumerPause));
            if (producers > 1) out.add(with(producers - 1, consumers, perProducer, mappings, virtualPercent, abortPercent, producerPause, consumerPause));
            if (consumers > 1) out.add(with(producers, consumers - 1, perProducer, mappings, virtualPercent, abortPercent, producerPause, consumerPause));
            if (mappings > 1) out.add(with(producers, consumers, perProducer, 1, virtualPercent, abortPercent, producerPause, consumerPause));
            if (virtualPercent > 0) out.add(with(producers, consumers, perProducer, mappings, 0, abortPercent, producerPause, consumerPause));
            if (abortPercent > 0) out.add(with(producers, consumers, perProducer, mappings, virtualPercent, 0, producerPause, consumerPause));
            if (producerPause != Pause.NONE) out.add(with(producers, consumers, perProducer, mappings, virtualPercent, abortPercent, Pause.NONE, consumerPause));
            if (consumerPause != Pause.NONE) out.add(with(producers, consumers, perProducer, mappings, virtualPercent, abortPercent, producerPause, Pause.NONE));
            return out;
        }

        private Case with(int producers, int consumers, int perProducer, int mappings, int virtualPercent, int abortPercent,
                          Pause producerPause, Pause consumerPause) {
            return new Case(producers, consumers, perProducer, log2Capacity, maxMessage, mappings, virtualPercent,
                    abortPercent, producerPause, consumerPause, seed);
        }
    }

    @Test
    void everyMessageReachesExactlyOneConsumerInItsProducersOrderWhateverTheTimingAndWaiting() {
        try (SharedRegion.StretchedSlices stretched = SharedRegion.stretchSlices(Duration.ofSeconds(10))) {
            RandomCases.check("queue under concurrency", 200, Case::random, Case::smaller,
                    c -> Deadline.within(Duration.ofSeconds(8), c.toString(), deadline -> run(c, deadline)));
        }
    }

    private static void run(Case c, Deadline deadline) throws Exception {
        List<SharedQueue> handles = new ArrayList<>();
        try {
            SharedQueue creator = SharedQueue.create("concurrency", 1 << c.log2Capacity(), c.maxMessage());
            handles.add(deadline.closeOnTimeout(creator));
            for (int i = 1; i < c.mappings(); i++) {
                handles.add(deadline.closeOnTimeout(SharedQueue.attach(Mappings.second(creator.nativeHandle()))));
            }
            Random r = new Random(c.seed());
            ThreadFailures failures = new ThreadFailures();
            int[][] received = new int[c.producers()][c.perProducer()];
            List<Thread> producers = new ArrayList<>();
            List<Thread> consumers = new ArrayList<>();
            for (int p = 0; p < c.producers(); p++) {
                SharedQueue q = handles.get(r.nextInt(handles.size()));
                int id = p;
                long seed = r.nextLong();
                producers.add(deadline.watch(thread(c, r, failures, "producer " + p, () -> produce(c, q, id, new Random(seed)))));
            }
            for (int k = 0; k < c.consumers(); k++) {
                SharedQueue q = handles.get(r.nextInt(handles.size()));
                long seed = r.nextLong();
                consumers.add(deadline.watch(thread(c, r, failures, "consumer " + k, () -> consume(c, q, received, new Random(seed)))));
            }
            for (Thread t : producers) t.join();
            for (int k = 0; k < c.consumers(); k++) assertTrue(creator.offer(message(STOP, 0, 8), WAIT), "room for a stop message in 4 s");
            for (Thread t : consumers) t.join();
            failures.assertNone();
            for (int p = 0; p < c.producers(); p++) {
                for (int s = 0; s < c.perProducer(); s++) {
                    if (received[p][s] != 1) fail("producer " + p + "'s message " + s + " was received " + received[p][s] + " times");
                }
            }
            assertEquals(0, creator.size(), "messages left in the queue");
        } finally {
            for (SharedQueue q : handles) q.close();
        }
    }

    private static Thread thread(Case c, Random r, ThreadFailures failures, String name, ThreadFailures.Body body) {
        Thread.Builder builder = r.nextInt(100) < c.virtualPercent() ? Thread.ofVirtual() : Thread.ofPlatform();
        return builder.name(name).start(failures.guard(body));
    }

    /** Producer {@code id}'s message {@code seq}: its id and number, then bytes that depend on both. */
    private static byte[] message(long id, int seq, int length) {
        ByteBuffer b = ByteBuffer.allocate(length).order(ByteOrder.nativeOrder());
        b.putLong(id << 32 | seq);
        for (int i = 8; i < length; i++) b.put(fill(id, seq, i));
        return b.array();
    }

    private static byte fill(long id, int seq, int i) {
        return (byte) (id * 31 + seq * 7 + i);
    }

    private static int length(Case c, Random r) {
        return 8 + r.nextInt(c.maxMessage() - 7);
    }

    private static void produce(Case c, SharedQueue q, int id, Random r) throws Exception {
        QueueClaim claim = new QueueClaim();
        for (int seq = 0; seq < c.perProducer(); seq++) {
            byte[] m = message(id, seq, length(c, r));
            switch (r.nextInt(c.maxMessage() == 8 ? 5 : 4)) {
                case 0 -> q.put(m);
                case 1 -> assertTrue(q.offer(m, WAIT), "room in 4 s");
                case 2 -> {
                    if (r.nextInt(100) < c.abortPercent()) {
                        assertTrue(q.claim(claim, WAIT), "room in 4 s");
                        claim.abort();   // consumers skip the slot
                    }
                    assertTrue(q.claim(claim, WAIT), "room in 4 s");
                    MemorySegment.copy(m, 0, claim.buffer(), ValueLayout.JAVA_BYTE, 0, m.length);
                    claim.commit(m.length);
                }
                case 3 -> {
                    // Never sleeps in the queue, and wakes its sleepers all the same. A virtual thread parks
                    // between tries: two that yielded in this loop kept a parked virtual consumer from running
                    // for seconds (JDK 25, two carriers).
                    boolean virtual = Thread.currentThread().isVirtual();
                    while (!q.offer(m)) {
                        if (virtual) LockSupport.parkNanos(20_000);
                        else Thread.yield();
                    }
                }
                default -> q.putLong((long) id << 32 | seq);
            }
            c.producerPause().take(r);
        }
    }

    private static void consume(Case c, SharedQueue q, int[][] received, Random r) throws Exception {
        int[] last = new int[c.producers()];
        java.util.Arrays.fill(last, -1);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment dst = arena.allocate(c.maxMessage());
            for (;;) {
                byte[] m;
                switch (r.nextInt(c.maxMessage() == 8 ? 5 : 4)) {
                    case 0 -> m = q.take();
                    case 1 -> {
                        m = q.poll(WAIT);
                        assertNotNull(m, "a message in 4 s");
                    }
                    case 2 -> m = dst.asSlice(0, q.take(dst)).toArray(ValueLayout.JAVA_BYTE);
                    case 3 -> {
                        byte[][] got = new byte[1][];
                        assertTrue(q.poll(s -> got[0] = s.toArray(ValueLayout.JAVA_BYTE), WAIT), "a message in 4 s");
                        m = got[0];
                    }
                    default -> m = ByteBuffer.allocate(8).order(ByteOrder.nativeOrder()).putLong(0, q.takeLong()).array();
                }
                long head = ByteBuffer.wrap(m).order(ByteOrder.nativeOrder()).getLong(0);
                if (head >> 32 == STOP) return;
                int id = (int) (head >>> 32);
                int seq = (int) head;
                if (id >= c.producers() || seq < 0 || seq >= c.perProducer()) fail("a message no producer sent: " + Long.toHexString(head));
                if (seq <= last[id]) fail("producer " + id + "'s message " + seq + " came after its message " + last[id]);
                last[id] = seq;
                for (int i = 8; i < m.length; i++) {
                    if (m[i] != fill(id, seq, i)) fail("producer " + id + "'s message " + seq + " byte " + i + " is not the one sent");
                }
                synchronized (received) {
                    received[id][seq]++;
                }
                c.consumerPause().take(r);
            }
        }
    }
}
