package dev.panpipe.connection;

import java.lang.foreign.MemorySegment;

/**
 * Turns values into frame payloads and back. A codec owns one frame type; a receiver refuses a frame of
 * another type with a {@link ProtocolException} naming both.
 *
 * @param <T> the type of value
 */
public interface Codec<T> {
    /** The frame type this codec writes and accepts (see {@link FrameDescriptor}). */
    int type();

    /** Writes {@code value}'s payload into {@code out}. */
    void encode(T value, PayloadWriter out) throws java.io.IOException;

    /**
     * Reads a value from {@code payload}, which is valid only during this call (it is the connection's
     * receive buffer): copy what must outlive it.
     */
    T decode(MemorySegment payload) throws ProtocolException;
}
