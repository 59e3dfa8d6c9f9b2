package dev.panpipe.zerocopy.queue;

import dev.panpipe.zerocopy.CurrentThreadAllocation;
import dev.panpipe.zerocopy.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The claim path allocates nothing once every slot has been claimed through the handle: a claim hands out a
 * view of its slot made once per handle (SharedQueueBenchmark.claim reads the same with
 * SteadyAllocationProfiler). Measured with the JVM's per-thread allocation counter, in a loop long enough
 * for the JIT to compile it first.
 */
@Timeout(60)
@ExtendWith(NoLeaks.class)
class SharedQueueAllocationTest {

    @Test
    void shouldAllocateNothingPerClaimAndCommitInSteadyState() throws Exception {
        try (SharedQueue q = SharedQueue.create("claim-alloc", 1024, 64); Arena arena = Arena.ofConfined()) {
            MemorySegment dst = arena.allocate(64, 8);
            QueueClaim claim = new QueueClaim();
            long sum = 0, expected = 0;
            long[] perRound = new long[5];
            for (int round = 0; round < perRound.length; round++) {
                long before = CurrentThreadAllocation.bytes();
                for (int i = 0; i < 200_000; i++) {
                    long value = (long) round * 200_000 + i;
                    if (!q.tryClaim(claim)) throw new AssertionError("no room at " + value);
                    claim.buffer().set(ValueLayout.JAVA_LONG, 0, value);
                    claim.commit(8);
                    if (q.poll(dst) != 8) throw new AssertionError("no message at " + value);
                    sum += dst.get(ValueLayout.JAVA_LONG, 0);
                    expected += value;
                }
                perRound[round] = CurrentThreadAllocation.bytes() - before;
            }
            assertEquals(expected, sum);
            assertEquals(0, perRound[perRound.length - 1], "bytes allocated per round of 200,000 claims: " + Arrays.toString(perRound));
        }
    }

    /** The same view of a slot every lap; its own slot's view for each claim, also on a second handle. */
    @Test
    void shouldHandOutEachSlotsOwnPayload() throws Exception {
        try (SharedQueue q = SharedQueue.create("claim-views", 4, 16)) {
            QueueClaim claim = new QueueClaim();
            MemorySegment[] lap = new MemorySegment[4];
            for (int i = 0; i < 8; i++) {
                assertTrue(q.tryClaim(claim));
                MemorySegment buffer = claim.buffer();
                assertEquals(16, buffer.byteSize());
                if (i < 4) {
                    for (int j = 0; j < i; j++) assertNotSame(lap[j], buffer, "slot " + i + " against slot " + j);
                    lap[i] = buffer;
                } else {
                    assertSame(lap[i - 4], buffer, "slot " + (i - 4) + " a lap later");
                }
                buffer.set(ValueLayout.JAVA_INT, 0, i);
                claim.commit(4);
                assertEquals(i, q.takeInt());
            }
        }
    }

    /** A queue of more slots than a handle keeps views of slices a payload per claim, and works the same. */
    @Test
    void shouldClaimInAQueueTooLargeToKeepViewsOf() throws Exception {
        int capacity = 1 << 17;
        try (SharedQueue q = SharedQueue.create("claim-no-views", capacity, 8)) {
            QueueClaim claim = new QueueClaim();
            for (long i = 0; i < capacity + 3; i++) {
                assertTrue(q.tryClaim(claim));
                assertEquals(8, claim.buffer().byteSize());
                claim.buffer().set(ValueLayout.JAVA_LONG, 0, i);
                claim.commit(8);
                assertEquals(i, q.takeLong());
            }
        }
    }
}
