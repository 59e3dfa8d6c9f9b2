package dev.panpipe.connection;

import dev.panpipe.io.LeakCheck;
import dev.panpipe.io.Pipe;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(60)
@ExtendWith(LeakCheck.class)
class FrameAssemblerTest {

    private static byte[] frame(int type, long sequence, byte[] payload) {
        byte[] f = new byte[FrameDescriptor.HEADER_LENGTH + payload.length];
        FrameDescriptor.writeHeader(MemorySegment.ofArray(f), 0, type, payload.length, (int) sequence);
        System.arraycopy(payload, 0, f, FrameDescriptor.HEADER_LENGTH, payload.length);
        return f;
    }

    /** Frames written in random pieces with random pauses come out whole, in order, byte for byte. */
    @Test
    void shouldReassembleFramesSplitAnywhere() throws Exception {
        long seed = System.nanoTime();
        Random random = new Random(seed);
        List<byte[]> payloads = new ArrayList<>();
        ByteArrayOutputStream stream = new ByteArrayOutputStream();
        for (int i = 0; i < 400; i++) {
            int size = switch (i % 5) {
                case 0 -> 0;
                case 1 -> random.nextInt(16);
                case 2 -> random.nextInt(70_000);          // around the initial 64 KiB buffer
                case 3 -> 200_000 + random.nextInt(300_000); // needs growth
                default -> random.nextInt(1000);
            };
            byte[] p = new byte[size];
            random.nextBytes(p);
            payloads.add(p);
            stream.writeBytes(frame(FrameDescriptor.TYPE_BYTES, i, p));
        }
        byte[] all = stream.toByteArray();
        try (Pipe pipe = Pipe.open(); FrameAssembler assembler = new FrameAssembler(ConnectionOptions.defaults());
             ExecutorService pool = Executors.newSingleThreadExecutor()) {
            Future<?> writer = pool.submit(() -> {
                try {
                    Random r = new Random(seed + 1);
                    for (int at = 0; at < all.length; ) {
                        int n = Math.min(all.length - at, 1 + r.nextInt(r.nextBoolean() ? 7 : 90_000));
                        pipe.writeEnd().write(all, at, n);
                        at += n;
                        if (r.nextInt(50) == 0) Thread.sleep(1);
                    }
                } finally {
                    pipe.writeEnd().close();
                }
                return null;
            });
            pipe.readEnd().blocking(false);
            int received = 0;
            for (;;) {
                long n = assembler.readFrom(pipe.readEnd());
                for (Message m; (m = assembler.next()) != null; received++) {
                    assertEquals(received, m.sequence(), "seed " + seed);
                    assertArrayEquals(payloads.get(received), m.toByteArray(), "frame " + received + ", seed " + seed);
                }
                if (n == FrameAssembler.END_OF_STREAM) break;
                if (n == 0) pipe.readEnd().awaitReadable(Duration.ofSeconds(10));
            }
            writer.get();
            assertEquals(payloads.size(), received, "seed " + seed);
            assertFalse(assembler.hasPartialFrame());
        }
    }

    @Test
    void shouldRefuseAForgedLengthAsSoonAsTheHeaderIsIn() throws Exception {
        try (Pipe pipe = Pipe.open(); FrameAssembler assembler = new FrameAssembler(ConnectionOptions.defaults().withMaxMessageSize(1 << 20))) {
            byte[] header = Arrays.copyOf(frame(FrameDescriptor.TYPE_BYTES, 0, new byte[0]), FrameDescriptor.HEADER_LENGTH);
            MemorySegment.ofArray(header).set(FrameDescriptor.U32, FrameDescriptor.LENGTH_OFFSET, -1);   // 4 GiB - 1
            pipe.writeEnd().write(header, 0, 10);
            pipe.readEnd().blocking(false);
            assembler.readFrom(pipe.readEnd());
            assertNull(assembler.next(), "10 header bytes are not a frame yet");
            pipe.writeEnd().write(header, 10, 6);
            assembler.readFrom(pipe.readEnd());
            ProtocolException e = assertThrows(ProtocolException.class, assembler::next);
            assertEquals("length", e.field());
            assertEquals(0xffffffffL, e.value());
            assertSame(e, assertThrows(ProtocolException.class, assembler::next));
            assertSame(e, assertThrows(ProtocolException.class, () -> assembler.readFrom(pipe.readEnd())));
        }
    }

    @Test
    void shouldNameWhatATruncatedStreamLacked() throws Exception {
        try (Pipe pipe = Pipe.open(); FrameAssembler assembler = new FrameAssembler(ConnectionOptions.defaults())) {
            byte[] f = frame(FrameDescriptor.TYPE_TEXT, 0, "hello, world".getBytes());
            pipe.writeEnd().write(f, 0, f.length - 5);
            pipe.writeEnd().close();
            long n;
            while ((n = assembler.readFrom(pipe.readEnd())) != FrameAssembler.END_OF_STREAM) assertTrue(n > 0);
            assertNull(assembler.next());
            assertTrue(assembler.hasPartialFrame());
            ProtocolException e = assembler.truncated();
            assertEquals("length", e.field());
            assertTrue(e.getMessage().contains("truncated payload: 7 of 12"), e.getMessage());
        }
    }

    @Test
    void shouldRefuseASequenceGapAndABadMagic() throws Exception {
        try (Pipe pipe = Pipe.open(); FrameAssembler assembler = new FrameAssembler(ConnectionOptions.defaults())) {
            byte[] a = frame(FrameDescriptor.TYPE_BYTES, 0, new byte[] {1});
            byte[] b = frame(FrameDescriptor.TYPE_BYTES, 5, new byte[] {2});
            pipe.writeEnd().write(a, 0, a.length);
            pipe.writeEnd().write(b, 0, b.length);
            assembler.readFrom(pipe.readEnd());
            assertArrayEquals(new byte[] {1}, assembler.next().toByteArray());
            assertEquals("sequence", assertThrows(ProtocolException.class, assembler::next).field());
        }
        try (Pipe pipe = Pipe.open(); FrameAssembler assembler = new FrameAssembler(ConnectionOptions.defaults())) {
            byte[] junk = "GET / HTTP/1.1\r\n\r\n".getBytes();
            pipe.writeEnd().write(junk, 0, junk.length);
            assembler.readFrom(pipe.readEnd());
            ProtocolException e = assertThrows(ProtocolException.class, assembler::next);
            assertEquals("magic", e.field());
        }
    }
}
