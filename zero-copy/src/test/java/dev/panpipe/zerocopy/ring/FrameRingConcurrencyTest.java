package dev.panpipe.zerocopy.ring;

import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.testing.RandomCases;
import dev.panpipe.zerocopy.Deadline;
import dev.panpipe.zerocopy.NoLeaks;
import dev.panpipe.zerocopy.Pause;
import dev.panpipe.zerocopy.kernel.NoChildrenLeft;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.*;

/**
 * A producer thread and a consumer thread on one ring, with random frame shapes, aborted claims, pauses and
 * holds on either side and every combination of waiting (spinning, spin-then-sleep, sleep at once): the
 * consumer must get exactly the committed frames, in order, every byte intact, then the end of the stream.
 *
 * <p>The sleeping strategies here check their peer's liveness only every minute instead of every 20 ms: a
 * sleeper that the doorbell fails to wake (a lost wake-up in the futex protocol, the trailing-position
 * sleep included) then stalls for a minute, and the case's {@link Deadline} of 20 s turns that into a
 * failure with the stuck thread's stack. With the default 20 ms the same bug would only show as latency. The
 * deadline is for a stall, not a speed: a case of 300 frames over one slot with a spinning end and pauses
 * of up to 0.5 ms on the other took 2.5 s on a busy 2-vCPU machine, where each pause's end waits for a core
 * (a deadline of 5 s under a liveness check of 10 s left it a margin of two). Timing differs from run to run,
 * so a failing case may not fail again when shrunk; its seed is in the report.
 */
@Timeout(600)
@ExtendWith(NoChildrenLeft.class)
class FrameRingConcurrencyTest {
    /** Longer than {@link #CASE_DEADLINE}: a sleeper nobody wakes is still asleep when the case is failed. */
    private static final long LIVENESS_CHECK = TimeUnit.MINUTES.toNanos(1);
    private static final Duration CASE_DEADLINE = Duration.ofSeconds(20);
    private static final WaitStrategy[] STRATEGIES = {
            new WaitStrategy(40, 4, true, LIVENESS_CHECK),   // the doorbell, with a slow liveness check
            new WaitStrategy(0, 0, true, LIVENESS_CHECK),    // sleep at once
            WaitStrategy.spinning(),
    };
    private static final String[] STRATEGY_NAMES = {"doorbell", "sleep-at-once", "spinning"};

    record Case(int frames, int log2Slots, int producerWait, int consumerWait, Pause producerPause, Pause consumerHold,
                int abortPercent, long shapeSeed) {
        static Case random(Random r) {
            return new Case(1 + r.nextInt(300), r.nextInt(3), r.nextInt(3), r.nextInt(3), Pause.random(r), Pause.random(r),
                    r.nextInt(3) * 10, r.nextLong());
        }

        List<Case> smaller() {
            List<Case> out = new ArrayList<>();
            if (frames > 1) out.add(new Case(frames / 2, log2Slots, producerWait, consumerWait, producerPause, consumerHold, abortPercent, shapeSeed));
            if (log2Slots > 0) out.add(new Case(frames, log2Slots - 1, producerWait, consumerWait, producerPause, consumerHold, abortPercent, shapeSeed));
            if (abortPercent > 0) out.add(new Case(frames, log2Slots, producerWait, consumerWait, producerPause, consumerHold, 0, shapeSeed));
            if (producerPause != Pause.NONE) out.add(new Case(frames, log2Slots, producerWait, consumerWait, Pause.NONE, consumerHold, abortPercent, shapeSeed));
            if (consumerHold != Pause.NONE) out.add(new Case(frames, log2Slots, producerWait, consumerWait, producerPause, Pause.NONE, abortPercent, shapeSeed));
            return out;
        }

        @Override
        public String toString() {
            return "Case[" + frames + " frames, " + (1 << log2Slots) + " slots, producer " + STRATEGY_NAMES[producerWait]
                    + " pausing " + producerPause + ", consumer " + STRATEGY_NAMES[consumerWait] + " holding " + consumerHold
                    + ", " + abortPercent + "% of claims aborted first, shapes " + shapeSeed + "]";
        }
    }

