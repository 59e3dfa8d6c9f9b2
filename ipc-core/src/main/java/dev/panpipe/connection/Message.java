package dev.panpipe.connection;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * A received frame: a flyweight over the connection's receive buffer, reused for every message (Aeron's
 * style), so receiving allocates nothing. Valid until the next {@code receive} on the same connection;
 * copy the payload ({@link #toByteArray()}) or decode it to keep it.
 */
public final class Message {
    private int type;
    private int sequence;
    private MemorySegment payload = MemorySegment.NULL;
    private MemorySegment buffer = MemorySegment.NULL;   // what payload is a slice of, and where
    private long offset = -1;

    /**
     * Points this message at {@code buffer[offset, offset + length)}. The slice is kept and reused while the
     * buffer, offset and length stay the same: a slice stored here escapes, so making one per message cost
     * every receive a 40-byte object, where a stream of messages of one size now allocates nothing.
     */
    Message wrap(int type, int sequence, MemorySegment buffer, long offset, long length) {
        if (buffer != this.buffer || offset != this.offset || length != payload.byteSize()) {
            this.payload = buffer.asSlice(offset, length);
            this.buffer = buffer;
            this.offset = offset;
        }
        this.type = type;
        this.sequence = sequence;
        return this;
    }

    /** The frame type ({@link FrameDescriptor#TYPE_BYTES}, ...). */
    public int type() {
        return type;
    }

    /** The sender's sequence number of this frame. */
    public int sequence() {
        return sequence;
    }

    /** The payload, in place in the receive buffer. */
    public MemorySegment payload() {
        return payload;
    }

    public byte[] toByteArray() {
        return payload.toArray(ValueLayout.JAVA_BYTE);
    }

    /** Decodes the payload, after checking the frame type is the codec's. */
    public <T> T decode(Codec<T> codec) throws ProtocolException {
        if (type != codec.type()) {
            throw new ProtocolException("type", type, "frame " + Integer.toUnsignedString(sequence) + ": type " + type + " ("
                    + FrameDescriptor.typeName(type) + "), expected " + codec.type() + " (" + FrameDescriptor.typeName(codec.type()) + ")");
        }
        return codec.decode(payload);
    }

    @Override
    public String toString() {
        return "Message[" + FrameDescriptor.typeName(type) + ", seq=" + Integer.toUnsignedString(sequence) + ", " + payload.byteSize() + " bytes]";
    }
}
