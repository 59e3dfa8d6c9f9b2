package dev.panpipe.connection;

import dev.panpipe.io.WriteEnd;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import dev.panpipe.io.Blocking;
import dev.panpipe.io.LeakCheck;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.channels.AsynchronousCloseException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.zip.CRC32;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What every connection transport must do. Each transport runs this suite by providing the two factory
 * methods (Netty's SocketEchoTest shape).
 */
@Timeout(60)
@ExtendWith(LeakCheck.class)
abstract class ConnectionContractTest {

    /** A connected link: {@code receiver} receives what {@code sender} sends. */
    record Link(Connection receiver, Connection sender) implements AutoCloseable {
        @Override
        public void close() {
            receiver.close();
            sender.close();
        }
    }

    /** A receiver fed by a raw byte stream the test writes into, to forge bad frames. */
    record RawLink(Connection receiver, WriteEnd raw) implements AutoCloseable {
        @Override
        public void close() {
            receiver.close();
            raw.close();
        }
    }

    abstract Link link(ConnectionOptions options) throws IOException;

    /** Work for another thread that, if it fails, closes {@code c} so the receiving side cannot wait forever. */
    interface Sending {
        void run() throws Exception;
    }

    static Future<?> sendFrom(ExecutorService pool, Connection c, Sending work) {
        return pool.submit(() -> {
            try {
                work.run();
            } catch (Exception | Error e) {
                c.close();
                throw e;
            }
            return null;
        });
    }

    abstract RawLink rawLink(ConnectionOptions options) throws IOException;

    static byte[] randomBytes(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    @Test
    void shouldDeliverMessagesInOrderWithTheirContent() throws Exception {
        try (Link l = link(ConnectionOptions.defaults()); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            int count = 2_000;
            Future<?> sender = sendFrom(pool, l.sender(), () -> {
                for (int i = 0; i < count; i++) l.sender().send(randomBytes(i % 300, i));
            });
            for (int i = 0; i < count; i++) {
                Message m = l.receiver().receive();
                assertEquals(FrameDescriptor.TYPE_BYTES, m.type());
                assertEquals(i, m.sequence());
                assertArrayEquals(randomBytes(i % 300, i), m.toByteArray(), "message " + i);
            }
            sender.get();
            assertEquals(count, l.sender().sent());
            assertEquals(count, l.receiver().received());
        }
    }

    @Test
    void shouldCarryTextAndEmptyMessages() throws Exception {
        try (Link l = link(ConnectionOptions.defaults())) {
            l.sender().send("grüß dich, 世界", Codecs.text());
            l.sender().send(new byte[0]);
            assertEquals("grüß dich, 世界", l.receiver().receive(Codecs.text()));
            assertEquals(0, l.receiver().receiveBytes().length);
        }
    }

    @Test
    void shouldCarryMessagesLargerThanTheKernelBuffer() throws Exception {
        try (Link l = link(ConnectionOptions.defaults()); ExecutorService pool = Executors.newSingleThreadExecutor();
             Arena arena = Arena.ofShared()) {
            int size = 8 << 20;
            MemorySegment big = arena.allocate(size);
            for (int i = 0; i < size; i += 4) big.set(ValueLayout.JAVA_INT_UNALIGNED, i, i * 31);
            Future<?> sender = sendFrom(pool, l.sender(), () -> {
                l.sender().send(big);
                l.sender().send(randomBytes(70_000, 7));    // heap bytes above the one-write limit
            });
            Message m = l.receiver().receive();
            assertEquals(size, m.payload().byteSize());
            assertEquals(-1, m.payload().mismatch(big));
            assertArrayEquals(randomBytes(70_000, 7), l.receiver().receiveBytes());
            sender.get();
        }
    }

    @Test
    void shouldReportThePeersCloseAsConnectionClosedBetweenMessages() throws Exception {
        try (Link l = link(ConnectionOptions.defaults())) {
            l.sender().send(new byte[] {1, 2, 3});
            l.sender().close();
            assertArrayEquals(new byte[] {1, 2, 3}, l.receiver().receiveBytes());
            ConnectionClosedException e = assertThrows(ConnectionClosedException.class, () -> l.receiver().receive());
            assertTrue(e.getMessage().contains("after 1 messages"), e.getMessage());
        }
    }

    @Test
    void shouldPollWithTimeout() throws Exception {
        try (Link l = link(ConnectionOptions.defaults())) {
            assertFalse(l.receiver().poll(Duration.ofMillis(50)));
            assertFalse(l.receiver().poll(Duration.ZERO));
            IllegalArgumentException negative = assertThrows(IllegalArgumentException.class, () -> l.receiver().poll(Duration.ofMillis(-1)));
            assertEquals("negative timeout: PT-0.001S", negative.getMessage());
            l.sender().send(new byte[] {9});
            assertTrue(l.receiver().poll(Duration.ofSeconds(Long.MAX_VALUE)), "a huge timeout, without overflowing");
            assertArrayEquals(new byte[] {9}, l.receiver().receiveBytes());
        }
    }

    @Test
    void shouldRefuseToSendMoreThanTheMaximum() throws Exception {
        try (Link l = link(ConnectionOptions.defaults().withMaxMessageSize(1000))) {
            ProtocolException e = assertThrows(ProtocolException.class, () -> l.sender().send(new byte[1001]));
            assertEquals("length", e.field());
            assertEquals(1001, e.value());
            ProtocolException viaCodec = assertThrows(ProtocolException.class, () -> l.sender().send("x".repeat(1001), Codecs.text()));
            assertEquals("length", viaCodec.field());
            l.sender().send(new byte[1000]);                        // the connection is still usable
            assertEquals(1000, l.receiver().receiveBytes().length);
        }
    }

    /** A codec of the application's own, whose type no receiver would accept. */
    static Codec<String> textAsType(int type) {
        return new Codec<>() {
            @Override
            public int type() {
                return type;
            }

            @Override
            public void encode(String value, PayloadWriter out) throws IOException {
                Codecs.text().encode(value, out);
            }

            @Override
            public String decode(MemorySegment payload) throws ProtocolException {
                return Codecs.text().decode(payload);
            }
        };
    }

    @Test
    void shouldRefuseToSendWithACodecWhoseTypeIsNoFrameType() throws Exception {
        // Type 0 went out and broke the receiver's connection for good; 320 went out as 64 (the byte cast),
        // another application type than the one the codec stands for.
        try (Link l = link(ConnectionOptions.defaults())) {
            for (int type : new int[] {0, 8, 63, 256, 320, -1}) {
                assertThrows(IllegalArgumentException.class, () -> l.sender().send("x", textAsType(type)), "type " + type);
                assertThrows(IllegalArgumentException.class, () -> l.sender().trySend("x", textAsType(type)), "type " + type);
            }
            assertEquals(0, l.sender().sent(), "a refused frame consumes no sequence number");
            l.sender().send("fine", textAsType(FrameDescriptor.FIRST_APPLICATION_TYPE));
            assertEquals("fine", l.receiver().receive(textAsType(FrameDescriptor.FIRST_APPLICATION_TYPE)));
            assertFalse(l.receiver().poll(Duration.ZERO), "nothing else was sent");
        }
    }

    @Test
    void shouldWakeABlockedReceiverOnClose() throws Exception {
        try (Link l = link(ConnectionOptions.defaults())) {
            // Asleep in its wait before the close: a receive begun after it is refused (IllegalStateException),
            // which a fixed sleep here let happen on a loaded machine.
            Future<Throwable> receiver = Blocking.startAndAwaitBlocked("poll", () -> {
                try {
                    l.receiver().receive();
                    return null;
                } catch (Throwable t) {
                    return t;
                }
            });
            l.receiver().close();
            assertInstanceOf(AsynchronousCloseException.class, receiver.get(10, TimeUnit.SECONDS));
            assertThrows(IllegalStateException.class, () -> l.receiver().receive());
        }
    }

    // ---- forged frames ----

    static byte[] header(int magic, int version, int type, int flags, long length, long sequence) {
        byte[] h = new byte[FrameDescriptor.HEADER_LENGTH];
        MemorySegment s = MemorySegment.ofArray(h);
        s.set(FrameDescriptor.U32, 0, magic);
        s.set(ValueLayout.JAVA_BYTE, 4, (byte) version);
        s.set(ValueLayout.JAVA_BYTE, 5, (byte) type);
        s.set(FrameDescriptor.U16, 6, (short) flags);
        s.set(FrameDescriptor.U32, 8, (int) length);
        s.set(FrameDescriptor.U32, 12, (int) sequence);
        return h;
    }

    private ProtocolException forged(byte[] bytes, boolean closeAfter) throws IOException {
        try (RawLink r = rawLink(ConnectionOptions.defaults().withMaxMessageSize(1 << 20))) {
            r.raw().write(bytes, 0, bytes.length);
            if (closeAfter) r.raw().close();
            ProtocolException e = assertThrows(ProtocolException.class, () -> r.receiver().receive());
            // The connection stays broken: the same error again, without reading further.
            assertSame(e, assertThrows(ProtocolException.class, () -> r.receiver().receive()));
            return e;
        }
    }

    @Test
    void shouldRefuseAWrongMagicNamingTheField() throws Exception {
        ProtocolException e = forged("AAAAAAAAAAAAAAAA".getBytes(StandardCharsets.US_ASCII), false);
        assertEquals("magic", e.field());
        assertEquals(0x41414141L, e.value());
        assertTrue(e.getMessage().contains("bad magic 0x41414141"), e.getMessage());
    }

    @Test
    void shouldRefuseAnUnknownVersionTypeOrFlags() throws Exception {
        assertEquals("version", forged(header(FrameDescriptor.MAGIC, 2, 1, 0, 0, 0), false).field());
        assertEquals("type", forged(header(FrameDescriptor.MAGIC, 1, 0, 0, 0, 0), false).field());
        assertEquals("type", forged(header(FrameDescriptor.MAGIC, 1, 40, 0, 0, 0), false).field());
        assertEquals("flags", forged(header(FrameDescriptor.MAGIC, 1, 1, 4, 0, 0), false).field());
    }

    @Test
    void shouldRefuseAnOversizedLengthWithoutWaitingForOrAllocatingIt() throws Exception {
        // 4 GiB - 1 claimed; nothing follows and the writer stays open: a receiver that trusted the
        // length would allocate it or hang waiting for it.
        ProtocolException e = forged(header(FrameDescriptor.MAGIC, 1, 1, 0, 0xffffffffL, 0), false);
        assertEquals("length", e.field());
        assertEquals(0xffffffffL, e.value());
    }

    @Test
    void shouldReportATruncatedFrame() throws Exception {
        byte[] h = header(FrameDescriptor.MAGIC, 1, 1, 0, 100, 0);
        byte[] partial = Arrays.copyOf(h, h.length + 10);
        ProtocolException payload = forged(partial, true);
        assertEquals("length", payload.field());
        assertTrue(payload.getMessage().contains("truncated payload: 10 of 100"), payload.getMessage());
        ProtocolException header = forged(Arrays.copyOf(h, 7), true);
        assertEquals("header", header.field());
        assertEquals(7, header.value());
    }

    @Test
    void shouldRefuseASequenceGap() throws Exception {
        byte[] first = header(FrameDescriptor.MAGIC, 1, 1, 0, 0, 0);
        byte[] skipped = header(FrameDescriptor.MAGIC, 1, 1, 0, 0, 2);
        try (RawLink r = rawLink(ConnectionOptions.defaults())) {
            r.raw().write(first, 0, first.length);
            r.raw().write(skipped, 0, skipped.length);
            assertEquals(0, r.receiver().receiveBytes().length);
            ProtocolException e = assertThrows(ProtocolException.class, () -> r.receiver().receive());
            assertEquals("sequence", e.field());
            assertEquals(2, e.value());
        }
    }

    @Test
    void shouldRefuseAPayloadOfTheWrongTypeOrBadUtf8() throws Exception {
        try (Link l = link(ConnectionOptions.defaults())) {
            l.sender().send(new byte[] {(byte) 0xff, (byte) 0xfe});
            ProtocolException wrongType = assertThrows(ProtocolException.class, () -> l.receiver().receive(Codecs.text()));
            assertEquals("type", wrongType.field());
        }
        byte[] frame = new byte[FrameDescriptor.HEADER_LENGTH + 2];
        System.arraycopy(header(FrameDescriptor.MAGIC, 1, FrameDescriptor.TYPE_TEXT, 0, 2, 0), 0, frame, 0, FrameDescriptor.HEADER_LENGTH);
        frame[16] = (byte) 0xc3;
        frame[17] = (byte) 0x28;
        try (RawLink r = rawLink(ConnectionOptions.defaults())) {
            r.raw().write(frame, 0, frame.length);
            assertEquals("text", assertThrows(ProtocolException.class, () -> r.receiver().receive(Codecs.text())).field());
        }
    }

    /**
     * The receive path allocates nothing (README): the message is one flyweight, and so is its payload while
     * messages keep one size. A slice stored in the flyweight escapes, so one made per message was a 40-byte
     * allocation on every receive, whatever the JIT did.
     */
    @Test
    void shouldReuseThePayloadViewForMessagesOfOneSize() throws Exception {
        try (Link l = link(ConnectionOptions.defaults())) {
            for (int i = 0; i < 3; i++) l.sender().send(new byte[] {(byte) i, 2, 3});
            l.sender().send(new byte[] {4});
            Message first = l.receiver().receive();
            MemorySegment view = first.payload();
            for (int i = 1; i < 3; i++) {
                Message m = l.receiver().receive();
                assertSame(first, m);
                assertSame(view, m.payload(), "message " + i);
                assertArrayEquals(new byte[] {(byte) i, 2, 3}, m.toByteArray());
            }
            assertArrayEquals(new byte[] {4}, l.receiver().receiveBytes(), "a message of another size gets its own view");
        }
    }

    @Test
    void shouldKeepTheReceivedPayloadIntactForChecksums() throws Exception {
        try (Link l = link(ConnectionOptions.defaults()); ExecutorService pool = Executors.newSingleThreadExecutor()) {
            Random random = new Random(42);
            CRC32 sentSum = new CRC32();
            byte[][] messages = new byte[200][];
            for (int i = 0; i < messages.length; i++) {
                messages[i] = randomBytes(random.nextInt(200_000), i);
                sentSum.update(messages[i]);
            }
            Future<?> sender = sendFrom(pool, l.sender(), () -> {
                for (byte[] m : messages) l.sender().send(m);
            });
            CRC32 receivedSum = new CRC32();
            for (int i = 0; i < messages.length; i++) receivedSum.update(l.receiver().receive().payload().asByteBuffer());
            sender.get();
            assertEquals(sentSum.getValue(), receivedSum.getValue());
        }
    }
}
