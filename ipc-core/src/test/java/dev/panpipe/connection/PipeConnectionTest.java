package dev.panpipe.connection;

import dev.panpipe.io.Pipe;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The connection contract over a one-way pipe ({@code Connection.oneWay}, like {@code Pipe(duplex=False)}). */
class PipeConnectionTest extends ConnectionContractTest {
    @Override
    Link link(ConnectionOptions options) throws IOException {
        Connection.Pair pair = Connection.oneWay(options);
        return new Link(pair.first(), pair.second());
    }

    @Override
    RawLink rawLink(ConnectionOptions options) throws IOException {
        Pipe pipe = Pipe.open();
        return new RawLink(Connection.over(pipe.readEnd(), null, options), pipe.writeEnd());
    }

    @Test
    void shouldTrySendOnlyWholeFramesThatFit() throws Exception {
        try (Connection.Pair pair = Connection.oneWay()) {
            byte[] block = new byte[10_000];
            int accepted = 0;
            while (pair.second().trySend(block, Codecs.bytes())) {
                Arrays.fill(block, (byte) ++accepted);
                assertTrue(accepted < 100, "a 64 KiB pipe cannot take 100 frames of 10 KB");
            }
            assertTrue(accepted >= 4, "a 64 KiB pipe takes at least 4 frames of 10 KB: " + accepted);
            assertEquals(accepted, pair.second().sent(), "a refused frame consumes no sequence number");
            for (int i = 0; i < accepted; i++) {
                byte[] expected = new byte[10_000];
                Arrays.fill(expected, (byte) i);
                assertArrayEquals(expected, pair.first().receiveBytes());
            }
            assertFalse(pair.first().poll(java.time.Duration.ZERO), "no partial frame was left in the pipe");
            assertTrue(pair.second().trySend(block, Codecs.bytes()), "room again once drained");
        }
    }
}
