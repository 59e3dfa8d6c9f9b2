package dev.panpipe.connection;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

import static dev.panpipe.connection.FrameDescriptor.U16;
import static dev.panpipe.connection.FrameDescriptor.U32;

/** The one check of a frame header, in wire order, shared by every reader of frames. */
final class HeaderCheck {
    private HeaderCheck() {
    }

    /**
     * Checks the header at {@code offset} of {@code buf}, the {@code frame}-th (from 0) of its stream, and
     * returns its type.
     *
     * @throws ProtocolException naming the first field that is wrong and its value
     */
    static int validate(MemorySegment buf, long offset, long frame, int maxMessageSize) throws ProtocolException {
        int magic = buf.get(U32, offset + FrameDescriptor.MAGIC_OFFSET);
        if (magic != FrameDescriptor.MAGIC) {
            throw new ProtocolException("magic", magic & 0xffffffffL, String.format(
                    "frame %d: bad magic 0x%08x (expected 0x%08x)", frame, magic, FrameDescriptor.MAGIC));
        }
        int version = buf.get(ValueLayout.JAVA_BYTE, offset + FrameDescriptor.VERSION_OFFSET) & 0xff;
        if (version != FrameDescriptor.VERSION) {
            throw new ProtocolException("version", version, "frame " + frame + ": unsupported version " + version
                    + " (this panpipe speaks " + FrameDescriptor.VERSION + ")");
        }
        int type = buf.get(ValueLayout.JAVA_BYTE, offset + FrameDescriptor.TYPE_OFFSET) & 0xff;
        if (!FrameDescriptor.isKnownType(type)) {
            throw new ProtocolException("type", type, "frame " + frame + ": unknown type " + type);
        }
        int flags = buf.get(U16, offset + FrameDescriptor.FLAGS_OFFSET) & 0xffff;
        if (flags != 0) {
            throw new ProtocolException("flags", flags, "frame " + frame + ": flags 0x" + Integer.toHexString(flags) + " (must be 0)");
        }
        long length = buf.get(U32, offset + FrameDescriptor.LENGTH_OFFSET) & 0xffffffffL;
        if (length > maxMessageSize) {
            throw new ProtocolException("length", length, "frame " + frame + ": length " + length
                    + " exceeds the maximum message size of " + maxMessageSize + " bytes");
        }
        long sequence = buf.get(U32, offset + FrameDescriptor.SEQUENCE_OFFSET) & 0xffffffffL;
        long expected = frame & 0xffffffffL;
        if (sequence != expected) {
            throw new ProtocolException("sequence", sequence, "frame " + frame + ": sequence " + sequence
                    + " (expected " + expected + "): a frame was lost, repeated or injected");
        }
        return type;
    }
}
