package dev.panpipe.connection;

import dev.panpipe.io.Pipe;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

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

    /**
     * A write end in non-blocking mode takes what fits and says how much: a frame larger than the pipe's
     * room used to go out cut, the rest silently dropped, and the next frame's bytes read as its payload.
     * Every kind of send must finish the frame it began, waiting for the reader as a blocking end would.
     */
    @Test
    void shouldSendOnlyWholeFramesOverANonBlockingWriteEnd() throws Exception {
        Pipe pipe = Pipe.open();
        pipe.writeEnd().blocking(false);
        try (Connection receiver = Connection.over(pipe.readEnd(), null, ConnectionOptions.defaults());
             Connection sender = Connection.over(null, pipe.writeEnd(), ConnectionOptions.defaults());
             ExecutorService pool = Executors.newSingleThreadExecutor(); Arena arena = Arena.ofShared()) {
            int size = 1 << 20;
            byte[] heap = randomBytes(size, 1);
            MemorySegment offHeap = arena.allocate(size);                     // above the one-write limit: header, then payload
            MemorySegment.copy(randomBytes(size, 2), 0, offHeap, ValueLayout.JAVA_BYTE, 0, size);
            Future<?> sending = sendFrom(pool, sender, () -> {
                sender.send(heap);
                sender.send(FrameDescriptor.TYPE_BYTES, offHeap);
                sender.send(randomBytes(size, 3), Codecs.bytes());           // encoded in place, one write
                sender.send("and then a small one", Codecs.text());
            });
            Thread.sleep(300);                                                // a slow reader: the pipe is full by now
            assertFalse(sending.isDone(), "1 MiB does not fit in a " + pipe.capacity() + "-byte pipe: the sender waits for the reader");
            assertArrayEquals(heap, receiver.receiveBytes());
            assertEquals(-1, receiver.receive().payload().mismatch(offHeap));
            assertArrayEquals(randomBytes(size, 3), receiver.receiveBytes());
            assertEquals("and then a small one", receiver.receive(Codecs.text()));
            sending.get(30, TimeUnit.SECONDS);
            assertEquals(4, sender.sent());
            assertFalse(receiver.poll(Duration.ZERO), "nothing but the four frames was written");
        }
    }

    /** A receiver over a non-blocking read end waits for the rest of a frame that comes in pieces. */
    @Test
    void shouldReceiveAFrameThatArrivesInTwoHalvesOverANonBlockingReadEnd() throws Exception {
        Pipe pipe = Pipe.open();
        pipe.readEnd().blocking(false);
        try (Connection receiver = Connection.over(pipe.readEnd(), null, ConnectionOptions.defaults());
             ExecutorService pool = Executors.newSingleThreadExecutor()) {
            byte[] payload = randomBytes(1000, 4);
            for (int sequence = 0; sequence < 3; sequence++) {
                byte[] frame = Arrays.copyOf(header(FrameDescriptor.MAGIC, 1, FrameDescriptor.TYPE_BYTES, 0, payload.length, sequence),
                        FrameDescriptor.HEADER_LENGTH + payload.length);
                System.arraycopy(payload, 0, frame, FrameDescriptor.HEADER_LENGTH, payload.length);
                int cut = new int[] {7, FrameDescriptor.HEADER_LENGTH, FrameDescriptor.HEADER_LENGTH + 500}[sequence];   // in the header, after it, in the payload
                // When the second half went in: a start time taken here, after the submit, could be late by more than
                // the writer's pause on a loaded machine, and a receive that had waited looked as if it had not.
                java.util.concurrent.atomic.AtomicLong secondHalf = new java.util.concurrent.atomic.AtomicLong();
                Future<?> writing = pool.submit(() -> {
                    pipe.writeEnd().write(frame, 0, cut);
                    Thread.sleep(200);
                    secondHalf.set(System.nanoTime());
                    pipe.writeEnd().write(frame, cut, frame.length - cut);
                    return null;
                });
                assertArrayEquals(payload, receiver.receiveBytes(), "cut after " + cut + " bytes");
                long returned = System.nanoTime();
                assertTrue(secondHalf.get() != 0 && returned - secondHalf.get() > 0, "the receive waited for the second half");
                writing.get();
            }
            assertEquals(3, receiver.received());
        } finally {
            pipe.writeEnd().close();
        }
    }
}
