package dev.panpipe.connection;

import dev.panpipe.pixel.PixelFrame;

import java.io.Serializable;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** The built-in codecs. */
public final class Codecs {
    private static final Codec<byte[]> BYTES = new Codec<>() {
        @Override
        public int type() {
            return FrameDescriptor.TYPE_BYTES;
        }

        @Override
        public void encode(byte[] value, PayloadWriter out) throws ProtocolException {
            out.put(value, 0, value.length);
        }

        @Override
        public byte[] decode(MemorySegment payload) {
            return payload.toArray(ValueLayout.JAVA_BYTE);
        }
    };

    private static final Codec<String> TEXT = new Codec<>() {
        @Override
        public int type() {
            return FrameDescriptor.TYPE_TEXT;
        }

        @Override
        public void encode(String value, PayloadWriter out) throws ProtocolException {
            byte[] utf8 = value.getBytes(StandardCharsets.UTF_8);
            out.put(utf8, 0, utf8.length);
        }

        @Override
        public String decode(MemorySegment payload) throws ProtocolException {
            CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT);
            try {
                return decoder.decode(ByteBuffer.wrap(payload.toArray(ValueLayout.JAVA_BYTE))).toString();
            } catch (CharacterCodingException e) {
                throw new ProtocolException("text", payload.byteSize(), "text payload of " + payload.byteSize() + " bytes is not valid UTF-8");
            }
        }
    };

    private static final Codec<PixelFrame> PIXELS = new PixelFrameCodec();

    private Codecs() {
    }

    /**
     * Pixel frames (type 3): width, height, stride, format and the rows, no object serialization. The
     * decoded frame's pixels are a view of the receive buffer, valid until the next receive.
     */
    public static Codec<PixelFrame> pixels() {
        return PIXELS;
    }

    /**
     * Java serialization (type 4) of {@code type}, decoding only the classes {@code allowed} (and
     * {@code type} itself), plus {@code java.lang} boxes and strings. Everything else is refused.
     */
    public static <T extends Serializable> Codec<T> javaSerialization(Class<T> type, Class<?>... allowed) {
        StringBuilder patterns = new StringBuilder(type.getName());
        for (Class<?> c : allowed) patterns.append(';').append(c.getName());
        patterns.append(";java.lang.String;java.lang.Number;java.lang.Integer;java.lang.Long;java.lang.Double;java.lang.Float")
                .append(";java.lang.Short;java.lang.Byte;java.lang.Boolean;java.lang.Character;java.lang.Enum");
        return new JavaSerialCodec<>(type, patterns.toString());
    }

    /**
     * Java serialization (type 4) with an {@link java.io.ObjectInputFilter} pattern allowlist such as
     * {@code "com.example.*;java.util.ArrayList"}. {@code "!*"} is always appended, so the list can only
     * allow; an empty list is refused, because unrestricted deserialization is never offered.
     */
    public static <T extends Serializable> Codec<T> javaSerialization(Class<T> type, String allowlistPatterns) {
        if (allowlistPatterns.isBlank() || allowlistPatterns.strip().equals("*")) {
            throw new IllegalArgumentException("an allowlist is required: panpipe never deserializes unrestricted");
        }
        return new JavaSerialCodec<>(type, allowlistPatterns);
    }

    /**
     * Apache Fory (type 5) for a value of {@code type}, which may hold instances of the {@code registered}
     * classes (JDK strings, boxes, primitive arrays, lists, maps and sets need no registration). Every
     * class is registered by name and no other is ever deserialized: one outside the list is refused with
     * a {@link ProtocolException} naming it (and on send with an {@link IllegalArgumentException}). Both
     * peers must register the same classes, in any order. Reference tracking is off: a shared object is
     * sent once per reference, and a cycle is an error ({@link #foryTrackingReferences} allows both).
     *
     * <p>The codec is thread-safe (a sender and a receiver thread may share it) and costly to create:
     * make one and reuse it. Needs {@code org.apache.fory:fory-core} at run time, resolved with
     * {@code --add-modules org.apache.fory.core} and, on JDK 25+,
     * {@code --add-opens java.base/java.lang.invoke=org.apache.fory.core}; nothing else in panpipe does.
     *
     * @throws IllegalStateException if Fory is not available
     */
    public static <T> Codec<T> fory(Class<T> type, Class<?>... registered) {
        requireFory();
        return ForyCodec.create(type, registered, false);
    }

    /** As {@link #fory}, with reference tracking: shared objects stay shared and cycles are allowed. Slower. */
    public static <T> Codec<T> foryTrackingReferences(Class<T> type, Class<?>... registered) {
        requireFory();
        return ForyCodec.create(type, registered, true);
    }

    /** Fails with what to do when Fory's module is not resolved; touches no Fory class itself. */
    private static void requireFory() {
        Module self = Codecs.class.getModule();
        boolean present = self.isNamed() && self.getLayer() != null
                ? self.getLayer().findModule("org.apache.fory.core").isPresent()
                : Codecs.class.getClassLoader() != null && Codecs.class.getClassLoader().getResource("org/apache/fory/Fory.class") != null;
        if (!present) {
            throw new IllegalStateException("Codecs.fory needs Apache Fory: put org.apache.fory:fory-core on the module path and add "
                    + "--add-modules org.apache.fory.core (and on JDK 25+ --add-opens java.base/java.lang.invoke=org.apache.fory.core)");
        }
    }

    /** Raw bytes, copied to and from arrays (type 1). */
    public static Codec<byte[]> bytes() {
        return BYTES;
    }

    /** UTF-8 text (type 2); malformed UTF-8 is refused on decode. */
    public static Codec<String> text() {
        return TEXT;
    }
}
