package dev.panpipe.zerocopy.ring;

import dev.panpipe.pixel.PixelFormat;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.reflect.Method;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ring's hot path allocates nothing: claim, commit, take and release reuse per-slot flyweights and
 * cached slices. Measured with the JVM's per-thread allocation counter (the JMH gc profiler says the same
 * for RingBenchmark); the loop runs long enough for the JIT to compile it first.
 */
@Timeout(60)
class FrameRingAllocationTest {

    @Test
    void shouldAllocateNothingPerFrameInSteadyState() throws Exception {
        // Through reflection: this test module does not read java.management, and reflection adds the read.
        Object threads = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean").invoke(null);
        Method allocatedBytes = Class.forName("com.sun.management.ThreadMXBean").getMethod("getThreadAllocatedBytes", long.class);
        long tid = Thread.currentThread().threadId();
        try (FrameRing ring = FrameRing.create(4, 1920 * 1080 * 3)) {
            FrameProducer producer = ring.producer();
            FrameConsumer consumer = ring.consumer();
            long sink = 0;
            for (int round = 0; round < 5; round++) {
                long before = (long) allocatedBytes.invoke(threads, tid);
                for (int i = 0; i < 200_000; i++) sink += oneFrame(producer, consumer);
                long allocated = (long) allocatedBytes.invoke(threads, tid) - before;
                long idleBefore = (long) allocatedBytes.invoke(threads, tid);
                long measuring = (long) allocatedBytes.invoke(threads, tid) - idleBefore;   // the boxed longs of invoke
                if (round == 4) assertEquals(0, allocated - measuring, "bytes allocated by 200,000 frames (sink " + sink + ")");
            }
        }
    }

    @Test
    void shouldAllocateNothingWhileSleepingOnTheDoorbell() throws Exception {
        Object threads = Class.forName("java.lang.management.ManagementFactory").getMethod("getThreadMXBean").invoke(null);
        Method allocatedBytes = Class.forName("com.sun.management.ThreadMXBean").getMethod("getThreadAllocatedBytes", long.class);
        long tid = Thread.currentThread().threadId();
        int frames = 120_000;
        try (FrameRing ring = FrameRing.create(2, 4096)) {
            FrameProducer producer = ring.producer(WaitStrategy.sleepAtOnce());
            FrameConsumer consumer = ring.consumer(WaitStrategy.sleepAtOnce());
            Thread feeder = Thread.ofPlatform().start(() -> {
                try {
                    for (int i = 0; i < frames; i++) {
                        FrameClaim c = producer.claimBytes(8);
                        c.pixels().set(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0, i);
                        c.commit();
                        if ((i & 7) == 0) Thread.yield();   // let the consumer catch up and go to sleep often
                    }
                    producer.close();
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            long measured = 0, sum = 0;
            for (int i = 0; i < frames; i++) {
                long before = i == frames * 3 / 4 ? (long) allocatedBytes.invoke(threads, tid) : 0;
                FrameView v = consumer.take();
                sum += v.pixels().get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0);
                v.release();
                if (i == frames * 3 / 4) measured = before;
            }
            long allocated = (long) allocatedBytes.invoke(threads, tid) - measured;
            long idleBefore = (long) allocatedBytes.invoke(threads, tid);
            long measuring = (long) allocatedBytes.invoke(threads, tid) - idleBefore;
            feeder.join();
            assertEquals((long) frames * (frames - 1) / 2, sum);
            // Zero per take; a few hundred bytes once in a while come from the JIT swapping code under the
            // thread (an OSR or deoptimisation), so the bound is "less than 1 KiB for 30,000 takes".
            assertTrue(allocated - measuring < 1024, "bytes allocated by the last quarter of " + frames + " sleeping takes: "
                    + (allocated - measuring));
        }
    }

    private static long oneFrame(FrameProducer producer, FrameConsumer consumer) throws Exception {
        FrameClaim c = producer.claim(1920, 1080, PixelFormat.RGB8);
        c.pixels().set(java.lang.foreign.ValueLayout.JAVA_BYTE, 0, (byte) 1);
        c.commit();
        FrameView v = consumer.take();
        long first = v.pixels().get(java.lang.foreign.ValueLayout.JAVA_BYTE, 0);
        v.release();
        return first;
    }
}
