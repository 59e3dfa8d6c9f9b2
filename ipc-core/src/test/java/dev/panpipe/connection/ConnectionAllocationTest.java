package dev.panpipe.connection;

import dev.panpipe.io.LeakCheck;
import dev.panpipe.io.ThreadAllocation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Sending and receiving messages of one size allocates nothing once compiled (README, Connections: the
 * receive path reuses one flyweight and one buffer), whatever else ran in this JVM before: the slices
 * handed to reads and writes were allocated wherever the JIT did not inline those calls, which depends on
 * the profiles other code left (after the frame assembler tests, 120 B a round trip).
 */
@ExtendWith(LeakCheck.class)
@Timeout(120)
class ConnectionAllocationTest {
    private static final int QUIET = 3, MAX_ROUNDS = 300, MESSAGES_PER_ROUND = 200;

    @Test
    void shouldAllocateNothingSendingAndReceivingMessagesOfOneSize() throws Exception {
        try (Connection.Pair pair = Connection.pair(); Arena arena = Arena.ofConfined()) {
            MemorySegment payload = arena.allocate(64);
            long[] sum = new long[1];
            // Each round sends a round's frames (the socket holds them) and receives them, on this thread.
            List<Long> rounds = ThreadAllocation.untilQuiet(QUIET, MAX_ROUNDS, () -> {
                for (int i = 0; i < MESSAGES_PER_ROUND; i++) pair.first().send(payload);
                for (int i = 0; i < MESSAGES_PER_ROUND; i++) sum[0] += pair.second().receive().payload().byteSize();
            });
            assertTrue(ThreadAllocation.endsQuiet(rounds, QUIET), "bytes per round of " + MESSAGES_PER_ROUND + " round trips: " + rounds);
            assertEquals(64L * MESSAGES_PER_ROUND * rounds.size(), sum[0]);
        }
    }
}
