package dev.panpipe.zerocopy.ring;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.zerocopy.ChildJvm;
import dev.panpipe.zerocopy.CurrentThreadAllocation;
import dev.panpipe.zerocopy.kernel.NoChildrenLeft;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The ring's hot path allocates nothing: claim, commit, take and release reuse per-slot flyweights and
 * cached slices. Measured with the JVM's per-thread allocation counter ({@link CurrentThreadAllocation};
 * SteadyAllocationProfiler says the same for RingBenchmark); the loop runs long enough for the JIT to
 * compile it first.
 */
@Timeout(60)
@ExtendWith(NoChildrenLeft.class)
class FrameRingAllocationTest {

    @Test
    void shouldAllocateNothingPerFrameInSteadyState() throws Exception {
        try (FrameRing ring = FrameRing.create(4, 1920 * 1080 * 3)) {
            FrameProducer producer = ring.producer();
            FrameConsumer consumer = ring.consumer();
            long sink = 0;
            for (int round = 0; round < 5; round++) {
                long before = CurrentThreadAllocation.bytes();
                for (int i = 0; i < 200_000; i++) sink += oneFrame(producer, consumer);
                long allocated = CurrentThreadAllocation.bytes() - before;
                if (round == 4) assertEquals(0, allocated, "bytes allocated by 200,000 frames (sink " + sink + ")");
            }
        }
    }

    @Test
    void shouldAllocateNothingWhileSleepingOnTheDoorbell() throws Exception {
        int rounds = 8, perRound = 20_000, frames = rounds * perRound;
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
            long sum = 0, fewest = Long.MAX_VALUE;
            long[] perRoundBytes = new long[rounds];
            for (int r = 0; r < rounds; r++) {
                long before = CurrentThreadAllocation.bytes();
                for (int i = 0; i < perRound; i++) {
                    FrameView v = consumer.take();
                    sum += v.pixels().get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0);
                    v.release();
                }
                perRoundBytes[r] = CurrentThreadAllocation.bytes() - before;
                fewest = Math.min(fewest, perRoundBytes[r]);
            }
            feeder.join();
            assertEquals((long) frames * (frames - 1) / 2, sum);
            // The first uses of the sleeping path spin up method-handle and JIT machinery (JFR shows
            // LambdaForm compilation); once warm, a round of 20,000 sleeping takes allocates nothing.
            assertEquals(0, fewest, "bytes allocated per round of " + perRound + " takes: " + java.util.Arrays.toString(perRoundBytes));
        }
    }

    /**
     * The consumer's sleeping path against a live producer process: doorbell sleeps that are woken, and
     * sleeps that time out every 0.1 ms to poll the producer's pidfd. Allocation-free within the first
     * second, long before the JIT compiles the rarely run sleeping path with C2: the futex and poll calls skip
     * errno capture, whose per-call slice (40 bytes) only C2 removes; with it, every round here allocated
     * ~24 KB for several seconds.
     */
    @Test
    void shouldAllocateNothingSleepingOnALiveProducerProcessBeforeTheJitIsDone() throws Exception {
        int maxRounds = 12, quiet = 3, perRound = 100;
        // A round more than are measured: had it only as many, a last measured round would take its last frame,
        // and the check below that it lives would race its exit.
        long frames = (long) (maxRounds + 1) * perRound;
        try (FrameRing ring = FrameRing.create(4, 64);
             ChildJvm producer = ChildJvm.start(RingPeerMain.class, new long[] {ring.memory().nativeHandle()},
                     "produce-paced", "3", String.valueOf(frames), "400")) {
            FrameConsumer consumer = ring.consumer(new WaitStrategy(0, 0, true, 100_000));
            consumer.watchPeer(producer.pid());
            List<Long> perRoundBytes = new ArrayList<>();
            long expected = 0;
            // The first rounds link call sites and customise method handles (one-off allocations); then every
            // round of 100 takes sleeps ~100 times and polls the pidfd ~400 times.
            for (int clean = 0; clean < quiet && perRoundBytes.size() < maxRounds; ) {
                long before = CurrentThreadAllocation.bytes();
                for (int i = 0; i < perRound; i++, expected++) {
                    FrameView v = consumer.take();
                    if (v.pixels().get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED, 0) != expected) throw new AssertionError("frame " + expected);
                    v.release();
                }
                long allocated = CurrentThreadAllocation.bytes() - before;
                perRoundBytes.add(allocated);
                clean = allocated == 0 ? clean + 1 : 0;
            }
            assertTrue(producer.process().isAlive(), "the producer must be alive while the consumer is measured");
            for (FrameView v; expected < frames; expected++) (v = consumer.take()).release();
            producer.expect("done");
            assertTrue(producer.process().waitFor().success());
            consumer.close();
            List<Long> last = perRoundBytes.subList(Math.max(0, perRoundBytes.size() - quiet), perRoundBytes.size());
            assertEquals(List.of(0L, 0L, 0L), last, "bytes per round of " + perRound + " sleeping takes: " + perRoundBytes);
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
