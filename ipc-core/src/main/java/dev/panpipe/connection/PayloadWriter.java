package dev.panpipe.connection;

import java.lang.foreign.MemorySegment;

/**
 * Where a {@link Codec} writes a payload: the connection's send buffer, directly after the frame header,
 * so an encoded message goes to the kernel in one write.
 */
public interface PayloadWriter {
    /**
     * Reserves the next {@code length} bytes of the payload and returns them to be filled in place.
     *
     * @throws ProtocolException if the payload would exceed the connection's maximum message size
     */
    MemorySegment claim(long length) throws ProtocolException;

    /** Appends bytes. */
    default void put(byte[] bytes, int offset, int length) throws ProtocolException {
        MemorySegment.copy(bytes, offset, claim(length), java.lang.foreign.ValueLayout.JAVA_BYTE, 0, length);
    }

    /** Appends a segment's bytes. */
    default void put(MemorySegment bytes) throws ProtocolException {
        claim(bytes.byteSize()).copyFrom(bytes);
    }

    /** Payload bytes written so far. */
    long written();
}