    /** Frame {@code i}'s shape: plain bytes, or pixels of some format, all within a 9,216-byte slot. */
    record Shape(PixelFormat format, int width, int height) {
        static Shape of(long shapeSeed, int i) {
            Random r = new Random(shapeSeed * 31 + i);
            int kind = r.nextInt(PixelFormat.values().length + 1);
            if (kind == 0) return new Shape(null, r.nextInt(9217), 1);
            return new Shape(PixelFormat.values()[kind - 1], 1 + r.nextInt(48), 1 + r.nextInt(48));
        }

        long length() {
            return format == null ? width : (long) width * height * format.bytesPerPixel();
        }
    }

    @Test
    void theConsumerGetsEveryCommittedFrameInOrderWhateverTheTimingAndWaiting() {
        RandomCases.check("ring under concurrency", 80, Case::random, Case::smaller, c -> {
            Map<Integer, String> fds = NoLeaks.openFds();
            try {
                Deadline.within(CASE_DEADLINE, c.toString(), deadline -> run(c, deadline));
            } finally {
                NoLeaks.assertNoFdLeftSince(fds, c.toString());
            }
        });
    }

    private static void run(Case c, Deadline deadline) throws Exception {
        try (FrameRing ring = FrameRing.create(1 << c.log2Slots(), 9216)) {
            deadline.closeOnTimeout(ring);
            FrameProducer producer = ring.producer(STRATEGIES[c.producerWait()]);
            FrameConsumer consumer = ring.consumer(STRATEGIES[c.consumerWait()]);
            Throwable[] producerFailure = new Throwable[1];
            Thread producerThread = Thread.ofPlatform().name("ring-producer").start(() -> {
                try {
                    produce(c, producer);
                } catch (Throwable e) {
                    producerFailure[0] = e;
                }
            });
            try {
                consume(c, consumer);
            } finally {
                producerThread.join();
            }
            if (producerFailure[0] != null) throw new AssertionError("the producer failed", producerFailure[0]);
        }
    }

    private static void produce(Case c, FrameProducer producer) throws Exception {
        Random r = new Random(c.shapeSeed());
        for (int i = 0; i < c.frames(); i++) {
            Shape s = Shape.of(c.shapeSeed(), i);
            if (r.nextInt(100) < c.abortPercent()) claim(producer, s).abort();   // the next claim reuses the sequence
            FrameClaim claim = claim(producer, s);
            assertEquals(i, claim.sequence());
            claim.pixels().fill(fill(i));
            claim.commit();
            c.producerPause().take(r);
        }
        producer.close();
    }

    private static FrameClaim claim(FrameProducer producer, Shape s) throws Exception {
        FrameClaim claim = s.format() == null ? producer.claimBytes(s.width())
                : producer.claim(s.width(), s.height(), s.format(), 4, TimeUnit.SECONDS);
        assertNotNull(claim, "no slot came free in 4 s");
        return claim;
    }

    private static void consume(Case c, FrameConsumer consumer) throws Exception {
        Random r = new Random(~c.shapeSeed());
        for (int i = 0; i < c.frames(); i++) {
            FrameView v = r.nextBoolean() ? consumer.take() : consumer.poll(4, TimeUnit.SECONDS);
            assertNotNull(v, "frame " + i + " did not come in 4 s");
            Shape s = Shape.of(c.shapeSeed(), i);
            assertEquals(i, v.sequence());
            assertEquals(s.format(), v.format());
            assertEquals(s.length(), v.payloadLength());
            if (s.format() != null) {
                assertEquals(s.width(), v.width());
                assertEquals(s.height(), v.height());
            }
            MemorySegment pixels = v.pixels();
            for (long k = 0; k < pixels.byteSize(); k++) {
                if (pixels.get(ValueLayout.JAVA_BYTE, k) != fill(i)) fail("frame " + i + " byte " + k + " is not the one committed");
            }
            c.consumerHold().take(r);
            v.release();
        }
        assertThrows(FrameRingClosedException.class, () -> consumer.poll(4, TimeUnit.SECONDS), "the end of the stream");
    }

    private static byte fill(int i) {
        return (byte) (i * 7 + 1);
    }
}
