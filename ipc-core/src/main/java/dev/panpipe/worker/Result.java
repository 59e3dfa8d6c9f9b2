package dev.panpipe.worker;

import dev.panpipe.connection.Codec;
import dev.panpipe.connection.FrameDescriptor;
import dev.panpipe.connection.ProtocolException;

import java.lang.foreign.MemorySegment;

/**
 * One result from a worker, copied out of the stream so it can wait in the inbox.
 *
 * @param type     the frame type
 * @param sequence the worker's sequence number for it (0 is the hello, so results count from 1)
 * @param payload  the payload bytes
 */
public record Result(int type, int sequence, byte[] payload) {
    /** Decodes the payload, after checking the frame type is the codec's. */
    public <T> T decode(Codec<T> codec) throws ProtocolException {
        if (type != codec.type()) {
            throw new ProtocolException("type", type, "result " + Integer.toUnsignedString(sequence) + ": type " + type + " ("
                    + FrameDescriptor.typeName(type) + "), expected " + codec.type() + " (" + FrameDescriptor.typeName(codec.type()) + ")");
        }
        return codec.decode(MemorySegment.ofArray(payload));
    }
}
