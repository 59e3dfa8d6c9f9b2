package dev.panpipe.connection;

import dev.panpipe.io.ReadEnd;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Reassembles frames from a byte stream that arrives in pieces of any size: what an event loop needs when
 * it reads a non-blocking fd whenever it is ready, instead of a thread blocking until a frame is whole.
 *
 * {@snippet :
 * // on the event-loop thread, when the fd is readable:
 * if (assembler.readFrom(end) == FrameAssembler.END_OF_STREAM) { ... }   // a partial frame then is an error
 * for (Message m; (m = assembler.next()) != null; ) deliver(m);          // m is valid until the next call
 * }
 *
 * <p>Memory: one native buffer, holding at most one incomplete frame plus what one read brought. It grows
 * only as a frame's bytes actually arrive (never to a length a header merely claims), and the header is
 * checked before its payload is awaited, so a forged length is refused at once. Consumed frames are
 * dropped by moving what is left to the front, which copies only the bytes of the incomplete frame.
 * Not thread-safe: one thread at a time (the loop) uses it; it may be created on another.
 */
public final class FrameAssembler implements AutoCloseable {
    /** Returned by {@link #readFrom} when the writer has closed. */
    public static final long END_OF_STREAM = -1;
    private static final long INITIAL = 64 * 1024;

    private final ConnectionOptions options;
    private final Message message = new Message();
    private Arena arena;
    private MemorySegment buffer;
    private long start;            // first byte not yet handed out
    private long end;              // one past the last byte read
    private long frames;           // frames handed out so far (the next expected sequence)
    private ProtocolException broken;

    public FrameAssembler(ConnectionOptions options) {
        this.options = options;
        this.arena = Arena.ofShared();      // made by the registering thread, used by the loop thread
        this.buffer = arena.allocate(INITIAL, 64);
    }

    /**
     * Reads what {@code in} has now into the buffer. {@code in} should be non-blocking: a blocking end
     * waits here for at least one byte.
     *
     * @return bytes read (0: nothing ready, or the buffer is full of frames {@link #next} has not taken
     *         yet), or {@link #END_OF_STREAM}
     */
    public long readFrom(ReadEnd in) throws IOException {
        if (broken != null) throw broken;
        if (!makeRoom()) return 0;
        long n = in.read(buffer.asSlice(end, buffer.byteSize() - end));
        if (n == ReadEnd.EOF) return END_OF_STREAM;
        end += n;
        return n;
    }

    /**
     * The next complete frame, or null until more bytes arrive. The message and its payload are valid
     * until the next call to any method of this assembler.
     *
     * @throws ProtocolException if the stream breaks the protocol (then every later call throws it too)
     */
    public Message next() throws ProtocolException {
        if (broken != null) throw broken;
        long available = end - start;
        if (available < FrameDescriptor.HEADER_LENGTH) return null;
        int type;
        try {
            type = HeaderCheck.validate(buffer, start, frames, options.maxMessageSize());
        } catch (ProtocolException e) {
            broken = e;
            throw e;
        }
        long length = buffer.get(FrameDescriptor.U32, start + FrameDescriptor.LENGTH_OFFSET) & 0xffffffffL;
        if (available < FrameDescriptor.HEADER_LENGTH + length) return null;
        int sequence = buffer.get(FrameDescriptor.U32, start + FrameDescriptor.SEQUENCE_OFFSET);
        long at = start + FrameDescriptor.HEADER_LENGTH;
        start += FrameDescriptor.HEADER_LENGTH + length;
        frames++;
        return message.wrap(type, sequence, buffer, at, length);
    }

    /** True if bytes of an unfinished frame are waiting: at end of stream that is a truncated frame. */
    public boolean hasPartialFrame() {
        return end > start;
    }

    /**
     * The error for a stream that ended inside a frame, naming what was missing; marks the assembler
     * broken. Call at {@link #END_OF_STREAM} when {@link #hasPartialFrame()}.
     */
    public ProtocolException truncated() {
        long have = end - start;
        broken = have < FrameDescriptor.HEADER_LENGTH
                ? new ProtocolException("header", have, "frame " + frames + ": truncated header: " + have + " of "
                        + FrameDescriptor.HEADER_LENGTH + " bytes before end of stream")
                : new ProtocolException("length", have - FrameDescriptor.HEADER_LENGTH, "frame " + frames + ": truncated payload: "
                        + (have - FrameDescriptor.HEADER_LENGTH) + " of "
                        + (buffer.get(FrameDescriptor.U32, start + FrameDescriptor.LENGTH_OFFSET) & 0xffffffffL)
                        + " bytes before end of stream");
        return broken;
    }

    /** Frames handed out so far. */
    public long frames() {
        return frames;
    }

    /**
     * Drops consumed bytes and, if an unfinished frame fills the buffer, grows it (doubling, capped at that
     * one whole frame). False if the buffer is full and must not grow: what fills it is a whole frame, or
     * a header claiming more than the maximum, that {@link #next} has not taken (or refused) yet. Growing then, as this once
     * did by a byte a read, let a caller that reads twice before it takes frames grow the buffer past the
     * largest frame, one byte and one copy of the whole buffer per read (a property test found it).
     */
    private boolean makeRoom() {
        if (start == end) {
            start = end = 0;
        } else if (start > 0 && (end == buffer.byteSize() || start >= buffer.byteSize() / 2)) {
            MemorySegment.copy(buffer, start, buffer, 0, end - start);
            end -= start;
            start = 0;
        }
        if (end < buffer.byteSize()) return true;
        // full, from start = 0: the buffer is larger than a header, so a whole header is in
        long length = buffer.get(FrameDescriptor.U32, start + FrameDescriptor.LENGTH_OFFSET) & 0xffffffffL;
        if (length > options.maxMessageSize()) return false;          // next() refuses it: nothing to wait for
        long frame = FrameDescriptor.HEADER_LENGTH + length;
        if (end - start >= frame) return false;
        long size = Math.min(frame, buffer.byteSize() * 2);
        Arena grown = Arena.ofShared();
        MemorySegment bigger = grown.allocate(size, 64);
        MemorySegment.copy(buffer, 0, bigger, 0, end);
        arena.close();
        arena = grown;
        buffer = bigger;
        return true;
    }

    @Override
    public void close() {
        if (arena != null) {
            arena.close();
            arena = null;
            buffer = MemorySegment.NULL;
        }
    }
}
