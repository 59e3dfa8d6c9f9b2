package dev.panpipe.zerocopy.queue;

import dev.panpipe.zerocopy.CurrentThreadAllocation;

import java.time.Duration;
import java.util.Arrays;

/**
 * The child JVM of {@link SharedQueueAllocationTest#shouldAllocateNothingPerPrimitivePollEvenWhereTheJitDoesNotInlineIt}:
 * on a queue of its own, offers and takes {@value #PER_ROUND} messages a round, {@value #ROUNDS} rounds per way of
 * taking them, and prints a line per way: its name and the bytes this thread allocated in each round.
 */
public final class PollAllocationChild {
    static final int ROUNDS = 5;
    static final int PER_ROUND = 200_000;
    /** Made once: a Duration per call would be this loop's own allocation. */
    private static final Duration TIMEOUT = Duration.ofSeconds(1);

    private PollAllocationChild() {
    }

    public static void main(String[] args) throws Exception {
        try (SharedQueue q = SharedQueue.create("poll-alloc", 1024, 8)) {
            say("pollLong(Duration, long)", rounds(() -> {
                if (!q.offerLong(7)) throw new IllegalStateException("no room");
                return q.pollLong(TIMEOUT, -1) == 7;
            }));
            say("pollInt(Duration, int)", rounds(() -> {
                if (!q.offerInt(7)) throw new IllegalStateException("no room");
                return q.pollInt(TIMEOUT, -1) == 7;
            }));
            // the control: the OptionalLong is allocated here unless pollLong is inlined into this loop
            say("pollLong(Duration)", rounds(() -> {
                if (!q.offerLong(7)) throw new IllegalStateException("no room");
                return q.pollLong(TIMEOUT).orElse(-1) == 7;
            }));
        }
    }

    private interface Take {
        boolean tookSeven() throws InterruptedException;
    }

    private static long[] rounds(Take take) throws InterruptedException {
        long[] bytes = new long[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            long before = CurrentThreadAllocation.bytes();
            for (int i = 0; i < PER_ROUND; i++) if (!take.tookSeven()) throw new IllegalStateException("lost message " + i);
            bytes[r] = CurrentThreadAllocation.bytes() - before;
        }
        return bytes;
    }

    private static void say(String what, long[] bytes) {
        System.out.println(what + " " + Arrays.toString(bytes));
        System.out.flush();
    }
}
