package dev.panpipe.connection;

import dev.panpipe.io.Pipe;
import dev.panpipe.pixel.PixelFormat;
import dev.panpipe.pixel.PixelFrame;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.ExtendWith;
import dev.panpipe.io.LeakCheck;

import java.io.Serializable;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

@Timeout(30)
@ExtendWith(LeakCheck.class)
class CodecsTest {
    record Point(int x, int y, String label) implements Serializable {
    }

    record Holder(Object payload) implements Serializable {
    }

    @Test
    void shouldRoundTripAPixelFrameWithRowPadding() throws Exception {
        try (Connection.Pair pair = Connection.pair(); Arena arena = Arena.ofConfined()) {
            int w = 37, h = 11, stride = 37 * 3 + 5;           // rows padded, as decoders often leave them
            MemorySegment pixels = arena.allocate((long) stride * h);
            for (long i = 0; i < pixels.byteSize(); i++) pixels.set(ValueLayout.JAVA_BYTE, i, (byte) (i * 7));
            pair.first().send(new PixelFrame(w, h, stride, PixelFormat.RGB8, pixels), Codecs.pixels());
            PixelFrame got = pair.second().receive(Codecs.pixels());
            assertEquals(w, got.width());
            assertEquals(h, got.height());
            assertEquals(stride, got.stride());
            assertEquals(PixelFormat.RGB8, got.format());
            assertEquals(-1, got.pixels().mismatch(pixels));
        }
    }

    /** Sends a forged pixel payload as a type-3 frame and returns the field the receiver names. */
    private static String refusedPixelField(int width, int height, int stride, int format, long pixelBytes) throws Exception {
        try (Pipe pipe = Pipe.open(); Connection receiver = Connection.over(pipe.readEnd(), null, ConnectionOptions.defaults());
             Arena arena = Arena.ofConfined()) {
            MemorySegment frame = arena.allocate(FrameDescriptor.HEADER_LENGTH + 16 + pixelBytes);
            FrameDescriptor.writeHeader(frame, 0, FrameDescriptor.TYPE_PIXELS, (int) (16 + pixelBytes), 0);
            frame.set(FrameDescriptor.U32, 16, width);
            frame.set(FrameDescriptor.U32, 20, height);
            frame.set(FrameDescriptor.U32, 24, stride);
            frame.set(ValueLayout.JAVA_BYTE, 28, (byte) format);
            pipe.writeEnd().write(frame);
            return assertThrows(ProtocolException.class, () -> receiver.receive(Codecs.pixels())).field();
        }
    }

    @Test
    void shouldNameTheBadFieldOfAPixelFrame() throws Exception {
        assertEquals("pixels.format", refusedPixelField(2, 2, 6, 9, 12));
        assertEquals("pixels.width", refusedPixelField(0, 2, 6, 1, 12));
        assertEquals("pixels.height", refusedPixelField(2, 0, 6, 1, 12));
        assertEquals("pixels.stride", refusedPixelField(4, 2, 6, 1, 12));        // 4 RGB pixels need 12 bytes a row
        assertEquals("pixels.length", refusedPixelField(2, 2, 6, 1, 11));        // one byte short
        assertEquals("pixels.length", refusedPixelField(1 << 30, 1 << 30, 1 << 30, 4, 16)); // claims 2^60 bytes
    }

    @Test
    void shouldRoundTripAllowlistedObjects() throws Exception {
        Codec<Point> codec = Codecs.javaSerialization(Point.class);
        try (Connection.Pair pair = Connection.pair()) {
            pair.first().send(new Point(3, -4, "p"), codec);
            assertEquals(new Point(3, -4, "p"), pair.second().receive(codec));
        }
    }

    @Test
    void shouldRefuseAClassOutsideTheAllowlistNamingIt() throws Exception {
        Codec<Holder> codec = Codecs.javaSerialization(Holder.class);
        try (Connection.Pair pair = Connection.pair()) {
            HashMap<String, String> smuggled = new HashMap<>();
            smuggled.put("k", "v");
            pair.first().send(new Holder(smuggled), codec);
            ProtocolException e = assertThrows(ProtocolException.class, () -> pair.second().receive(codec));
            assertEquals("java-serial.class", e.field());
            assertTrue(e.getMessage().contains("class java.util.HashMap"), e.getMessage());
        }
        Codec<Holder> widened = Codecs.javaSerialization(Holder.class, Holder.class.getName() + ";java.util.ArrayList");
        try (Connection.Pair pair = Connection.pair()) {
            pair.first().send(new Holder(new ArrayList<>(List.of("a", "b"))), widened);
            assertEquals(List.of("a", "b"), pair.second().receive(widened).payload());
        }
    }

    @Test
    void shouldNeverOfferUnrestrictedDeserialization() {
        assertThrows(IllegalArgumentException.class, () -> Codecs.javaSerialization(Holder.class, "*"));
        assertThrows(IllegalArgumentException.class, () -> Codecs.javaSerialization(Holder.class, " "));
    }
}
