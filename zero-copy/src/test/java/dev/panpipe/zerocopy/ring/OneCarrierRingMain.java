package dev.panpipe.zerocopy.ring;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Run by {@link VirtualThreadRingWaitTest} in a JVM whose virtual threads share one carrier
 * ({@code -Djdk.virtualThreadScheduler.parallelism=1}): a virtual consumer sleeps on an empty ring, then another
 * virtual thread of this JVM produces a frame. Prints "took" if the consumer got it within 20 s, "stuck" if not (its
 * sleep held the only carrier, so the producer could not run), and ends either way.
 */
final class OneCarrierRingMain {
    private OneCarrierRingMain() {
    }

    public static void main(String[] args) throws Exception {
        // A liveness check of a minute: a consumer that pins the carrier for its whole sleep stays stuck well past
        // the 20 s this waits.
        WaitStrategy sleepLong = new WaitStrategy(0, 0, true, TimeUnit.SECONDS.toNanos(60));
        try (FrameRing ring = FrameRing.create(4, 64);
             FrameProducer producer = ring.producer(sleepLong);
             FrameConsumer consumer = ring.consumer(sleepLong)) {
            CountDownLatch took = new CountDownLatch(1);
            Thread.ofVirtual().start(() -> {
                try {
                    consumer.take().release();
                    took.countDown();
                } catch (Exception e) {
                    e.printStackTrace();
                }
            });
            Thread.sleep(500);                    // the consumer is asleep on the doorbell by now
            Thread.ofVirtual().start(() -> {
                try {
                    producer.claimBytes(8).commit();
                } catch (Exception e) {
                    e.printStackTrace();
                }
            });
            System.out.println(took.await(20, TimeUnit.SECONDS) ? "took" : "stuck");
            System.out.flush();
        }
        Runtime.getRuntime().halt(0);             // a consumer still stuck must not keep this JVM (or the close) waiting
    }
}
