package dev.panpipe.connection;

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

    private Codecs() {
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
