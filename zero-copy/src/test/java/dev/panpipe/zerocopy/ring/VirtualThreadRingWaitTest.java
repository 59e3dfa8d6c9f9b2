package dev.panpipe.zerocopy.ring;

import dev.panpipe.zerocopy.ChildJvm;
import dev.panpipe.zerocopy.kernel.NoChildrenLeft;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A virtual ring consumer must not hold its carrier while it sleeps: with one carrier, a consumer asleep in
 * {@code futex_wait} kept out the virtual thread of the same JVM that would produce, until its liveness check
 * ended the sleep. It now parks, and the futex poller wakes it when the producer rings.
 */
@Timeout(60)
@ExtendWith(NoChildrenLeft.class)
class VirtualThreadRingWaitTest {

    @Test
    void shouldWakeAVirtualConsumerByAProducerOnTheSameOneCarrier() throws Exception {
        try (ChildJvm child = ChildJvm.start(List.of(), List.of("-Djdk.virtualThreadScheduler.parallelism=1",
                "-Djdk.virtualThreadScheduler.maxPoolSize=1"), OneCarrierRingMain.class, new long[0])) {
            assertEquals("took", child.readLine());
            assertEquals(0, child.process().waitFor().code());
        }
    }
}
