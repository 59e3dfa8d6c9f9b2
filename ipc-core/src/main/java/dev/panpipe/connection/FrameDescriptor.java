package dev.panpipe.connection;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Layout of a panpipe frame header (protocol version 1; docs/frame-protocol.md is the full spec).
 *
 * <pre>
 *  0               1               2               3
 *  0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 4 5 6 7
 * +---------------------------------------------------------------+
 * |                  magic = 0x46505050 ("PPPF")                  |
 * +---------------+---------------+-------------------------------+
 * |  version = 1  |     type      |        flags (must be 0)      |
 * +---------------+---------------+-------------------------------+
 * |                    payload length (u32)                       |
 * +---------------------------------------------------------------+
 * |                       sequence (u32)                          |
 * +---------------------------------------------------------------+
 * |                  payload (length bytes) ...                   |
 * </pre>
 *
 * All fields are little-endian. Only offsets and constants live here; {@link FramedConnection} reads
 * and writes them.
 */
public final class FrameDescriptor {
    public static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    public static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    public static final int MAGIC_OFFSET = 0;
    public static final int VERSION_OFFSET = 4;
    public static final int TYPE_OFFSET = 5;
    public static final int FLAGS_OFFSET = 6;
    public static final int LENGTH_OFFSET = 8;
    public static final int SEQUENCE_OFFSET = 12;
    public static final int HEADER_LENGTH = 16;

    /** "PPPF" as the four bytes on the wire, read as a little-endian u32. */
    public static final int MAGIC = 0x46505050;
    public static final byte VERSION = 1;

    public static final int TYPE_BYTES = 1;
    public static final int TYPE_TEXT = 2;
    public static final int TYPE_PIXELS = 3;
    public static final int TYPE_JAVA_SERIAL = 4;
    public static final int TYPE_FORY = 5;
    public static final int TYPE_END_OF_INPUT = 6;
    /** A worker's first frame on its results stream: u32 pid, then its name in UTF-8. */
    public static final int TYPE_HELLO = 7;
    /** Types from here to 255 are the application's. */
    public static final int FIRST_APPLICATION_TYPE = 64;

    private FrameDescriptor() {
    }

    /** Whether {@code type} is one a receiver accepts: a panpipe type or an application type. */
    public static boolean isKnownType(int type) {
        return (type >= TYPE_BYTES && type <= TYPE_HELLO) || (type >= FIRST_APPLICATION_TYPE && type <= 255);
    }

    /** Writes a complete header at {@code offset} of {@code buffer}. */
    public static void writeHeader(MemorySegment buffer, long offset, int type, int length, int sequence) {
        buffer.set(U32, offset + MAGIC_OFFSET, MAGIC);
        buffer.set(ValueLayout.JAVA_BYTE, offset + VERSION_OFFSET, VERSION);
        buffer.set(ValueLayout.JAVA_BYTE, offset + TYPE_OFFSET, (byte) type);
        buffer.set(U16, offset + FLAGS_OFFSET, (short) 0);
        buffer.set(U32, offset + LENGTH_OFFSET, length);
        buffer.set(U32, offset + SEQUENCE_OFFSET, sequence);
    }

    public static String typeName(int type) {
        return switch (type) {
            case TYPE_BYTES -> "bytes";
            case TYPE_TEXT -> "text";
            case TYPE_PIXELS -> "pixels";
            case TYPE_JAVA_SERIAL -> "java-serial";
            case TYPE_FORY -> "fory";
            case TYPE_END_OF_INPUT -> "end-of-input";
            case TYPE_HELLO -> "hello";
            default -> type >= FIRST_APPLICATION_TYPE && type <= 255 ? "application-" + type : "unknown-" + type;
        };
    }
}
