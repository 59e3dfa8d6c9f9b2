package dev.panpipe.zerocopy.queue;

import dev.panpipe.process.ExitStatus;
import dev.panpipe.zerocopy.ChildJvm;
import dev.panpipe.zerocopy.CurrentThreadAllocation;
import dev.panpipe.zerocopy.NoLeaks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The claim path allocates nothing once every slot has been claimed through the handle: a claim hands out a
 * view of its slot made once per handle; nor does sleeping on the queue or waking its sleepers: the futex
 * words are sliced once per handle (SharedQueueBenchmark.claim and .segment read the same with
 * SteadyAllocationProfiler). Measured with the JVM's per-thread allocation counter, in loops long enough
 * for the JIT to compile them first.
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

    /**
     * A consumer that keeps finding a 2-slot queue empty sleeps on the futex, and its producer wakes it: once
     * warm, a round of 8,000 messages allocates nothing on either side. The consumer's voluntary context
     * switches (read outside the measured loops) show that it did sleep.
     */
    @Test
    void shouldAllocateNothingSleepingOnAndWakingTheQueue() throws Exception {
        int rounds = 8, perRound = 8_000;
        Duration timeout = Duration.ofSeconds(10);   // made once: a Duration per call would be the test's own 24 bytes
        try (SharedQueue q = SharedQueue.create("sleep-alloc", 2, 8); Arena arena = Arena.ofShared()) {
            MemorySegment message = arena.allocate(8, 8), dst = arena.allocate(8, 8);
            AtomicLong producerFewest = new AtomicLong(Long.MAX_VALUE);
            Thread producer = Thread.ofPlatform().start(() -> {
                try {
                    for (int r = 0; r < rounds; r++) {
                        long before = CurrentThreadAllocation.bytes();
                        for (int i = 0; i < perRound; i++) {
                            message.set(ValueLayout.JAVA_LONG, 0, (long) r * perRound + i);
                            if (!q.offer(message, timeout)) throw new AssertionError("no room");
                            // Pauses (parkNanos allocates nothing) in which the consumer empties the queue and must sleep on it: a
                            // yield was not enough, on an idle machine the consumer slept only 5 times in a round.
                            if ((i & 7) == 0) LockSupport.parkNanos(200_000);
                        }
                        producerFewest.accumulateAndGet(CurrentThreadAllocation.bytes() - before, Math::min);
                    }
                } catch (InterruptedException e) {
                    throw new AssertionError(e);
                }
            });
            long sum = 0, fewest = Long.MAX_VALUE, sleptInFewest = 0;
            long[] perRoundBytes = new long[rounds];
            for (int r = 0; r < rounds; r++) {
                long switches = voluntarySwitches();
                long before = CurrentThreadAllocation.bytes();
                for (int i = 0; i < perRound; i++) {
                    if (q.poll(dst, timeout) != 8) throw new AssertionError("no message");
                    sum += dst.get(ValueLayout.JAVA_LONG, 0);
                }
                perRoundBytes[r] = CurrentThreadAllocation.bytes() - before;
                long slept = voluntarySwitches() - switches;
                if (perRoundBytes[r] < fewest) {
                    fewest = perRoundBytes[r];
                    sleptInFewest = slept;
                }
            }
            producer.join();
            long n = (long) rounds * perRound;
            assertEquals(n * (n - 1) / 2, sum);
            assertEquals(0, fewest, "consumer's bytes per round of " + perRound + " messages: " + Arrays.toString(perRoundBytes));
            assertEquals(0, producerFewest.get(), "producer's fewest bytes per round of " + perRound + " messages");
            assertFalse(sleptInFewest < 100, "the consumer slept only " + sleptInFewest + " times in its round without allocation");
        }
    }

    /**
     * {@code pollLong(Duration, long)} and {@code pollInt(Duration, int)} allocate nothing even where the JIT does not
     * inline them into their caller (a large loop body, a call through an interface): a child JVM that may inline
     * no method of SharedQueue anywhere takes 200,000 messages a round each way. {@code pollLong(Duration)} is the
     * control: its OptionalLong, 24 bytes a take there, shows that the flag took hold (in this JVM, inlined, it
     * costs nothing, which is why the bench once read 0 B/op for it and the JIT cannot be relied on for that).
     */
    @Test
    void shouldAllocateNothingPerPrimitivePollEvenWhereTheJitDoesNotInlineIt() throws Exception {
        List<String> noInlining = List.of("-XX:CompileCommand=quiet", "-XX:CompileCommand=dontinline," + SharedQueue.class.getName() + "::*");
        try (ChildJvm child = ChildJvm.start(List.of(), noInlining, PollAllocationChild.class, new long[0])) {
            long[] primitiveLong = bytesPerRound(child.readLine(), "pollLong(Duration, long)");
            long[] primitiveInt = bytesPerRound(child.readLine(), "pollInt(Duration, int)");
            long[] optional = bytesPerRound(child.readLine(), "pollLong(Duration)");
            assertEquals(ExitStatus.exited(0), child.process().waitFor());
            int last = PollAllocationChild.ROUNDS - 1;
            assertEquals(24L * PollAllocationChild.PER_ROUND, optional[last],
                    "the control, an OptionalLong a take: " + Arrays.toString(optional));
            assertEquals(0, primitiveLong[last], "pollLong(Duration, long)'s bytes per round: " + Arrays.toString(primitiveLong));
            assertEquals(0, primitiveInt[last], "pollInt(Duration, int)'s bytes per round: " + Arrays.toString(primitiveInt));
        }
    }

    /** The bytes of the line {@code "<what> [n, n, ...]"} that PollAllocationChild prints. */
    private static long[] bytesPerRound(String line, String what) {
        assertTrue(line.startsWith(what + " ["), line);
        return Arrays.stream(line.substring(what.length() + 2, line.length() - 1).split(", ")).mapToLong(Long::parseLong).toArray();
    }

    /** This thread's voluntary context switches so far: how often it slept. */
    private static long voluntarySwitches() throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/thread-self/status"))) {
            if (line.startsWith("voluntary_ctxt_switches:")) return Long.parseLong(line.substring(line.indexOf(':') + 1).strip());
        }
        throw new IllegalStateException("no voluntary_ctxt_switches in /proc/thread-self/status");
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
