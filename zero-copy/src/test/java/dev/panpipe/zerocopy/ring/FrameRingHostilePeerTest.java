package dev.panpipe.zerocopy.ring;

import dev.panpipe.connection.ProtocolException;
import dev.panpipe.zerocopy.Mappings;
import dev.panpipe.zerocopy.SharedMemory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

import static dev.panpipe.zerocopy.ring.FrameRingDescriptor.*;
import static org.junit.jupiter.api.Assertions.*;

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
}
